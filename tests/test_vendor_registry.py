"""One source of truth for vendors: bridge/vendors.py. The record models' `vendor` values, the receipt's
portal names, the parser registry and the golden tests' vendor list are all derived from it, so they
cannot drift; and `scripts/new_portal.py` starts a portal that each of them picks up (shown on a copy of
the repository, so this test writes nothing into it)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import get_args

import pytest
from conftest import FIXTURES, REPO
from golden import fixtures
from pydantic import ValidationError

from bridge.parsers.registry import PARSERS, load_parser
from bridge.receipt import VENDOR_NAMES, Receipt
from bridge.records import ParseResult
from bridge.vendors import GENERIC, VENDORS, Portal, check


def test_the_record_models_accept_exactly_the_listed_vendors() -> None:
    assert get_args(ParseResult.model_fields["vendor"].annotation) == VENDORS
    for vendor in VENDORS:
        assert ParseResult(vendor=vendor, page_kind="unknown").vendor == vendor
    with pytest.raises(ValidationError):
        ParseResult(vendor="acme_health", page_kind="unknown")


def test_the_receipt_names_every_listed_vendor() -> None:
    assert list(VENDOR_NAMES) == list(VENDORS)
    assert VENDOR_NAMES["epic_mychart"] == "MyChart"
    receipt = Receipt(capture_id="c", hash="c", duplicate=False, vendor="nextgen", counts={"bill": 1})
    assert receipt.describe() == "Saved 1 bill (NextGen)"


def test_the_registry_asks_the_listed_portals_in_order_then_generic() -> None:
    assert tuple(m.NAME for m in PARSERS) == VENDORS
    assert GENERIC.vendor == PARSERS[-1].NAME


def test_every_listed_portal_has_fixtures_and_every_fixture_folder_is_listed() -> None:
    folders = {fx.vendor_dir for fx in fixtures()}
    assert folders == set(VENDORS)


def test_the_contract_document_lists_every_vendor() -> None:
    contract = (REPO / "docs" / "record-contract.md").read_text(encoding="utf-8")
    row = next(line for line in contract.splitlines() if line.startswith("| `vendor` |"))
    assert set(re.findall(r"`([a-z_]+)`", row)) - {"vendor"} == set(VENDORS)


@pytest.mark.parametrize(
    "portals",
    [
        (Portal("epic_mychart", "MyChart"), Portal("epic_mychart", "MyChart again")),
        (Portal("generic", "A second generic"),),
        (Portal("Acme-Health", "Acme"),),
        (Portal("class", "Acme"),),
        (Portal("acme_health", " "),),
    ],
)
def test_a_list_the_rest_could_not_derive_from_is_refused(portals: tuple[Portal, ...]) -> None:
    with pytest.raises(ValueError):
        check(portals)


def test_a_listed_portal_without_a_working_parser_is_refused() -> None:
    with pytest.raises(ModuleNotFoundError):
        load_parser("acme_health")
    with pytest.raises(ImportError, match="has no NAME"):
        load_parser("text")  # a helper module, not a parser


# --------------------------------------------------------------------------- the scaffold, on a copy

PORTAL, DISPLAY = "acme_health", "Acme Health"


def _copy_of_the_repository(root: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO / "bridge", root / "bridge", ignore=ignore)
    shutil.copytree(FIXTURES, root / "fixtures" / "portal_pages", ignore=ignore)
    (root / "tests").mkdir()
    for name in ("conftest.py", "golden.py", "test_golden.py"):
        shutil.copy2(REPO / "tests" / name, root / "tests" / name)
    (root / "scripts").mkdir()
    shutil.copy2(REPO / "scripts" / "new_portal.py", root / "scripts" / "new_portal.py")
    shutil.copy2(REPO / "pyproject.toml", root / "pyproject.toml")
    return root


def _python(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [sys.executable, *args], cwd=root, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def _golden(root: Path, *args: str) -> dict[str, str]:
    """The golden tests' outcome in the copy: test id -> passed/failed."""
    run = _python(root, "-m", "pytest", "tests/test_golden.py", "-p", "no:cacheprovider", "-rA", "-q", *args)
    outcomes = {
        test: outcome.lower()
        for outcome, test in re.findall(
            r"^(PASSED|FAILED|ERROR) tests/test_golden.py::(\S+)", run.stdout, re.M
        )
    }
    assert outcomes, run.stdout + run.stderr
    return outcomes


