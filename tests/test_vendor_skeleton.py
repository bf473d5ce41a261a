"""The vendor skeleton's shared pieces (bridge/parsers/skeleton.py, text.py, values.py), through the
parsers that use them.

The one text walker is iterative: a portal page nested deeper than Python's recursion limit is still
read by its own portal's parser (the athenahealth and NextGen walkers it replaced recursed, so such a
page fell back to the generic parser). The refill readers and the "whose record" warning are one each.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from bridge.parsers import parse_html
from bridge.parsers.skeleton import NO_PATIENT
from bridge.parsers.values import refill_count, refills_in

PAGES = Path(__file__).resolve().parent.parent / "fixtures" / "portal_pages"
DEPTH = sys.getrecursionlimit() + 500


def _page(vendor: str, name: str) -> tuple[str, str]:
    html = (PAGES / vendor / f"{name}.html").read_text(encoding="utf-8")
    url = json.loads((PAGES / vendor / f"{name}.expected.json").read_text(encoding="utf-8"))["url"]
    return html, url


def _nested(text: str) -> str:
    return "<div>" * DEPTH + f"<p>{text}</p>" + "</div>" * DEPTH


def test_a_deeply_nested_athenahealth_message_is_read_by_its_own_parser() -> None:
    html, url = _page("athenahealth", "message_thread_refill")
    marker = 'data-testid="message-body">'
    assert marker in html
    html = html.replace(marker, marker + _nested("Synthetic deep paragraph."), 1)
    info, result = parse_html(html, url)
    assert info.fallback is None and info.name == "athenahealth"
    bodies = [r.model_dump().get("body") or "" for r in result.records]
    assert any("Synthetic deep paragraph." in body for body in bodies)


def test_a_deeply_nested_nextgen_page_keeps_its_text() -> None:
    html, url = _page("nextgen", "dashboard_var_unknown_page")
    html = html.replace("</main>", _nested("Synthetic deep dashboard line.") + "</main>", 1)
    info, result = parse_html(html, url)
    assert info.fallback is None and info.name == "nextgen"
    assert result.page_kind == "unknown"
    texts = [r.model_dump().get("text") or "" for r in result.records]
    assert any("Synthetic deep dashboard line." in text for text in texts)


@pytest.mark.parametrize(
    ("cell", "count"),
    [("3", 3), ("2 remaining", 2), ("None", 0), ("No", 0), ("no refills", 0), ("No refill", 0), ("", None)],
)
def test_one_refill_cell_reader(cell: str, count: int | None) -> None:
    assert refill_count(cell) == count


@pytest.mark.parametrize(
    ("phrase", "at_start", "count"),
    [
        ("3 refills remaining", True, 3),
        ("1 refill remaining", True, 1),
        ("No refills remaining", True, 0),
        ("Take daily. 2 refills left", False, 2),
        ("Take daily. 2 refills left", True, None),
        ("Refills: no refills", False, 0),
    ],
)
def test_one_refill_phrase_reader(phrase: str, at_start: bool, count: int | None) -> None:
    assert refills_in(phrase, at_start=at_start) == count


@pytest.mark.parametrize(
    ("vendor", "name"),
    [
        ("nextgen", "dashboard_var_unknown_page"),
        ("athenahealth", "message_thread_refill"),
    ],
)
def test_every_portal_says_whose_record_is_missing_in_one_wording(vendor: str, name: str) -> None:
    html, url = _page(vendor, name)
    # Strip what names the patient: the page no longer says whose record it is.
    for hook in (
        "pxp-patient-card__name",
        "pxp-patient-selector__name",
        "pxp-patient-selector__trigger",
        "pxp-representative-banner",
        'data-testid="patient-context"',
        'data-testid="current-patient-name"',
        'data-testid="family-access-banner"',
    ):
        html = html.replace(hook, "x-removed")
    html = html.replace("Current patient:", "x-removed")
    info, result = parse_html(html, url)
    assert info.name == vendor
    assert result.patient is None
    assert NO_PATIENT in result.warnings
