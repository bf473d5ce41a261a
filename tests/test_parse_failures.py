"""One failure policy: whenever the parser that claimed a page cannot read it, the generic parser reads it
and the parse says why (`ParserInfo.fallback`: which parser, which exception, and whether the markup
changed or the page just shows nothing that parser reads), so `kinchart import`/`reparse` and the
dashboard can report every page a portal's parser did not understand.

The buggy parsers here are stand-in modules run through the real registry; the real-page tests use a
fixture page whose markup lost what the MyChart parser needs."""

from __future__ import annotations

import json
import pickle
import re
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES

from bridge.parsers import Fallback, NotShown, Page, ParseError, ParserInfo, budget, parse_page, registry
from bridge.parsers.base import Draft
from bridge.records import ParseResult

generic = registry.generic
PAGE_HTML = (
    "<html><body><main><h1>Lab results</h1><p>Patient: Testa Synthetica</p>"
    "<p>Glucose 250 mg/dL</p></main></body></html>"
)
URL = "https://portal.example.org/results/1"


def stand_in(parse: Callable[[Page], ParseResult], can_parse: Callable[[Page], bool] | None = None) -> Any:
    """A parser module that claims every page (unless told otherwise) and parses it with `parse`."""
    module = types.ModuleType("buggy_portal")
    module.NAME = "buggy_portal"  # type: ignore[attr-defined]
    module.VERSION = "7"  # type: ignore[attr-defined]
    module.can_parse = can_parse or (lambda page: True)  # type: ignore[attr-defined]
    module.parse = parse  # type: ignore[attr-defined]
    return module


def raising(exc: BaseException) -> Callable[[Page], ParseResult]:
    def parse(page: Page) -> ParseResult:
        raise exc

    return parse


def run(parser: Any) -> tuple[ParserInfo, ParseResult]:
    return parse_page(Page.from_html(PAGE_HTML, URL), parsers=(parser, generic))


def test_an_out_of_contract_value_is_recorded_not_silently_demoted() -> None:
    def emits_unknown_page_kind(page: Page) -> ParseResult:
        return Draft(vendor="epic_mychart", page_kind="lab_panel").result()  # not a contract page_kind

    info, result = run(stand_in(emits_unknown_page_kind))

    assert (info.name, info.version) == (generic.NAME, generic.VERSION)
    assert info.fallback is not None
    assert info.fallback.parser == "buggy_portal"
    assert info.fallback.parser_version == "7"
    assert info.fallback.exception == "ValidationError"
    assert info.fallback.category == "markup_changed"
    assert info.fallback.detail and info.fallback.detail.startswith("page_kind: Input should be")
    assert "lab_panel" not in info.fallback.detail  # where the contract broke, never the value itself
    # The page is still kept: the generic parser read it, and the warning names the parser.
    assert result.vendor == "generic" and result.records
    assert "buggy_portal" in result.warnings[0]


def test_a_changed_markup_is_recorded_with_the_parsers_own_words() -> None:
    info, _ = run(stand_in(raising(ParseError("the result page has no result name"))))
    assert info.fallback == Fallback(
        "buggy_portal", "7", "ParseError", "markup_changed", "the result page has no result name"
    )


def test_a_page_that_shows_nothing_the_parser_reads_is_not_shown_not_an_error() -> None:
    info, result = run(stand_in(raising(NotShown("the result is not released yet"))))
    assert info.fallback == Fallback(
        "buggy_portal", "7", "NotShown", "not_shown", "the result is not released yet"
    )
    assert "found nothing it reads" in result.warnings[0]


@pytest.mark.parametrize(
    "exc",
    [ZeroDivisionError("division by zero"), LookupError("x"), RuntimeError("x"), UnicodeError("x")],
    ids=lambda e: type(e).__name__,
)
def test_any_exception_from_a_portal_parser_is_a_recorded_fallback(exc: Exception) -> None:
    """These escaped the registry before (only seven exception types were caught there)."""
    info, result = run(stand_in(raising(exc)))
    assert info.fallback == Fallback("buggy_portal", "7", type(exc).__name__, "markup_changed", None)
    assert result.records


def test_a_parser_crashing_while_claiming_is_recorded() -> None:
    def explodes(page: Page) -> bool:
        raise IndexError("list index out of range")

    info, result = run(stand_in(raising(AssertionError("never parsed")), can_parse=explodes))
    assert info.fallback == Fallback("buggy_portal", "7", "IndexError", "markup_changed", None)
    assert result.vendor == "generic"


def test_running_out_of_memory_is_left_to_the_parse_budget() -> None:
    with pytest.raises(MemoryError):
        run(stand_in(raising(MemoryError())))


def test_a_page_read_by_its_own_parser_has_no_fallback() -> None:
    page = FIXTURES / "epic_mychart" / "test_result_cbc_classic.html"
    info, result = parse_page(Page.from_html(page.read_text(encoding="utf-8"), _url_of(page)))
    assert info == ParserInfo("epic_mychart", info.version, None)
    assert result.vendor == "epic_mychart"


# --------------------------------------------------------------------------- a real page, a real parser


def _url_of(page: Path) -> str:
    spec = json.loads(page.with_name(page.stem + ".expected.json").read_text(encoding="utf-8"))
    return str(spec["url"])


def _result_page_without_its_name() -> dict[str, Any]:
    """MyChart's classic result page with its heading gone: the markup changed under the parser."""
    page = FIXTURES / "epic_mychart" / "test_result_cbc_classic.html"
    html = re.sub(r"<h1[^>]*>.*?</h1>", "", page.read_text(encoding="utf-8"), flags=re.S)
    return {"url": _url_of(page), "title": "Test results", "frames": [{"url": _url_of(page), "html": html}]}


EXPECTED = Fallback(
    "epic_mychart", "1", "ParseError", "markup_changed", "the result detail page has no result name"
)


def test_a_real_parser_giving_up_is_recorded_on_the_ingest_path() -> None:
    """The path ingest takes (`parse_within_budget`, in this thread for a page this small)."""
    info, result, error = budget.parse_within_budget(_result_page_without_its_name())
    assert info.fallback == EXPECTED
    assert error is None  # the registry handled it: ingest's last-resort catch was not needed
    assert result.vendor == "generic" and result.records


@pytest.fixture
def worker_budget() -> Iterator[budget.Budget]:
    chosen = budget.Budget(seconds=60, inline_chars=0, workers=1, idle_workers=0)
    budget.configure(chosen)
    yield chosen
    budget.configure(None)


def test_the_fallback_crosses_the_parser_process(worker_budget: budget.Budget) -> None:
    """A large page is parsed in a worker process; its reason arrives intact."""
    info, _, error = budget.parse_within_budget(_result_page_without_its_name(), worker_budget)
    assert info.fallback == EXPECTED
    assert error is None


def test_the_fallback_is_plain_data_for_the_capture_meta() -> None:
    info, _, _ = budget.parse_within_budget(_result_page_without_its_name())
    assert info.fallback is not None
    assert pickle.loads(pickle.dumps(info)) == info
    assert info.fallback.as_meta() == {
        "parser": "epic_mychart",
        "parser_version": "1",
        "exception": "ParseError",
        "category": "markup_changed",
        "detail": "the result detail page has no result name",
    }
    assert info.fallback.describe() == (
        "the epic_mychart parser (version 1) gave up: ParseError (the markup changed)"
    )
