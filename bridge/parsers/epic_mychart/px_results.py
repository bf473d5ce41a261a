"""MyChart PX test results: the list (`app/test-results`) and one result (`app/test-results/details`).

Result detail, order of extraction:
* title: the `h1`; dates: the "Collected on …" / "Resulted on …" lines, else the details `dl`;
  status: the status phrase in the header, else the `dl`'s "Result status"; category: the header
  icon's `role="img"` `aria-label` (Lab / Imaging / Procedure);
* sections found by their `h2` text, in any order: "Messages from Care Team", "Results" (the
  `ul[aria-label="Result components"]` cards), "Impression", "Narrative", "Comments", "Lab and
  Collection Information" (`dl` plus the `h3` "Resulting lab");
* a component card: the `h3` name; the "Normal range:" / "Normal value:" label, then the range and
  the unit beside it; the "Value" label, then the value (aria-hidden: read raw); the screen-reader
  sentences "Your value is …" (unit when the card has no range) and "This value is High" (flag).
  `data-testid` hooks are used only when the labels are missing.
"""

from __future__ import annotations

import re

from selectolax.lexbor import LexborNode

from bridge.records import Component, TestResult

from ..base import Draft
from ..dates import parse_date, parse_datetime
from ..labels import dl_pairs
from ..text import clean, paragraphs_of, text_of
from ..values import make_component, normalize_flag, split_value_unit, value_num
from .px_dom import (
    DocIndex,
    closest,
    has_date,
    key,
    leaves,
    next_element,
    own_text,
    raw_text,
    region_css,
    report_text,
)

ROW_LINK = 'a[href*="test-results/details?eorderid="]'
COMPONENT_LIST = 'ul[aria-label="Result components"]'
TESTID_COMPONENT = '[data-testid="result-component"]'
TESTID_RANGE = '[data-testid="reference-range"]'
TESTID_UNITS = '[data-testid="component-units"]'
TESTID_STATUS = '[data-testid="result-status"]'
TESTID_NAME = '[data-testid="result-name"]'

STATUS_PHRASE = re.compile(
    r"^(?:final(?: result)?|preliminary(?: result)?|in process|in progress|pending|not yet resulted"
    r"|edited result\s*[-–]\s*\w+|edited|corrected(?: result)?|amended(?: result)?|partial(?: result)?)$",
    re.I,
)
CATEGORIES: dict[str, str] = {
    "lab": "lab",
    "labs": "lab",
    "laboratory": "lab",
    "imaging": "imaging",
    "radiology": "imaging",
    "pathology": "pathology",
    "procedure": "other",
    "procedures": "other",
    "other": "other",
}
BADGES = frozenset(
    {"abnormal", "new", "new result", "critical", "messages from care team", "viewed", "unread"}
)
_RANGE_LABEL = re.compile(r"^(?:normal|reference|standard) (?:range|value)s?\s*:?\s*(?P<rest>.*)$", re.I)
_COLLECTED = re.compile(r"^(?:collected|specimen collected)(?: on)?\s*:?\s+(?P<when>.+)$", re.I)
_RESULTED = re.compile(r"^(?:resulted|result date|last updated)(?: on)?\s*:?\s+(?P<when>.+)$", re.I)
_RANGE_UNIT = re.compile(
    r"^(?P<rng>(?:<=|>=|<|>|≤|≥)?\s*[\d.,]+(?:\s*[-–]\s*[\d.,]+)?)\s+(?P<unit>[^\d\s-].*)$"
)
_YOUR_VALUE = re.compile(r"^your value is\s*:?\s*(?P<v>.*)$", re.I)
_THIS_VALUE = re.compile(r"^this value is\s*:?\s*(?P<f>.+?)\.?$", re.I)
_ORDERED_BY = re.compile(r"^ordered by\s*:?\s*(?P<who>.*)$", re.I)
_DATE_ONLY = re.compile(
    r"^(?:[A-Za-z]{3,9}\.? \d{1,2},? \d{4}|\d{1,2}/\d{1,2}/\d{2,4})(?:,? \d{1,2}:\d{2}\s*[AP]M)?$", re.I
)


def status_of(text: str | None) -> str | None:
    """A MyChart status phrase as the contract's status ("Edited Result - FINAL" is a correction)."""
    t = (text or "").lower()
    if not t:
        return None
    if re.search(r"\b(edited|corrected|amended|revised)\b", t):
        return "corrected"
    if "preliminary" in t or "partial" in t:
        return "preliminary"
    if re.search(r"\b(in process|in progress|pending|not yet resulted)\b", t):
        return "pending"
    if re.search(r"\bfinal\b", t):
        return "final"
    return None


