"""The one ordered list of parsers: vendor parsers first, the generic fallback last.

A parser claims a page from its URL path and a markup fingerprint, never its host: portals are
white-labelled under thousands of hospital domains.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

from bridge.records import ParseResult

from . import athenahealth, epic_mychart, generic, nextgen, oracle_health
from .base import ParseError
from .page import Page

# Order matters: the first module whose can_parse() says yes parses the page. Generic is last and
# claims everything.
PARSERS: tuple[ModuleType, ...] = (epic_mychart, oracle_health, athenahealth, nextgen, generic)


@dataclass(frozen=True)
class ParserInfo:
    name: str
    version: str


def choose(page: Page) -> ModuleType:
    for module in PARSERS:
        if module.can_parse(page):
            return module
    raise AssertionError("the generic parser claims every page")  # pragma: no cover


def parse_page(page: Page) -> tuple[ParserInfo, ParseResult]:
    """Parse with the parser that claims the page; if it fails, fall back to the generic parser
    and keep the failure as a warning, so a page is never lost."""
    module = choose(page)
    info = ParserInfo(module.NAME, module.VERSION)
    try:
        result: ParseResult = module.parse(page)
    except (ParseError, ValueError, AttributeError, TypeError, IndexError, KeyError, RecursionError) as exc:
        result = generic.parse(page)
        result.warnings.insert(
            0, f"the {module.NAME} parser could not read this page ({type(exc).__name__}: {exc})"
        )
        info = ParserInfo(generic.NAME, generic.VERSION)
    return info, result


def parse_html(html: str, url: str, title: str | None = None) -> tuple[ParserInfo, ParseResult]:
    return parse_page(Page.from_html(html, url, title))