@pytest.fixture(scope="module")
def scaffolded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = _copy_of_the_repository(tmp_path_factory.mktemp("repo"))
    made = _python(root, str(REPO / "scripts" / "new_portal.py"), PORTAL, DISPLAY, "--root", str(root))
    assert made.returncode == 0, made.stderr
    return root


def test_the_scaffold_makes_the_package_the_registry_line_and_the_fixtures(scaffolded: Path) -> None:
    assert (scaffolded / "bridge" / "parsers" / PORTAL / "__init__.py").is_file()
    assert 'Portal("acme_health", "Acme Health"),' in (scaffolded / "bridge" / "vendors.py").read_text()
    spec = json.loads((scaffolded / "fixtures/portal_pages" / PORTAL / "example.expected.json").read_text())
    assert spec["expected"] is None
    assert (scaffolded / "fixtures/portal_pages" / PORTAL / "example.html").is_file()
    # and nothing was written into this repository
    assert not (REPO / "bridge" / "parsers" / PORTAL).exists()
    assert not (FIXTURES / PORTAL).exists()
    assert f'"{PORTAL}"' not in (REPO / "bridge" / "vendors.py").read_text()


def test_a_scaffolded_portal_is_a_vendor_everywhere(scaffolded: Path) -> None:
    probe = textwrap.dedent(
        """
        import json, typing, bridge
        from bridge.parsers.registry import PARSERS
        from bridge.receipt import VENDOR_NAMES
        from bridge.records import ParseResult
        print(json.dumps({
            "package": bridge.__file__,
            "vendors": typing.get_args(ParseResult.model_fields["vendor"].annotation),
            "parsers": [m.NAME for m in PARSERS],
            "display": VENDOR_NAMES.get("acme_health"),
            "valid": ParseResult(vendor="acme_health", page_kind="unknown").vendor,
        }))
        """
    )
    run = _python(scaffolded, "-c", probe)
    assert run.returncode == 0, run.stderr
    seen = json.loads(run.stdout)
    assert Path(seen["package"]).is_relative_to(scaffolded)  # the copy's bridge, not this one
    assert seen["vendors"] == [*VENDORS[:-1], PORTAL, "generic"]
    assert seen["parsers"] == seen["vendors"]  # asked after the other portals, before generic
    assert seen["display"] == DISPLAY
    assert seen["valid"] == PORTAL


def test_the_golden_tests_hold_a_scaffolded_portal_to_its_fixtures(scaffolded: Path) -> None:
    before = _golden(scaffolded, "-k", f"{PORTAL} or per_vendor or listed_vendor")
    # Picked up, and failing until its expected parse is written and it has its dozen pages:
    assert before[f"test_parse_matches_golden[{PORTAL}/example]"] == "failed"
    assert before[f"test_expected_file_validates_against_models[{PORTAL}/example]"] == "failed"
    assert before["test_there_are_enough_fixtures_per_vendor"] == "failed"
    assert before["test_every_fixture_folder_is_a_listed_vendor"] == "passed"

    # Once its parser claims the page, --update-golden writes the expected parse, with its vendor.
    package = scaffolded / "bridge" / "parsers" / PORTAL / "__init__.py"
    package.write_text(
        package.read_text().replace("    return False\n", '    return "/acme_health/" in page.path\n')
    )
    _golden(scaffolded, "-k", PORTAL, "--update-golden")
    spec = json.loads((scaffolded / "fixtures/portal_pages" / PORTAL / "example.expected.json").read_text())
    assert spec["expected"]["vendor"] == PORTAL
    after = _golden(scaffolded, "-k", PORTAL)
    assert set(after.values()) == {"passed"}, after


def test_the_scaffold_refuses_a_taken_or_bad_name(tmp_path: Path) -> None:
    root = _copy_of_the_repository(tmp_path)
    for vendor in ("nextgen", "text", "Acme-Health", "generic"):
        run = _python(root, str(REPO / "scripts" / "new_portal.py"), vendor, "X", "--root", str(root))
        assert run.returncode == 2, (vendor, run.stdout)
    assert (root / "bridge" / "vendors.py").read_text() == (REPO / "bridge" / "vendors.py").read_text()