def category_of(label: str | None) -> str | None:
    return CATEGORIES.get(key(label)) if label else None


def strip_subject(title: str | None, names: list[str]) -> str | None:
    """Drop the proxy "(Patient Name)" suffix MyChart appends to row titles."""
    if not title:
        return title
    for name in names:
        suffix = f"({name})"
        if title.casefold().endswith(suffix.casefold()):
            return clean(title[: -len(suffix)])
    return title


# --- the list -------------------------------------------------------------------------------------


def parse_list(draft: Draft, main: LexborNode, names: list[str]) -> None:
    seen: set[int] = set()
    for link in main.css(ROW_LINK):
        row = closest(link, ("li",), stop=main) or link
        if row.mem_id in seen:
            continue
        seen.add(row.mem_id)
        record = _list_row(row, names)
        if record is not None:
            draft.records.append(record)


def _list_row(row: LexborNode, names: list[str]) -> TestResult | None:
    title: str | None = None
    status: str | None = None
    when: str | None = None
    ordered_by: str | None = None
    icon = row.css_first('[role="img"][aria-label]')
    category = category_of(icon.attributes.get("aria-label")) if icon is not None else None
    for node, text in leaves(row):
        if node.tag in {"svg", "img"}:
            continue
        m = _ORDERED_BY.match(text)
        if m:
            who = m.group("who") or _rest_after_label(node)
            ordered_by = ordered_by or clean(who)
            continue
        if any(_bare_ordered_by(t) for t in _child_texts(node)):
            ordered_by = ordered_by or text  # '<span>Ordered by </span>Dr X': the parent holds the name
            continue
        if STATUS_PHRASE.match(text):
            status = status or status_of(text)
            continue
        if key(text) in BADGES:
            continue
        if _DATE_ONLY.match(text) and has_date(text):
            when = when or parse_date(text)
            continue
        if re.fullmatch(r"\(.*\)", text):
            continue  # the "(Patient Name)" suffix
        if title is None:
            title = text
    if title is None:
        title = text_of(row.css_first(TESTID_NAME))
    title = strip_subject(title, names)
    if not title:
        return None
    return TestResult(title=title, occurred_at=when, category=category, status=status, ordered_by=ordered_by)


def _bare_ordered_by(text: str) -> bool:
    m = _ORDERED_BY.match(text)
    return bool(m) and not (m.group("who") if m else None)


def _child_texts(node: LexborNode) -> list[str]:
    out: list[str] = []
    for child in node.iter(include_text=False):
        t = own_text(child)
        if t:
            out.append(t)
    return out


def _rest_after_label(label: LexborNode) -> str | None:
    """'<span>Ordered by </span>Dr X' : the text that follows the label inside its parent."""
    parent = label.parent
    if parent is not None:
        whole = raw_text(parent) or ""
        m = _ORDERED_BY.match(whole)
        if m and m.group("who"):
            return m.group("who")
    return text_of(next_element(label))


# --- one result -----------------------------------------------------------------------------------


