"""athenahealth test results: the result detail (lab, imaging, other) and the result list.

Detail (`[data-testid=test-result-detail]`): title and status from their testids; Collected / Resulted /
Ordered by / Performing lab (or Performed at) from the `result-meta` labels; one component per
`tr[data-testid=result-row]`, cells by class and else by column header; the flag is the page's tag,
else derived from the range (the row's `data-abnormal` is the portal's own marker and is not trusted);
`narrative` the paragraphs of `result-report`, `comments` those of `result-comments`.
List (`[data-testid=test-results-list]`): one record per `tr[data-testid=result-list-row]`.
"""

from __future__ import annotations

import re

from selectolax.lexbor import LexborNode

from bridge.records import Component, TestResult

from ..base import Draft, ParseError
from ..values import make_component, normalize_flag, split_value_unit
from .dom import (
    cell,
    dd_map,
    first_text,
    header_index,
    paragraphs,
    pick,
    route_path,
    text_of,
    tid,
    tid_text,
    when,
    word,
)

CLS_RESULT_NAME = ".pp-result-table__name"
CLS_RESULT_VALUE = ".pp-result-table__value"
CLS_VALUE_TEXT = ".pp-result-value"
CLS_RESULT_UNITS = ".pp-result-table__units"
CLS_RESULT_RANGE = ".pp-result-table__range"
CLS_RESULT_FLAG = ".pp-result-table__flag"
CLS_COMMENTS_BODY = ".pp-result-comments__body"
CLS_LIST_NAME = ".pp-results-list__name"
CLS_LIST_TYPE = ".pp-results-list__type"
CLS_LIST_DATE = ".pp-results-list__date"
CLS_LIST_STATUS = ".pp-results-list__status"
CLS_LIST_PROVIDER = ".pp-results-list__provider"

# Checked in this order, so "Final (corrected)" is corrected and "Preliminary, final to follow" preliminary.
STATUS_WORDS: dict[str, str] = {
    "corrected": "corrected",
    "amended": "corrected",
    "revised": "corrected",
    "updated": "corrected",
    "preliminary": "preliminary",
    "partial": "preliminary",
    "in progress": "preliminary",
    "pending": "pending",
    "ordered": "pending",
    "in process": "pending",
    "collected": "pending",
    "final": "final",
    "finalized": "final",
    "complete": "final",
    "completed": "final",
    "resulted": "final",
}
CATEGORY_WORDS: dict[str, str] = {
    "lab": "lab",
    "labs": "lab",
    "laboratory": "lab",
    "imaging": "imaging",
    "radiology": "imaging",
    "image": "imaging",
    "pathology": "pathology",
    "other": "other",
}
# Labels the portal shows beside each value (lower case, colon stripped).
L_COLLECTED = ("collected", "collection date", "date collected", "specimen collected")
L_RESULTED = ("resulted", "result date", "date resulted", "reported", "finalized")
L_ORDERED_BY = ("ordered by", "ordering provider", "ordering physician")
L_PERFORMER = ("performing lab", "performed at", "performing laboratory", "lab", "performing location")


def _component_warnings(draft: Draft, components: list[Component]) -> None:
    for c in components:
        if c.value_num is not None and c.unit is None:
            draft.warn(f"component '{c.name}' has no unit")
        if c.ref_range is None:
            draft.warn(f"component '{c.name}' has no reference range")


