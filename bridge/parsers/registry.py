"""The one ordered list of parsers, and the one failure policy.

The parsers are bridge/vendors.py's portals, in its order, then the generic fallback, which claims every
page. A parser claims a page from its URL path and a markup fingerprint, never its host: portals are
white-labelled under thousands of hospital domains.

When the parser that claimed a page cannot read it, for whatever reason, the generic parser reads it
instead (a page is never lost) and the parse says why: `ParserInfo.fallback` (which parser, which
exception, and whether the markup changed or the page just shows nothing it reads) and a warning.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from importlib import import_module
from types import ModuleType

from pydantic import ValidationError

from bridge.records import ParseResult
from bridge.vendors import GENERIC, PORTALS

from .base import FailureCategory, ParseError
from .page import Page

#: What a parser module must have (see base.py).
PARSER_API = ("NAME", "VERSION", "can_parse", "parse")


def load_parser(vendor: str) -> ModuleType:
    """The parser of `vendor`: the package (or module) of that name beside this one, checked now, so a
    portal listed without a working parser stops the bridge from starting rather than falling back."""
    module = import_module(f"{__package__}.{vendor}")
    missing = [name for name in PARSER_API if not hasattr(module, name)]
    if missing:
        raise ImportError(f"the {vendor} parser has no {', '.join(missing)}")
    if vendor != module.NAME:
        raise ImportError(f"the {vendor} parser is named {module.NAME!r}")
    return module


# Order matters: the first module whose can_parse() says yes parses the page. Generic is last.
PARSERS: tuple[ModuleType, ...] = tuple(load_parser(p.vendor) for p in (*PORTALS, GENERIC))
generic = PARSERS[-1]


@dataclass(frozen=True)
class Fallback:
    """Why the generic parser read a page: the parser that claimed it (or crashed deciding whether to)
    gave up. Never holds page content: `detail` is the parser's own message (a `ParseError`) or the
    places in the record contract a value broke (a `ValidationError`), else None."""

    parser: str
    parser_version: str
    exception: str
    category: FailureCategory
    detail: str | None = None

    def as_meta(self) -> dict[str, str | None]:
        return asdict(self)

    def describe(self) -> str:
        """One line for a report: "the nextgen parser (version 1) gave up: ParseError (the markup changed)"."""
        why = "the markup changed" if self.category == "markup_changed" else "nothing it reads is shown"
        return f"the {self.parser} parser (version {self.parser_version}) gave up: {self.exception} ({why})"


@dataclass(frozen=True)
class ParserInfo:
    name: str
    version: str
    #: Set when `name` is the generic parser standing in for the one that claimed the page.
    fallback: Fallback | None = None


def parse_page(page: Page, parsers: Sequence[ModuleType] | None = None) -> tuple[ParserInfo, ParseResult]:
    """Parse with the first parser that claims the page; if it cannot, with the generic parser, saying why.

    Every exception a vendor parser raises, deciding whether to claim the page or reading it, is such a
    fallback, except `MemoryError`, which is the parse budget's to handle. The generic parser failing
    is not caught here: the caller keeps the page (bridge.parsers.budget)."""
    for module in parsers or PARSERS:
        try:
            if module.can_parse(page):
                return ParserInfo(module.NAME, module.VERSION), module.parse(page)
        except MemoryError:
            raise
        except Exception as exc:
            if module is generic:
                raise
            return _fall_back(page, module, exc)
    raise AssertionError("the generic parser claims every page")  # pragma: no cover


def _fall_back(page: Page, failed: ModuleType, exc: Exception) -> tuple[ParserInfo, ParseResult]:
    fallback = Fallback(
        parser=failed.NAME,
        parser_version=failed.VERSION,
        exception=type(exc).__name__,
        category=exc.category if isinstance(exc, ParseError) else "markup_changed",
        detail=_detail(exc),
    )
    result: ParseResult = generic.parse(page)
    if fallback.category == "not_shown":
        because = f" ({fallback.detail})" if fallback.detail else ""
        warning = f"the {failed.NAME} parser found nothing it reads on this page{because}"
    elif isinstance(exc, ValidationError):
        warning = f"the {failed.NAME} parser could not read this page (ValidationError: {fallback.detail})"
    else:
        warning = f"the {failed.NAME} parser could not read this page ({type(exc).__name__}: {exc})"
    result.warnings.insert(0, warning)
    return ParserInfo(generic.NAME, generic.VERSION, fallback), result


def _detail(exc: Exception) -> str | None:
    if isinstance(exc, ParseError):
        return str(exc) or None
    if isinstance(exc, ValidationError):
        # Where the value broke the contract and how, never the value (it is the page's text).
        errors = exc.errors(include_url=False, include_context=False, include_input=False)
        places = [
            f"{'.'.join(str(p) for p in e['loc']) or e.get('type', '')}: {e['msg']}" for e in errors[:3]
        ]
        more = f"; and {len(errors) - 3} more" if len(errors) > 3 else ""
        return "; ".join(places) + more
    return None


def parse_html(html: str, url: str, title: str | None = None) -> tuple[ParserInfo, ParseResult]:
    return parse_page(Page.from_html(html, url, title))
