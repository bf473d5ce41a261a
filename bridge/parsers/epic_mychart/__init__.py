"""Epic MyChart: the classic server-rendered pages (`classic.py`) and the newer React pages under
`/app/...` (`px.py`). One vendor name and version; each variant claims its own pages.

MyChart runs under thousands of hospital domains and several path prefixes (`/MyChart/`,
`/MyChartPRD/`, root-mounted), so claiming keys on path shape and markup, never on the host.
"""

from __future__ import annotations

from types import ModuleType

from bridge.records import ParseResult

from ..page import Page
from . import classic, px

NAME = "epic_mychart"
VERSION = "1"
VARIANTS: tuple[ModuleType, ...] = (px, classic)


def _variant(page: Page) -> ModuleType | None:
    if NAME in page.memo:  # claimed (or not) already: parse() does not ask every variant again
        known: ModuleType | None = page.memo[NAME]
        return known
    found = next((variant for variant in VARIANTS if variant.can_parse(page)), None)
    page.memo[NAME] = found
    return found


def can_parse(page: Page) -> bool:
    return _variant(page) is not None


def parse(page: Page) -> ParseResult:
    variant = _variant(page)
    assert variant is not None, "parse() is only called after can_parse()"
    result: ParseResult = variant.parse(page)
    return result
