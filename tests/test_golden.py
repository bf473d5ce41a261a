"""Golden parser tests: every fixture page parses to exactly its `.expected.json`.

`pytest tests/test_golden.py --update-golden` rewrites the expected files from today's parsers;
the diff of that rewrite is the review.
"""

from __future__ import annotations

import json

import pytest
from golden import Fixture, fixtures

from bridge.parsers import Page, parse_html, parse_page
from bridge.parsers.registry import PARSERS
from bridge.records import ParseResult
from bridge.vendors import PORTALS, VENDORS

#: Pages each portal's parser must be shown against, at least.
MIN_FIXTURES_PER_PORTAL = 12

FIXTURES = fixtures()


@pytest.mark.parametrize("fx", FIXTURES, ids=lambda f: f.id)
def test_parse_matches_golden(fx: Fixture, request: pytest.FixtureRequest) -> None:
    spec = fx.spec()
    info, result = parse_html(fx.html(), spec["url"])
    actual = result.to_contract()
    if request.config.getoption("--update-golden"):
        spec["expected"] = actual
        fx.expected_path.write_text(json.dumps(spec, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return
    if not spec.get("expected"):
        pytest.fail(
            f"{fx.expected_path.name} has no expected parse yet: write it with --update-golden, review"
        )
    assert info.fallback is None, info.fallback.describe()
    expected = ParseResult.model_validate(spec["expected"]).to_contract()
    # Warnings' wording is free (portal-reference README), so they are not compared.
    actual.pop("warnings")
    expected.pop("warnings")
    assert actual == expected


@pytest.mark.parametrize("fx", FIXTURES, ids=lambda f: f.id)
def test_expected_file_validates_against_models(fx: Fixture) -> None:
    spec = fx.spec()
    assert {"url", "expected"} <= set(spec)
    assert spec["expected"], f"{fx.expected_path.name} has no expected parse yet"
    ParseResult.model_validate(spec["expected"])


@pytest.mark.parametrize("fx", FIXTURES, ids=lambda f: f.id)
def test_each_fixture_claimed_by_exactly_one_vendor_parser(fx: Fixture) -> None:
    page = Page.from_html(fx.html(), fx.spec()["url"])
    claimed = [m.NAME for m in PARSERS if m.NAME != "generic" and m.can_parse(page)]
    expected_vendor = (fx.spec()["expected"] or {}).get("vendor", fx.vendor_dir)
    if expected_vendor == "generic":
        assert claimed == []
    else:
        assert claimed == [expected_vendor]


def test_there_are_enough_fixtures_per_vendor() -> None:
    per_vendor: dict[str, int] = {}
    for fx in FIXTURES:
        per_vendor[fx.vendor_dir] = per_vendor.get(fx.vendor_dir, 0) + 1
    for portal in PORTALS:  # bridge/vendors.py: a portal listed there without its pages fails here
        assert per_vendor.get(portal.vendor, 0) >= MIN_FIXTURES_PER_PORTAL, (portal.vendor, per_vendor)


def test_every_fixture_folder_is_a_listed_vendor() -> None:
    folders = {fx.vendor_dir for fx in FIXTURES}
    assert folders <= set(VENDORS), f"fixtures for portals not in bridge/vendors.py: {folders - set(VENDORS)}"


def test_unknown_page_is_never_lost() -> None:
    page = Page.from_html(
        "<html><body><nav>Menu</nav><p>Some letter about a visit.</p></body></html>",
        "https://portal.unknown.example/x",
    )
    info, result = parse_page(page)
    assert info.name == "generic"
    assert [r.kind for r in result.records] == ["document"]
    assert "Some letter" in (result.records[0].text or "")  # type: ignore[union-attr]
    assert "Menu" not in (result.records[0].text or "")  # type: ignore[union-attr]
