"""The portal reference set, as listed in fixtures/portal_pages/reference-pages.txt: each page's path
without its suffix (`.html` is the page, `.expected.json` its expected parse).

A module of its own, not a conftest name: under pytest-xdist `from conftest import ...` can resolve to
tests/browser/conftest.py, which does not carry it."""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "portal_pages"
REFERENCE_PAGES = sorted(
    FIXTURES / line
    for line in (FIXTURES / "reference-pages.txt").read_text(encoding="utf-8").splitlines()
    if line.strip() and not line.startswith("#")
)