def parse_detail(draft: Draft, main: LexborNode) -> None:
    idx = DocIndex(main)
    h1 = main.css_first("h1")
    title = text_of(h1) or text_of(main.css_first(".resultNameHeading"))
    if not title:
        crumb = main.css_first('nav[aria-label="Breadcrumb"] [aria-current="page"]')
        title = text_of(crumb)
    if not title:
        draft.warn("the result has no name")
        return
    h2s = list(main.css("h2"))
    first_h2 = idx.pos(h2s[0]) if h2s else 1 << 60

    collected = resulted = status = category = None
    for node, text in leaves(main):
        if idx.pos(node) >= first_h2:
            break
        m = _COLLECTED.match(text)
        if m and has_date(m.group("when")) and collected is None:
            collected = parse_datetime(m.group("when"))
            continue
        m = _RESULTED.match(text)
        if m and has_date(m.group("when")) and resulted is None:
            resulted = parse_datetime(m.group("when"))
            continue
        if status is None and STATUS_PHRASE.match(text):
            status = status_of(text)
    for icon in main.css('[role="img"][aria-label]'):
        if idx.pos(icon) < first_h2:
            category = category_of(icon.attributes.get("aria-label"))
            if category:
                break

    lab_h = idx.find_heading(
        ("h2",), "Lab and Collection Information", "Lab Information", "Collection Information", prefix=True
    )
    lab_region = idx.region(lab_h) if lab_h is not None else []
    pairs: dict[str, str] = {}
    for node in lab_region:
        if not (node.tag or "").startswith("-"):
            pairs.update({k: v for k, v in dl_pairs(node).items() if k not in pairs})
    if not pairs:
        pairs = _inline_pairs(lab_region)
    if not pairs:
        pairs = dl_pairs(main)
    collected = collected or parse_datetime(_pair(pairs, "collected on", "collected", "collection date"))
    resulted = resulted or parse_datetime(
        _pair(pairs, "resulted on", "resulted", "result date", "reported on")
    )
    if status is None:
        status = status_of(pairs.get("result status") or pairs.get("status"))
    if status is None:
        status = status_of(text_of(main.css_first(TESTID_STATUS)))
    ordered_by = (
        pairs.get("ordered by") or pairs.get("authorizing provider") or pairs.get("ordering provider")
    )
    lab = _performing_lab(idx, lab_region) or pairs.get("resulting lab") or pairs.get("performing lab")

    comments: list[tuple[int, str]] = []
    care = idx.find_heading(
        ("h2",),
        "Messages from Care Team",
        "Message from Care Team",
        "Messages from your care team",
        "Care Team Comments",
    )
    if care is not None:
        region = idx.region(care)
        paras = [(idx.pos(p), t) for p in region_css(region, "p") if (t := paragraphs_of(p))]
        if not paras:
            t = report_text(region)
            if t:
                paras = [(idx.pos(care), t)]
        comments.extend(paras)
    for name in ("Comments", "Comment", "Result Comments", "Lab Comments"):
        h = idx.find_heading(("h2",), name)
        if h is not None:
            t = report_text(idx.region(h))
            if t:
                comments.append((idx.pos(h), t))
            break

    components = _components(draft, idx, main, comments)

    narrative = None
    for names in (("Narrative", "Report", "Full Report"), ("Impression",)):
        h = idx.find_heading(("h2",), *names)
        if h is not None:
            narrative = report_text(idx.region(h))
            if narrative:
                break

    comments.sort(key=lambda pair: pair[0])
    if category is None:
        draft.warn("the result's category (lab, imaging, procedure) is not shown")
    if status is None:
        draft.warn("the result's status is not shown")
    if collected is None and resulted is None:
        draft.warn("the result shows no collection or result date")
    draft.records.append(
        TestResult(
            title=title,
            occurred_at=collected or resulted,
            category=category,
            status=status,
            resulted_at=resulted,
            ordered_by=ordered_by,
            performing_lab=lab,
            components=components,
            narrative=narrative,
            comments="\n\n".join(t for _, t in comments) or None,
        )
    )


_DETAIL_LABEL = re.compile(
    r"^(?P<label>ordered by|ordering provider|authorizing provider|collected on|collected|collection date|"
    r"resulted on|resulted|result date|result status|status|specimen)\s*:?\s*(?P<rest>.*)$",
    re.I,
)


def _inline_pairs(region: list[LexborNode]) -> dict[str, str]:
    """The collection details without a `dl`: "Label: value" lines, a label beside its value (a
    `span`, a `th`/`td` pair)."""
    pairs: dict[str, str] = {}
    for top in region:
        if (top.tag or "").startswith("-"):
            continue
        for node, text in leaves(top):
            m = _DETAIL_LABEL.match(text)
            if m is None or len(text) > 120:
                continue
            value = clean(m.group("rest")) or raw_text(next_element(node))
            label = m.group("label").lower()
            if value and label not in pairs and not _DETAIL_LABEL.match(value):
                pairs[label] = value
    return pairs


def _pair(pairs: dict[str, str], *labels: str) -> str | None:
    """The first of these labels' values that holds a date ("Collected on", "Collection date", …)."""
    for label in labels:
        value = pairs.get(label)
        if value and has_date(value):
            return value
    return None


def _performing_lab(idx: DocIndex, region: list[LexborNode]) -> str | None:
    h = None
    for node in region_css(region, "h3, h4, dt, strong"):
        if key(text_of(node)) in {"resulting lab", "performing lab", "performing organization", "lab"}:
            h = node
            break
    if h is None:
        h = idx.find_heading(("h3", "h4"), "Resulting lab", "Performing lab")
    if h is None:
        return None
    sib = next_element(h)
    while sib is not None and not text_of(sib):
        sib = next_element(sib)
    return text_of(sib)


