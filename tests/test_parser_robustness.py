"""Property-based robustness: mutated portal pages never make a parser raise anything but its declared
error, and the registry always returns a result (the generic fallback still yields a record)."""

from __future__ import annotations

import contextlib
import re

import pytest
from golden import fixtures
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.parsers import Page, ParseError, parse_page
from bridge.parsers.registry import PARSERS
from bridge.records import ParseResult

FIXTURES = fixtures()
# One fixture per vendor folder keeps the run short while covering every parser.
SAMPLES = {fx.vendor_dir: fx for fx in FIXTURES}
TAG = re.compile(r"<(div|li|tr|td|p|span|dd|dt|section|h\d)\b[^>]*>.*?</\1>", re.S)


def mutate(html: str, data: st.DataObject) -> str:
    ops = data.draw(
        st.lists(
            st.sampled_from(["drop", "dup", "swap", "truncate", "garble_dates", "garble_numbers", "unclose"]),
            min_size=1,
            max_size=4,
        )
    )
    for op in ops:
        spans = [m.span() for m in TAG.finditer(html)]
        if op == "truncate":
            html = html[: data.draw(st.integers(0, len(html)))]
        elif op == "garble_dates":
            html = re.sub(
                r"\d{1,2}/\d{1,2}/\d{2,4}",
                data.draw(st.sampled_from(["13/45/20x", "", "00/00/0000", "Feb 30, 2025"])),
                html,
            )
        elif op == "garble_numbers":
            html = re.sub(r"\d+\.\d+", data.draw(st.sampled_from(["NaN", "1e999", "--", "٣.٤", ""])), html)
        elif op == "unclose":
            html = html.replace("</", "<", data.draw(st.integers(1, 50)))
        elif spans:
            i = data.draw(st.integers(0, len(spans) - 1))
            a, b = spans[i]
            if op == "drop":
                html = html[:a] + html[b:]
            elif op == "dup":
                html = html[:b] + html[a:b] + html[b:]
            elif op == "swap" and len(spans) > 1:
                j = data.draw(st.integers(0, len(spans) - 1))
                c, d = spans[j]
                if b <= c:
                    html = html[:a] + html[c:d] + html[b:c] + html[a:b] + html[d:]
    return html


@pytest.mark.parametrize("fx", list(SAMPLES.values()), ids=lambda f: f.id)
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_mutated_pages_never_crash(fx: object, data: st.DataObject) -> None:
    spec = fx.spec()  # type: ignore[attr-defined]
    html = mutate(fx.html(), data)  # type: ignore[attr-defined]
    page = Page.from_html(html, spec["url"])
    for module in PARSERS:
        if module.can_parse(page):
            with contextlib.suppress(ParseError):
                assert isinstance(module.parse(page), ParseResult)
    _, result = parse_page(Page.from_html(html, spec["url"]))
    assert isinstance(result, ParseResult)


@settings(max_examples=150, deadline=None)
@given(
    html=st.text(max_size=3000),
    path=st.sampled_from(
        [
            "/MyChart/inside.asp",
            "/MyChart/app/test-results/details",
            "/person/1/health-record/results/",
            "/",
            "/x",
        ]
    ),
)
def test_arbitrary_text_never_crashes(html: str, path: str) -> None:
    _, result = parse_page(Page.from_html(html, f"https://portal.example{path}"))
    assert isinstance(result, ParseResult)


@settings(max_examples=60, deadline=None)
@given(
    words=st.lists(
        st.text(alphabet=st.characters(blacklist_categories=["Cs", "Cc"]), min_size=3, max_size=20),
        min_size=1,
        max_size=20,
    )
)
def test_generic_fallback_yields_a_record_for_any_readable_page(words: list[str]) -> None:
    body = "".join(f"<p>{w.replace('<', ' ').replace('&', ' ')}</p>" for w in words)
    if not any(w.strip() for w in words):
        return
    _, result = parse_page(
        Page.from_html(
            f"<html><body><main>{body}</main></body></html>", "https://unknown-portal.example/letters/1"
        )
    )
    assert result.records, "a readable page must never come back empty"
