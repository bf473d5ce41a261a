"""Every page that was not read as its portal's page says why, wherever the caregiver (or a script)
looks: the receipt, `kinchart import`, `kinchart reparse` and the dashboard's captures inbox. Before,
the registry fell back to the generic parser silently and only a crash counted as a failure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conftest import FIXTURES
from test_cli import env as env  # the CLI's fixture: a vault folder and a passphrase file
from test_cli import run
from test_parse_failures import _result_page_without_its_name

from bridge.family import Family
from bridge.ingest import ingest, reparse_all
from bridge.server.pages_captures import _inbox
from bridge.vault import KdfParams, Vault

PASSPHRASE = "synthetic fallback passphrase"


def _changed_result_page() -> tuple[str, str]:
    """(url, html) of MyChart's classic result page with its heading gone (test_parse_failures')."""
    capture = _result_page_without_its_name()
    return capture["url"], capture["frames"][0]["html"]


def _capture(url: str, html: str) -> dict[str, Any]:
    return {"url": url, "title": "Results", "frames": [{"url": url, "html": html}], "extension_version": "t"}


def test_the_receipt_and_reparse_say_the_markup_changed(tmp_path: Path) -> None:
    url, html = _changed_result_page()
    with Vault.create(tmp_path / "v", PASSPHRASE, KdfParams.fast()) as vault:
        receipt = ingest(vault, _capture(url, html), Family(vault))
        assert receipt.fallback is not None
        assert receipt.fallback["parser"] == "epic_mychart"
        assert receipt.fallback["category"] == "markup_changed"
        assert receipt.error is None
        assert reparse_all(vault)["failed"] == 1


def test_kinchart_import_lists_the_page_it_could_not_read(tmp_path: Path, env: dict[str, str]) -> None:
    url, html = _changed_result_page()
    broken = tmp_path / "broken.html"
    broken.write_text(html, encoding="utf-8")
    fine = FIXTURES / "epic_mychart" / "test_result_cbc_classic.html"
    run(["init"], env)
    imported = run(["import", str(broken), "--url", url], env)
    assert "1 page(s) were kept as documents because they could not be read" in imported.stderr
    assert "broken.html" in imported.stderr and "epic_mychart parser" in imported.stderr
    clean = run(["import", str(fine), "--url", url], env)
    assert "could not be read" not in clean.stderr


def test_the_captures_inbox_names_the_page_not_read(tmp_path: Path) -> None:
    url, html = _changed_result_page()
    with Vault.create(tmp_path / "v", PASSPHRASE, KdfParams.fast()) as vault:
        family = Family(vault)
        ingest(vault, _capture(url, html), family)

        class _View:  # what _inbox reads of a dashboard view
            csrf = "x"

        view: Any = _View()
        view.vault, view.family = vault, family
        page = _inbox(view).text or ""
    assert "not read as a MyChart page (its layout changed)" in page