def _cards(idx: DocIndex, main: LexborNode) -> list[LexborNode]:
    for ul in main.css(COMPONENT_LIST):
        cards = [c for c in ul.iter(include_text=False) if c.tag == "li"]
        if cards:
            return cards
    cards = list(main.css(TESTID_COMPONENT))
    if cards:
        return cards
    h = idx.find_heading(("h2",), "Results", "Result", "Components")
    if h is None:
        return []
    return [li for li in region_css(idx.region(h), "li") if li.css_first("h3, h4")]


def _components(
    draft: Draft, idx: DocIndex, main: LexborNode, comments: list[tuple[int, str]]
) -> list[Component]:
    out: list[Component] = []
    for card in _cards(idx, main):
        comp = _component(card, idx, comments)
        if comp is None:
            continue
        if comp.value is None:
            draft.warn(f"component '{comp.name}' has no value")
        if comp.ref_range is None:
            draft.warn(f"component '{comp.name}' has no reference range")
        if comp.unit is None and comp.value_num is not None:
            draft.warn(f"component '{comp.name}' has no unit")
        out.append(comp)
    return out


def _component(card: LexborNode, idx: DocIndex, comments: list[tuple[int, str]]) -> Component | None:
    name_node = None
    for h in card.css("h3, h4, h5"):
        if key(text_of(h)) not in {"comment", "comments"}:
            name_node = h
            break
    name = text_of(name_node) or raw_text(name_node)
    if not name:
        return None
    ref_range = unit = value = sr_value = page_flag = None
    card_leaves = list(leaves(card))
    for node, text in card_leaves:
        if node.tag in {"h3", "h4", "h5", "a"}:
            continue
        m = _RANGE_LABEL.match(text)
        if m and ref_range is None:
            rest = clean(m.group("rest"))
            if rest:
                ref_range = rest
            else:
                rng = next_element(node)
                ref_range = raw_text(rng)
                unit_node = next_element(rng)
                if unit_node is not None and not _RANGE_LABEL.match(raw_text(unit_node) or ""):
                    unit = raw_text(unit_node)
            continue
        if key(text) in {"value", "your value"} and value is None:
            value = raw_text(next_element(node))
            continue
        m = _YOUR_VALUE.match(text)
        if m:
            sr_value = clean(m.group("v"))
            continue
        m = _THIS_VALUE.match(text)
        if m:
            page_flag = page_flag or m.group("f")
            continue
    if ref_range is None:
        ref_range = raw_text(card.css_first(TESTID_RANGE))
    if unit is None:
        unit = raw_text(card.css_first(TESTID_UNITS))
    if ref_range and unit is None:
        m = _RANGE_UNIT.match(ref_range)  # "Normal range: 4.0 - 5.6 %" in one piece
        if m:
            ref_range, unit = clean(m.group("rng")), clean(m.group("unit"))
    if value is None and sr_value:
        value = sr_value
    elif value and sr_value and unit is None and sr_value.startswith(value):
        unit = clean(sr_value[len(value) :])
    value, unit = _unit_off_value(value, unit)
    if page_flag is None:
        page_flag = _visible_flag(card_leaves, value)
    if ref_range and unit and ref_range.endswith(" " + unit):
        ref_range = clean(ref_range[: -len(unit)])
    for h4 in card.css("h4, h5"):
        if key(text_of(h4) or raw_text(h4)) in {"comment", "comments"}:
            parts = []
            sib = next_element(h4)
            while sib is not None:
                t = paragraphs_of(sib)
                if t:
                    parts.append(t)
                sib = next_element(sib)
            if parts:
                comments.append((idx.pos(h4), "\n\n".join(parts)))
    return make_component(name, value, unit, ref_range, page_flag)


def _unit_off_value(value: str | None, unit: str | None) -> tuple[str | None, str | None]:
    """A value shown with its unit ("7.9 %"): the unit is not part of the value."""
    if not value:
        return value, unit
    if unit and value.endswith(" " + unit):
        return clean(value[: -len(unit)]), unit
    if unit is None and value_num(value) is None:
        head, tail = split_value_unit(value)
        if tail and value_num(head) is not None:
            return head, tail
    return value, unit


def _visible_flag(card_leaves: list[tuple[LexborNode, str]], value: str | None) -> str | None:
    """A flag badge shown beside the value (only when the screen-reader sentence is missing)."""
    for _node, text in card_leaves:
        if (
            text != value
            and key(text)
            in {"high", "low", "abnormal", "critical", "critical high", "critical low", "h", "l", "a"}
            and normalize_flag(text)
        ):
            return text
    return None
