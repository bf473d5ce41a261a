"""Epic MyChart classic: test results (order detail, result list, component history table).

Order of extraction on a detail page (`#TestResultsDetailPage`): the heading is the title; the
`dl.orderDetails` pairs are matched by label (their order varies); component cards
(`li.TRPComponent`) give name, unit, value, range and the shown flag, the range deciding when no
flag is shown; comments, the lab block and the imaging report follow. The result list
(`ul.TestResultsList`) gives one record per row under its date header, and the history table
(`table.TRPTableList`) one record per row, its cells mapped by header text.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from bridge.records import Component, TestResult

from ..base import Draft, ParseError
from ..dates import parse_date
from ..text import clean, paragraphs_of
from ..values import make_component, parse_range
from .classic_common import (
    Node,
    ancestor,
    date_field,
    first,
    first_value,
    has_class,
    pairs_in,
    pick,
    raw_text,
    row_pairs,
    text_or_raw,
    unique,
    visible_text,
)

Warn = Callable[[str], None]

# Labels of `dl.orderDetails`, lower-cased, without the colon.
COLLECTED = (
    "collected on",
    "collected",
    "collection date",
    "date collected",
    "specimen collected",
    "collection date/time",
    "collected date",
)
EXAM_DATE = (
    "exam date",
    "exam date/time",
    "exam date and time",
    "study date",
    "performed on",
    "exam performed",
    "procedure date",
)
RESULTED = (
    "resulted on",
    "resulted",
    "result date",
    "date resulted",
    "reported on",
    "reported",
    "result date/time",
    "last updated",
)
STATUS = ("result status", "status")
ORDERED_BY = (
    "ordered by",
    "ordering provider",
    "authorizing provider",
    "authorized by",
    "ordered by provider",
)

# Status words, most specific first ("Edited Result - FINAL" is corrected, not final).
_STATUS_WORDS: tuple[tuple[str, str], ...] = (
    ("edited", "corrected"),
    ("corrected", "corrected"),
    ("amended", "corrected"),
    ("revised", "corrected"),
    ("preliminary", "preliminary"),
    ("prelim", "preliminary"),
    ("in process", "pending"),
    ("in progress", "pending"),
    ("pending", "pending"),
    ("incomplete", "pending"),
    ("in lab", "pending"),
    ("collected", "pending"),
    ("ordered", "pending"),
    ("final", "final"),
    ("complete", "final"),
)
_UPDATED = re.compile(r"^\s*updated\b[\s\xa0:-]*", re.I)
_LIST_CATEGORY = {
    "lab": "lab",
    "laboratory": "lab",
    "imaging": "imaging",
    "radiology": "imaging",
    "pathology": "pathology",
    "procedure": "other",
    "other": "other",
}
_ICON_PREFIX = re.compile(r"/(lab|imaging|procedure|pathology|default)_[a-z]*\.\w+$", re.I)


def result_status(text: str | None) -> str | None:
    key = (clean(text) or "").lower()
    if not key:
        return None
    for word, status in _STATUS_WORDS:
        if word in key:
            return status
    return None


# --- order detail --------------------------------------------------------------------------------


def read_detail(root: Node, draft: Draft) -> None:
    page = first(root, "#TestResultsDetailPage") or root
    title = first_value(page, "h1.resultNameHeading", ".resultNameHeading", "h1")
    if not title:
        raise ParseError("the result detail page has no result name")
    warn = draft.warn
    details = first(page, "dl.orderDetails")
    pairs = pairs_in(details if details is not None else page)
    if not (pick(pairs, *COLLECTED) or pick(pairs, *EXAM_DATE) or pick(pairs, *RESULTED)):
        # Details laid out as table rows or "Label: value" lines instead of a `dl`.
        pairs = {**row_pairs(details if details is not None else page), **pairs}
    collected = date_field(pick(pairs, *COLLECTED) or pick(pairs, *EXAM_DATE), "collection date", warn, True)
    resulted = date_field(pick(pairs, *RESULTED), "result date", warn, True)
    status_text = pick(pairs, *STATUS) or first_value(page, "span.resultStatus", ".resultStatus")
    status = result_status(status_text)
    if status_text and status is None:
        warn(f"the result status '{status_text}' is not one the contract knows")
    study = first(page, "div.studyResult", ".studyResult")
    cards = list(unique(page.css("li.TRPComponent, li[data-id='selectda']")))
    components = [c for c in (_component(card, warn) for card in cards) if c is not None]
    lab_block = first(page, "div.labInfo", ".labInfo")
    if study is not None:
        category: str | None = "imaging"
    elif cards or lab_block is not None:
        category = "lab"
    else:
        category = None
        warn("the result's category is not shown")
    narrative = _narrative(study) if study is not None else None
    draft.records.append(
        TestResult(
            title=title,
            occurred_at=collected or resulted,
            category=category,
            status=status,
            resulted_at=resulted,
            ordered_by=pick(pairs, *ORDERED_BY),
            performing_lab=first_value(lab_block, ".labName", ".resultingLab > div")
            if lab_block is not None
            else None,
            components=components,
            narrative=narrative,
            comments=_comments(page),
        )
    )


def _component(card: Node, warn: Warn) -> Component | None:
    name = first_value(card, "div.TRPName", ".TRPName")
    value_cell = first(card, "td.TRPDark", ".TRPDark")
    value = text_or_raw(value_cell)
    if value is None and value_cell is not None:
        # The cell's title repeats the value, a non-breaking space, then the unit.
        value = clean((value_cell.attributes.get("title") or "").split("\xa0")[0])
    if not name:
        if value:
            warn(f"a component with value '{value}' has no name and was left out")
        return None
    unit = first_value(card, "div.TRPUnits", ".TRPUnits")
    # The range is shown twice (the value table and the trpRefRange_ row); either may be empty.
    ref_range = None
    for cell in card.css("td.tr_poc_bold"):
        ref_range = text_or_raw(cell)
        if ref_range:
            break
    flag_node = first(card, "div.TRPFlag", ".TRPFlag")
    page_flag = visible_text(flag_node) or _without_clearlabel(raw_text(flag_node))
    component = make_component(name, value, unit, ref_range, page_flag)
    if component.flag is None and page_flag is None and _marked_abnormal(card, value_cell):
        # The real card marks an abnormal value only with a class and an icon: that is the page's flag.
        component.flag = "abnormal"
    if value is None:
        warn(f"component '{name}' has no value")
    if ref_range is None:
        warn(f"component '{name}' has no reference range")
    if unit is None and component.value_num is not None:
        warn(f"component '{name}' has no unit")
    return component


def _without_clearlabel(text: str | None) -> str | None:
    return clean(re.sub(r"^\s*this value is\s*", "", text or "", flags=re.I))


def _marked_abnormal(card: Node, value_cell: Node | None) -> bool:
    return has_class(value_cell, "abnormal") or card.css_first("img.abnormalicon") is not None


def _comments(page: Node) -> str | None:
    box = first(page, "div.resultComments", ".resultComments")
    if box is None:
        return None
    text = first(box, ".commentText")
    if text is not None:
        return paragraphs_of(text)
    paras = [paragraphs_of(child) for child in box.iter() if child.tag not in {"h2", "h3", "h4"}]
    return "\n\n".join(p for p in paras if p) or None


def _narrative(study: Node) -> str | None:
    """The report text: every `div.reportContent` in order (Narrative, then Impression), headings and
    the signature line left out."""
    blocks = study.css("div.reportContent, .reportContent")
    paras = [paragraphs_of(block) for block in unique(blocks)]
    if not blocks:
        paras = [
            paragraphs_of(child)
            for child in study.iter()
            if child.tag not in {"h2", "h3", "h4"} and not has_class(child, "signedBy")
        ]
    return "\n\n".join(p for p in paras if p) or None


# --- result list --------------------------------------------------------------------------------


def read_list(root: Node, draft: Draft) -> None:
    for row in unique(root.css("li.SingleResult, li[data-id='testresult']")):
        name_cell = first(row, "td.nameColumn", ".nameColumn")
        title = text_or_raw(name_cell)
        if not title:
            draft.warn("a result row has no name and was left out")
            continue
        status = None
        if _UPDATED.match(title):
            title = _UPDATED.sub("", title)
            status = "corrected"
        block = ancestor(row, lambda n: has_class(n, "StickyHeaderBlock"))
        occurred = _group_date(block, draft.warn) if block is not None else None
        if occurred is None:
            draft.warn(f"the result '{title}' has no date")
        draft.records.append(
            TestResult(
                title=title,
                occurred_at=occurred,
                category=_row_category(row),
                status=status,
            )
        )


def _group_date(block: Node, warn: Warn) -> str | None:
    header = first(block, "div.abbrev_header", ".abbrev_header")
    if header is None:
        return None
    # The header holds the date twice (short, aria-hidden; long, screen-reader only): read one.
    for selector in ("span[aria-hidden='true']", "span.clearlabel"):
        text = raw_text(header.css_first(selector))
        value = parse_date(text)
        if value:
            return value
    return date_field(raw_text(header), "result date", warn)


def _row_category(row: Node) -> str | None:
    icon = first(row, "img.ListIcon", "td.iconColumn img")
    if icon is None:
        return None
    alt = (clean(icon.attributes.get("alt")) or "").lower()
    if alt in _LIST_CATEGORY:
        return _LIST_CATEGORY[alt]
    m = _ICON_PREFIX.search(icon.attributes.get("src") or "")
    if m:
        return _LIST_CATEGORY.get(m.group(1).lower(), "other")
    return None


# --- component history (trend) table -----------------------------------------------------------

_COLUMNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("date", ("date", "collected", "result date")),
    ("value", ("value", "your value", "result")),
    ("range", ("standard range", "reference range", "normal range", "range")),
    ("flag", ("flag",)),
    ("comment", ("comment", "comments")),
)


_COLUMN_WORDS: tuple[tuple[str, str], ...] = (
    ("range", "range"),
    ("comment", "comment"),
    ("flag", "flag"),
    ("date", "date"),
    ("value", "value"),
    ("value", "result"),
)


def read_trend(root: Node, draft: Draft) -> None:
    table = first(root, "table.TRPTableList")
    if table is None:
        return
    name = first_value(root, "div.TestResultsPocComponentHeader", ".TestResultsPocComponentHeader")
    columns = _trend_columns(table)
    rows = table.css("tr.TRPComponentTableRow")
    if not rows:
        rows = [tr for tr in table.css("tr") if tr.css_first("td") is not None]
    for row in rows:
        cells = [c for c in row.iter() if c.tag in {"td", "th"}]
        # Each row's first cell also carries the component name in its title.
        row_name = name or (clean(cells[0].attributes.get("title")) if cells else None)
        if not row_name:
            draft.warn("a history row has no component name and was left out")
            continue
        draft.records.append(_trend_record(row, row_name, cells, columns, draft.warn))


def _trend_columns(table: Node) -> dict[str, int]:
    columns: dict[str, int] = {}
    headers = table.css("th.TRPTableHeader") or table.css("th")
    for index, th in enumerate(headers):
        label = (visible_text(th) or "").lower()
        for field, labels in _COLUMNS:
            if field not in columns and label in labels:
                columns[field] = index
    for index, th in enumerate(headers):  # other wordings: "Date Collected", "Reference Range", …
        label = (visible_text(th) or "").lower()
        if not label or index in columns.values():
            continue
        for field, word in _COLUMN_WORDS:
            if field not in columns and word in label:
                columns[field] = index
                break
    if not columns:  # no header row: the order the classic table uses
        columns = {field: index for index, field in enumerate(("date", "value", "range", "flag", "comment"))}
    return columns


def _cell(cells: list[Node], columns: dict[str, int], field: str) -> Node | None:
    index = columns.get(field)
    return cells[index] if index is not None and index < len(cells) else None


def _trend_record(row: Node, name: str, cells: list[Node], columns: dict[str, int], warn: Warn) -> TestResult:
    date_node = row.css_first("div.tr_poc_graph_date") or _cell(cells, columns, "date")
    occurred = date_field(text_or_raw(date_node), "result date", warn, with_time=True)
    value_cell = _cell(cells, columns, "value")
    value, unit = _trend_value(value_cell)
    ref_range = _strip_unit(_cell(cells, columns, "range"), unit)
    page_flag = text_or_raw(_cell(cells, columns, "flag"))
    comment = text_or_raw(_cell(cells, columns, "comment"))
    component = make_component(name, value, unit, ref_range, page_flag)
    if ref_range is None:
        warn(f"component '{name}' has no reference range")
    return TestResult(
        title=name, occurred_at=occurred, category="lab", components=[component], comments=comment
    )


def _trend_value(cell: Node | None) -> tuple[str | None, str | None]:
    if cell is None:
        return None, None
    dark = cell.css_first("span.TRPDark, .TRPDark")
    if dark is not None:
        value = text_or_raw(dark)
        unit = None
        sib = dark.next
        while sib is not None and unit is None:
            if sib.tag != "-text":
                unit = text_or_raw(sib)
            sib = sib.next
        return value, unit
    text = text_or_raw(cell)
    if text and "\xa0" in (raw := cell.text(deep=True)):
        value, _, unit = raw.strip().partition("\xa0")
        return clean(value), clean(unit)
    return text, None


def _strip_unit(cell: Node | None, unit: str | None) -> str | None:
    """ "<5.7&nbsp;%" -> "<5.7": the history table appends a non-breaking space and the unit to the range."""
    text = text_or_raw(cell)
    if not text or cell is None:
        return None
    if unit and text.endswith(unit) and len(text) > len(unit):
        return clean(text[: -len(unit)])
    raw = cell.text(deep=True).strip()
    before, nbsp, _ = raw.rpartition("\xa0")
    if nbsp and parse_range(before) != (None, None):
        return clean(before)
    return text
