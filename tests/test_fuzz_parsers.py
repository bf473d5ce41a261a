"""Issue 8, parser fuzzing: random portal-like HTML at random portal URL paths, through the registry.

The HTML is built from the fixtures' own vocabulary (their class names, ids, tags), with lab-like text
(names, values, units, ranges, flags, dates in many shapes, odd Unicode), so the vendor parsers claim
pages and go deep; the URLs are the fixtures' addresses, mutated. `parse_page` must always return a
ParseResult whose contract serializes, whatever the page (tests/test_parser_robustness.py mutates the
fixtures themselves; this builds pages from nothing). Also: the ingest path's guard against
pathological nesting leaves every real page untouched.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from urllib.parse import urlsplit, urlunsplit

from golden import fixtures
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.ingest import parse_capture
from bridge.parsers import Page, parse_page
from bridge.parsers.nesting import MAX_PARSE_DEPTH
from bridge.parsers.nesting import flatten_deep_nesting as _flatten_deep_nesting
from bridge.records import RECORD_KINDS, ParseResult

FIXTURES = fixtures()
URLS = sorted({fx.spec()["url"] for fx in FIXTURES})


def _vocabulary() -> tuple[list[str], list[str]]:
    classes: Counter[str] = Counter()
    ids: Counter[str] = Counter()
    for fx in FIXTURES:
        html = fx.html()
        for m in re.finditer(r'class="([^"]{1,200})"', html):
            classes.update(m.group(1).split())
        ids.update(re.findall(r'id="([^"]{1,60})"', html))
    return [c for c, _ in classes.most_common(400)], [i for i, _ in ids.most_common(200)]


CLASSES, IDS = _vocabulary()
TAGS = [
    "div",
    "span",
    "table",
    "thead",
    "tbody",
    "tr",
    "td",
    "th",
    "ul",
    "ol",
    "li",
    "p",
    "h1",
    "h2",
    "h3",
    "a",
    "b",
    "dl",
    "dt",
    "dd",
    "section",
    "main",
    "article",
    "header",
    "label",
    "strong",
    "em",
    "pre",
    "time",
    "caption",
    "form",
    "button",
    "nav",
    "iframe",
    "template",
    "font",
    "center",
]
VOID = ["br", "hr", "img", "input", "meta", "wbr"]
WORDS = [
    "Potassium",
    "Sodium",
    "Glucose",
    "Hemoglobin A1c",
    "LDL Cholesterol",
    "Creatinine",
    "eGFR",
    "TSH",
    "Result",
    "Value",
    "Units",
    "Reference Range",
    "Standard Range",
    "Flag",
    "Collected",
    "Resulted",
    "Ordered by",
    "Patient",
    "Name:",
    "DOB:",
    "Date of Birth",
    "MRN",
    "Allergies",
    "Medications",
    "Immunizations",
    "Appointment",
    "Visit",
    "Provider",
    "Dr.",
    "Message",
    "From:",
    "Subject:",
    "RE:",
    "Take 1 tablet by mouth daily",
    "mg",
    "mmol/L",
    "mg/dL",
    "%",
    "x10^3/uL",
    "H",
    "L",
    "High",
    "Low",
    "Abnormal",
    "Critical",
    "Normal",
    "Pending",
    "Final",
    "Corrected",
    "Preliminary",
    "—",
    "N/A",
    "<",
    ">",
    "\u200b",
    "\u00a0",
    "٣٫٤",
    "①",
    "𝟓",
    "ﬁ",
    "\u202e",
    "\ufeff",
    "Zoë",
    "François",
    "日本語",
    "&amp;",
    "&lt;",
    "&#0;",
    "&#x110000;",
    "&nbsp;",
]
DATES = [
    "01/02/2025",
    "1/2/25",
    "2025-01-02",
    "Jan 2, 2025",
    "January 2, 2025 10:40 AM",
    "02-Jan-2025",
    "13/45/2025",
    "00/00/0000",
    "Feb 30, 2025",
    "10:40 AM - 11:20 AM",
    "Yesterday",
    "9999-99-99",
    "2025-01-02T03:04:05Z",
    "1/2/1900",
    "12/31/2099 11:59 PM",
    "31.12.2024",
]
NUMBERS = [
    "4.1",
    "135",
    "0.9",
    "5.7",
    "1e999",
    "-0",
    "NaN",
    "Infinity",
    "1,234.5",
    "3.5-5.0",
    "3.5 - 5.0",
    "<0.01",
    ">=60",
    "10^9",
    "9" * 40,
    ".",
    "4..1",
    "1/0",
]

text = st.one_of(
    st.sampled_from(WORDS),
    st.sampled_from(DATES),
    st.sampled_from(NUMBERS),
    st.text(max_size=30),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=10),
)


@st.composite
def attrs(draw: st.DrawFn) -> str:
    out = []
    if draw(st.booleans()):
        out.append(f'class="{" ".join(draw(st.lists(st.sampled_from(CLASSES), min_size=1, max_size=3)))}"')
    if IDS and draw(st.integers(0, 4)) == 0:
        out.append(f'id="{draw(st.sampled_from(IDS))}"')
    if draw(st.integers(0, 6)) == 0:
        out.append(
            f"{draw(st.sampled_from(['hidden', 'aria-hidden', 'style', 'data-testid', 'colspan', 'title']))}="
            f'"{draw(st.sampled_from(["true", "display:none", "2", "0", "-1", "x" * 50]))}"'
        )
    return (" " + " ".join(out)) if out else ""


def node(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    @st.composite
    def element(draw: st.DrawFn) -> str:
        tag = draw(st.sampled_from(TAGS))
        inner = "".join(draw(st.lists(children, max_size=6)))
        close = "" if draw(st.integers(0, 9)) == 0 else f"</{tag}>"  # sometimes left unclosed
        return f"<{tag}{draw(attrs())}>{inner}{close}"

    return element()


leaf = st.one_of(
    text,
    st.sampled_from(VOID).map(lambda t: f"<{t}>"),
    st.just('<script type="application/json">{"patient": {"name": "Fuzz"}, "x": [1, 2]}</script>'),
    st.just("<!-- comment -->"),
    st.just("<![CDATA[x]]>"),
)
html_fragment = st.recursive(leaf, node, max_leaves=60)


@st.composite
def portal_url(draw: st.DrawFn) -> str:
    parts = urlsplit(draw(st.sampled_from(URLS)))
    path = parts.path
    match draw(st.integers(0, 5)):
        case 0:
            path = (
                path.rsplit("/", 1)[0]
                + "/"
                + draw(st.sampled_from(["details", "list", "", "123", "%2e%2e", "ü"]))
            )
        case 1:
            path = path + "/" + draw(st.text(alphabet="abcxyz0129-_.", max_size=8))
        case 2:
            path = path.upper() if draw(st.booleans()) else path.lower()
        case _:
            pass
    query = parts.query
    if draw(st.booleans()):
        query = draw(
            st.sampled_from(["", "mode=labdetail", "eorderid=", "eorderid=x&eorderid=y", "a=%ZZ", query])
        )
    return urlunsplit((parts.scheme, parts.netloc, path, query, draw(st.sampled_from(["", "x", "/tab"]))))


@st.composite
def page(draw: st.DrawFn) -> dict[str, object]:
    url = draw(portal_url())
    frames = []
    for i in range(draw(st.integers(1, 3))):
        body = "".join(draw(st.lists(html_fragment, min_size=1, max_size=4)))
        title = draw(st.sampled_from(["", "<title>MyChart - Test Results</title>", "<title>Results</title>"]))
        doc = f"<html><head>{title}</head><body>{body}</body></html>" if draw(st.booleans()) else body
        frames.append({"url": url if i == 0 else draw(portal_url()), "html": doc})
    return {"url": url, "title": draw(st.one_of(st.none(), text)), "frames": frames}


TEXT_NODE = re.compile(r">([^<]{1,80})<")


@st.composite
def spliced_fixture(draw: st.DrawFn) -> dict[str, object]:
    """A real fixture page (so its vendor parser claims it and reads deep) with its text replaced by
    random values and random fragments spliced in, at its own address or a mutated one."""
    fx = draw(st.sampled_from(FIXTURES))
    html = fx.html()
    nodes = [m.span(1) for m in TEXT_NODE.finditer(html)]
    chosen = sorted(set(draw(st.lists(st.integers(0, max(len(nodes) - 1, 0)), max_size=40))), reverse=True)
    for i in chosen:
        if nodes:
            a, b = nodes[i]
            html = html[:a] + draw(text).replace("<", "&lt;") + html[b:]
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(html)))
        html = html[:at] + draw(html_fragment) + html[at:]
    url = fx.spec()["url"] if draw(st.booleans()) else draw(portal_url())
    return {"url": url, "title": fx.id, "frames": [{"url": url, "html": html}]}


def check(result: ParseResult) -> None:
    assert isinstance(result, ParseResult)
    json.dumps(result.to_contract(), ensure_ascii=False)  # what the vault stores must serialize
    for record in result.records:
        assert record.kind in RECORD_KINDS
        json.dumps(record.model_dump(mode="json"))


@settings(
    max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(capture=page())
def test_random_portal_pages_at_random_portal_paths_always_parse(capture: dict[str, object]) -> None:
    _, result = parse_page(Page.from_capture(capture))
    check(result)
    _info, again, error = parse_capture(capture)
    check(again)
    assert error is None, error  # the registry itself must not have needed ingest's last-resort catch


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(capture=spliced_fixture())
def test_real_pages_with_random_values_and_fragments_always_parse(capture: dict[str, object]) -> None:
    _info, result = parse_page(Page.from_capture(capture))
    check(result)


@settings(max_examples=150, deadline=None)
@given(html=st.text(alphabet=st.characters(codec="utf-8"), max_size=2000), url=portal_url())
def test_arbitrary_text_at_portal_paths_always_parses(html: str, url: str) -> None:
    _, result = parse_page(Page.from_html(html, url))
    check(result)


def test_the_nesting_guard_leaves_every_real_page_untouched() -> None:
    for fx in FIXTURES:
        html = fx.html()
        assert _flatten_deep_nesting(html) is html, fx.id


def test_the_nesting_guard_flattens_only_beyond_the_limit() -> None:
    depth = MAX_PARSE_DEPTH + 500
    deep = "<div>" * depth + "<p>inner text</p>" + "</div>" * depth
    flat = _flatten_deep_nesting(deep)
    assert flat.count("<div>") == MAX_PARSE_DEPTH and flat.count("</div>") == MAX_PARSE_DEPTH
    assert "<p>inner text</p>" in flat
    ok = "<div>" * MAX_PARSE_DEPTH + "x" + "</div>" * MAX_PARSE_DEPTH
    assert _flatten_deep_nesting(ok) is ok
