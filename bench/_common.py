"""Shared bits of the benchmarks: where the fixture pages are, and one way to print a figure."""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures" / "portal_pages"
sys.path.insert(0, str(REPO))


def fixture_pages() -> list[tuple[str, str]]:
    """(url, html) of every fixture page that has an expected parse."""
    pages = []
    for html in sorted(FIXTURES.glob("*/*.html")):
        spec = html.with_name(html.stem + ".expected.json")
        if spec.exists():
            pages.append(
                (json.loads(spec.read_text())["url"], html.read_text(encoding="utf-8", errors="replace"))
            )
    return pages


def figure(name: str, value: float, unit: str, target: str = "") -> None:
    """`name: value unit (target ...)`, the one format every benchmark prints."""
    if isinstance(value, int) or (float(value).is_integer() and abs(value) >= 10):
        shown = f"{int(value):,}"
    else:
        shown = f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    print(f"{name}: {shown} {unit}" + (f" (target {target})" if target else ""), flush=True)