def _components(root: LexborNode, draft: Draft) -> list[Component]:
    rows = root.css('tr[data-testid="result-row"]')
    table = tid(root, "result-table")
    if not rows and table is not None:  # rows without their hook: every body row of the result table
        rows = [r for r in table.css("tbody tr") if r.css_first("td") is not None]
    headers = header_index(table or (rows[0].parent.parent if rows and rows[0].parent else None))
    components: list[Component] = []
    for row in rows:
        name = text_of(cell(row, CLS_RESULT_NAME, headers, "test", "component", "name"))
        if name is None:
            name = text_of(row.css_first("th"))
        value_cell = cell(row, CLS_RESULT_VALUE, headers, "result", "value", "your value")
        # The value's own span when there is one: a cell may add screen-reader text beside it.
        value = text_of(value_cell.css_first(CLS_VALUE_TEXT) if value_cell is not None else None) or text_of(
            value_cell
        )
        if name is None:
            draft.warn("a result row without a test name was skipped")
            continue
        if value is None:
            draft.warn(f"component '{name}' shows no value")
        unit = text_of(cell(row, CLS_RESULT_UNITS, headers, "units", "unit"))
        if value and not unit:  # "118 mg/dL" in one cell, with no units column
            value, unit = split_value_unit(value)
        rng = text_of(
            cell(row, CLS_RESULT_RANGE, headers, "standard range", "reference range", "range", "normal range")
        )
        flag_cell = cell(row, CLS_RESULT_FLAG, headers, "flag")
        flag = text_of(flag_cell)
        if flag_cell is not None and normalize_flag(flag) is None:
            # An icon instead of the word: its title or aria-label names the flag.
            for node in (flag_cell, *flag_cell.css("[title], [aria-label]")):
                named = node.attributes.get("title") or node.attributes.get("aria-label")
                if normalize_flag(named):
                    flag = named
                    break
        components.append(make_component(name, value, unit, rng, flag))
    return components


def _status(text: str | None) -> str | None:
    return word(text, STATUS_WORDS)


def _category(root: LexborNode, url: str) -> str | None:
    kind = (root.attributes.get("data-result-type") or "").strip().lower()
    if kind in CATEGORY_WORDS:
        return CATEGORY_WORDS[kind]
    m = re.search(r"/test-results/([^/]+)/", route_path(url))
    if m and m[1].lower() in CATEGORY_WORDS:
        return CATEGORY_WORDS[m[1].lower()]
    return None


def read_test_result(root: LexborNode, url: str, draft: Draft) -> None:
    title = tid_text(root, "result-name") or first_text(root, "h1")
    if title is None:
        raise ParseError("the test result shows no name")
    meta = dd_map(tid(root, "result-meta") or root)
    components = _components(root, draft)
    report = tid(root, "result-report")
    narrative = paragraphs(report)
    comments_box = tid(root, "result-comments")
    comments = None
    if comments_box is not None:
        body = comments_box.css_first(CLS_COMMENTS_BODY)
        comments = paragraphs(body) if body is not None else paragraphs(comments_box, drop_headings=True)
    category = _category(root, url)
    if category is None:
        category = "imaging" if report is not None and not components else ("lab" if components else None)
    collected = when(pick(meta, *L_COLLECTED))
    resulted = when(pick(meta, *L_RESULTED))
    draft.records.append(
        TestResult(
            title=title,
            occurred_at=collected or resulted,
            category=category,
            status=_status(tid_text(root, "result-status")),
            resulted_at=resulted,
            ordered_by=text_of(pick(meta, *L_ORDERED_BY)),
            performing_lab=text_of(pick(meta, *L_PERFORMER)),
            components=components,
            narrative=narrative,
            comments=comments,
        )
    )
    _component_warnings(draft, components)


def read_test_result_list(root: LexborNode, url: str, draft: Draft) -> None:
    table = tid(root, "results-table") or root.css_first("table")
    headers = header_index(table)
    for row in root.css('tr[data-testid="result-list-row"]'):
        name_cell = cell(row, CLS_LIST_NAME, headers, "test name", "test", "name")
        link = name_cell.css_first("a") if name_cell is not None else None
        title = text_of(link) or text_of(name_cell)
        if title is None:
            draft.warn("a result row without a test name was skipped")
            continue
        type_text = text_of(cell(row, CLS_LIST_TYPE, headers, "type", "category"))
        category = word(type_text, CATEGORY_WORDS) or CATEGORY_WORDS.get(
            (row.attributes.get("data-result-type") or "").lower()
        )
        draft.records.append(
            TestResult(
                title=title,
                category=category,
                occurred_at=when(cell(row, CLS_LIST_DATE, headers, "date collected", "date", "collected")),
                status=_status(text_of(cell(row, CLS_LIST_STATUS, headers, "status"))),
                ordered_by=text_of(cell(row, CLS_LIST_PROVIDER, headers, "ordered by", "provider")),
            )
        )
