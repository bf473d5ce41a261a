"""The guard against pathologically nested pages (bridge.parsers.nesting.flatten_deep_nesting).

Its container regex was rewritten for speed (a case-spelled trie instead of an alternation under re.I);
the old algorithm is kept here, verbatim but for the depth limit as a parameter, as the oracle: on any
tag soup the new depth measure and the flattened page must be exactly the old ones.
"""

from __future__ import annotations

import re
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.parsers import nesting
from bridge.parsers.nesting import CONTAINERS as _CONTAINERS
from bridge.parsers.nesting import MAX_PARSE_DEPTH
from bridge.parsers.nesting import deepest as _deepest
from bridge.parsers.nesting import flatten_deep_nesting as _flatten_deep_nesting

# ----------------------------------------------------------------- the old algorithm (the oracle)

_OLD_CONTAINER = re.compile(rf"<(/?)(?:{'|'.join(_CONTAINERS)})(?=[\s>/])", re.I)


def old_deepest(html: str) -> int:
    depth = deepest = 0
    for m in _OLD_CONTAINER.finditer(html):
        depth = max(depth - 1, 0) if m.group(1) else depth + 1
        deepest = max(deepest, depth)
    return deepest


def old_flatten(html: str, limit: int) -> str:
    if html.count("<") <= limit:
        return html
    if old_deepest(html) <= limit:
        return html
    depth = 0

    def keep(m: re.Match[str]) -> str:
        nonlocal depth
        if m.group(1):
            depth = max(depth - 1, 0)
            return m.group(0) if depth < limit else " "
        depth += 1
        return m.group(0) if depth <= limit else " "

    return _OLD_CONTAINER.sub(keep, html)


# ----------------------------------------------------------------- tag soups

_OTHER_NAMES = ["symbol", "path", "svg", "script", "p", "li", "x", "divx", "spans", "bdi", "subx", "ab", "tr"]
# what re.I also takes for i, k and s (Unicode case folding), and look-alikes that it does not take
_FOLDED = {"i": ["\u0130", "\u0131"], "k": ["\u212a"], "s": ["\u017f"]}
_LOOKALIKES = ["\u0399", "\uff44", "\u1e9e", "\u0430"]
_AFTER_NAME = [
    " ",
    ">",
    "/",
    "\t",
    "\n",
    "\x0b",
    "\x0c",
    "\r",
    "\x1c",
    "\x85",
    "\xa0",
    "\u3000",
    "x",
    "-",
    "1",
    "<",
    "",
]


@st.composite
def tag_name(draw: st.DrawFn) -> str:
    name = draw(st.sampled_from(list(_CONTAINERS) + _OTHER_NAMES))
    if draw(st.booleans()):  # most names in plain letters, the others with any spelling of each letter
        return name if draw(st.booleans()) else name.upper()
    letters = []
    for ch in name:
        if draw(st.integers(0, 15)) == 0:
            letters.append(draw(st.sampled_from(_LOOKALIKES)))
        else:
            letters.append(draw(st.sampled_from([ch, ch.upper(), *_FOLDED.get(ch, [])])))
    return "".join(letters)


@st.composite
def token(draw: st.DrawFn) -> str:
    kind = draw(st.integers(0, 9))
    if kind <= 5:
        opening = draw(st.sampled_from(["<", "</", "<", "</", "< ", "<//"]))
        attrs = draw(st.sampled_from(["", ' class="a"', " id=x", " data-x='<div>'"]))
        return opening + draw(tag_name()) + draw(st.sampled_from(_AFTER_NAME)) + attrs + ">"
    if kind == 6:
        return draw(st.text(alphabet="<>/ dsiv\n", max_size=8))
    if kind == 7:
        return draw(st.text(max_size=6))
    if kind == 8:
        return "<" + draw(st.sampled_from(list(_CONTAINERS))) + ">" * draw(st.integers(0, 1))
    return draw(st.sampled_from(["<!-- <div> -->", "<script>var a = '<div>';</script>", "<svg><script>"]))


soup = st.lists(token(), max_size=60).map("".join)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(html=soup)
def test_the_depth_measure_is_the_old_one(html: str) -> None:
    assert nesting.CONTAINER.findall(html) == _OLD_CONTAINER.findall(html)
    assert [m.span() for m in nesting.CONTAINER.finditer(html)] == [
        m.span() for m in _OLD_CONTAINER.finditer(html)
    ]
    assert _deepest(html) == old_deepest(html)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(html=soup, limit=st.integers(0, 6))
def test_the_flattened_page_is_the_old_one_at_any_limit(html: str, limit: int) -> None:
    expected = old_flatten(html, limit)
    with mock.patch.object(nesting, "MAX_PARSE_DEPTH", limit):
        got = _flatten_deep_nesting(html)
    assert got == expected
    if expected is html:
        assert got is html  # unchanged means the very same object (no copy is parsed)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    before=soup,
    opens=st.integers(MAX_PARSE_DEPTH - 3, MAX_PARSE_DEPTH + 3),
    name=tag_name(),
    closes=st.integers(0, MAX_PARSE_DEPTH + 3),
)
def test_at_the_real_limit_too(before: str, opens: int, name: str, closes: int) -> None:
    html = before + f"<{name}>" * opens + "<p>text</p>" + f"</{name}>" * closes
    expected = old_flatten(html, MAX_PARSE_DEPTH)
    got = _flatten_deep_nesting(html)
    assert got == expected
    assert (got is html) == (expected is html)


def test_the_measure_stops_once_the_limit_is_passed() -> None:
    deep = "<div>" * 50 + "</div>" * 50
    assert _deepest(deep) == 50
    assert _deepest(deep, stop_above=10) == 11


# ----------------------------------------------------------------- what the guard must cover

#: Measured in Lexbor: nested 20,000 deep, each of these took 0.7-1.7 s, about 20 times their time at
#: 5,000 (100,000 nested <dialog>s took 30 s). The guard must bound them all.
QUADRATIC_WHEN_NESTED = [
    "dialog", "menu", "dir", "address", "hgroup", "search", "listing", "optgroup", "rb", "rp", "rt", "rtc",
    "div", "section", "details", "summary", "fieldset", "center", "blockquote", "main", "pre",
]  # fmt: skip


def test_every_tag_that_nests_quadratically_is_guarded() -> None:
    for name in QUADRATIC_WHEN_NESTED:
        deep = f"<{name}>" * (MAX_PARSE_DEPTH + 10) + "text" + f"</{name}>" * (MAX_PARSE_DEPTH + 10)
        flat = _flatten_deep_nesting(deep)
        assert flat is not deep, name
        assert _deepest(flat) == MAX_PARSE_DEPTH, name
        assert "text" in flat


def test_tags_a_browser_closes_by_the_next_one_are_left_alone() -> None:
    # <li>, <p>, <dd>, <tr>... never nest by themselves: flattening them would only cost time and markup
    for name in ("li", "p", "dd", "dt", "tr", "td", "option", "h1"):
        page = f"<{name}>x" * (MAX_PARSE_DEPTH + 10)
        assert _flatten_deep_nesting(page) is page, name
