"""Oracle Health (Cerner) results: the results list, one analyte's history, imaging reports.

Order of extraction, per item: the real hooks first (`.labs-list > li.consumer-card-item`, the analyte
name in `.small-heading bdi`, the value and unit together in `.x-small-heading bdi`), then the
project's synthetic hooks (`.result-interpretation`, `.result-meta .date/.time`,
`.result-reference-range bdi`, `.result-status .consumer-badge`, `.result-comment-text`), then the
visible labels beside a value ("Reference Range:", "Performed at:", "Interpretation:", with or without
a `bdi`), and for history rows without their hooks the order of the `bdi`s (value first, range last).
`li[data-normalcy]` is always "Normal" on the real portal and is ignored: flags come from the page's
interpretation word, else from the range.
"""

from __future__ import annotations

from typing import Literal

from selectolax.lexbor import LexborNode

from bridge.records import Component, TestResult

from ..base import Draft
from ..dom import has_class
from ..page import Frame
from ..text import clean, paragraphs_of
from ..values import make_component, normalize_flag, split_value_unit
from .dom import (
    ancestor,
    dl_pairs,
    first_text,
    is_visible,
    moment,
    section_items,
    select,
    stamp,
    text_of,
    unlabelled_text,
)

LABS_ROOT = "#labs"
RESULT_ITEM = ".labs-list > li, li[data-normalcy], li.history-row"
PANEL_HEADER = ".consumer-card-header"
ANALYTE_NAME = (".small-heading bdi", ".small-heading")
VALUE = ("[data-link] .x-small-heading bdi", ".x-small-heading bdi", ".history-value bdi", ".x-small-heading")
FLAG = (".result-interpretation", ".history-interpretation bdi", ".history-interpretation")
RANGE = (".result-reference-range bdi", ".history-range bdi", ".reference-range bdi")
PERFORMED_AT = (".history-source bdi", ".result-performing-location bdi", ".performing-location bdi")
RANGE_FIELDS = ".result-reference-range, .history-range, .reference-range"
PERFORMED_AT_FIELDS = ".history-source, .result-performing-location, .performing-location"
FLAG_FIELDS = ".history-interpretation"
STATUS_BADGE = ".result-status .consumer-badge, .result-status"
BADGE = ".consumer-badge"
COMMENT = ".result-comment-text"
HISTORY_CLASS_HOOKS = (
    ".history-value, .history-source, .history-range, .history-interpretation, .x-small-heading"
)
EMPTY_STATE = ".consumer-empty-state"
IMAGING_REPORT = ".imaging-report"
REPORT_TEXT = ".report-text"
REPORT_DETAILS = "dl.report-details"

Status = Literal["final", "preliminary", "pending", "corrected"]
Category = Literal["lab", "imaging", "pathology", "other"]

STATUS_WORDS: dict[str, Status] = {
    "final": "final",
    "preliminary": "preliminary",
    "prelim": "preliminary",
    "pending": "pending",
    "in process": "pending",
    "in progress": "pending",
    "incomplete": "pending",
    "ordered": "pending",
    "corrected": "corrected",
    "amended": "corrected",
    "revised": "corrected",
    "modified": "corrected",
}
OTHER_PANELS = ("vital sign", "vitals")
# Visible labels beside a bdi -> which field it holds (checked in order).
LABEL_ROLES: tuple[tuple[str, str], ...] = (
    ("range", "range"),
    ("normal", "range"),
    ("performed", "lab"),
    ("performing", "lab"),
    ("location", "lab"),
    ("interpretation", "flag"),
    ("flag", "flag"),
    ("abnormal", "flag"),
)


def status_word(text: str | None) -> Status | None:
    key = (clean(text) or "").lower().rstrip(".")
    if key in STATUS_WORDS:
        return STATUS_WORDS[key]
    for word, status in STATUS_WORDS.items():
        if word in key:
            return status
    return None


def _item_status(item: LexborNode) -> Status | None:
    for node in select(item, STATUS_BADGE):
        found = status_word(text_of(node))
        if found:
            return found
    for node in select(item, BADGE):  # a badge that is not the interpretation flag
        if has_class(node, "result-interpretation"):
            continue
        found = status_word(text_of(node))
        if found:
            return found
    return None


def _when(item: LexborNode) -> str | None:
    day = text_of(item.css_first(".date"))
    time = text_of(item.css_first(".time"))
    return stamp(day, time)


def _component(
    draft: Draft, item: LexborNode, name: str, history: bool = False
) -> tuple[Component, str | None]:
    """One analyte: (component, performing lab). Warns for a missing value, range or unit."""
    raw_value = first_text(item, *VALUE)
    # The bdi inside each field first; else the field's own text without its "Label:" span.
    flag = first_text(item, *FLAG) or _field(item, FLAG_FIELDS)
    rng = first_text(item, *RANGE) or _field(item, RANGE_FIELDS)
    lab = first_text(item, *PERFORMED_AT) or _field(item, PERFORMED_AT_FIELDS)
    # Without (some of) the class hooks: a bdi whose container labels it ("Reference Range:",
    # "Performed at:", "Interpretation:"), and in a history row the bdis' order (value+unit,
    # "Performed at", interpretation when flagged, range).
    labelled = _labelled_bdis(item)
    rng = rng or labelled.get("range")
    flag = flag or labelled.get("flag") or _badge_flag(item)
    lab = lab or labelled.get("lab")
    if history and (item.css_first(HISTORY_CLASS_HOOKS) is None or not (rng and lab)):
        bdis = [t for b in item.css("bdi") if ancestor(b, "small-heading") is None and (t := text_of(b))]
        if bdis and not raw_value:
            raw_value = bdis[0]
        if len(bdis) >= 3 and not labelled:
            lab, rng = lab or bdis[1], rng or bdis[-1]
        if len(bdis) >= 4 and not labelled:
            flag = flag or bdis[2]
    value, unit = split_value_unit(raw_value)
    comp = make_component(name, value, unit, rng, flag)
    if comp.value is None:
        draft.warn(f"component '{name}' shows no value")
    if comp.ref_range is None:
        draft.warn(f"component '{name}' has no reference range")
    if comp.value_num is not None and comp.unit is None:
        draft.warn(f"component '{name}' has no unit")
    return comp, lab


def _field(item: LexborNode, selector: str) -> str | None:
    for node in select(item, selector):
        value = unlabelled_text(node)
        if value:
            return value
    return None


def _badge_flag(item: LexborNode) -> str | None:
    """A badge that shows a flag word (High, Low, Critical, Abnormal) without the interpretation class."""
    for node in select(item, BADGE):
        text = text_of(node)
        if text and status_word(text) is None and normalize_flag(text):
            return text
    return None


def _label_role(label: str | None) -> str | None:
    key = (clean(label) or "").lower()
    for word, role in LABEL_ROLES:
        if word in key:
            return role
    return None


def _labelled_bdis(item: LexborNode) -> dict[str, str]:
    """Role ("range", "lab", "flag") -> text of each bdi that its own container labels."""
    found: dict[str, str] = {}
    for bdi in item.css("bdi"):
        parent = bdi.parent
        value = text_of(bdi)
        if parent is None or not value or ancestor(bdi, "small-heading", "x-small-heading") is not None:
            continue
        label_node = parent.css_first(".label")
        label = text_of(label_node) if label_node is not None else None
        if label is None:
            whole = text_of(parent) or ""
            label = whole.replace(value, "", 1) if len(whole) < 60 else None
        role = _label_role(label)
        if role and role not in found:
            found[role] = value
    # A labelled field without a bdi: "<span class="label">Reference Range:</span> 136-145".
    for label_node in item.css(".label"):
        parent = label_node.parent
        role = _label_role(text_of(label_node))
        if parent is None or role is None or role in found or parent.css_first(".date, .time") is not None:
            continue
        value = unlabelled_text(parent)
        if value and len(value) < 80:
            found[role] = value
    return found


def _category(panel: str | None) -> Category:
    key = (panel or "").lower()
    return "other" if any(word in key for word in OTHER_PANELS) else "lab"


def _comments(items: list[LexborNode]) -> str | None:
    texts = [t for item in items for t in (text_of(n) for n in item.css(COMMENT)) if t]
    return "\n\n".join(texts) or None


def parse_results(frame: Frame, root: LexborNode, draft: Draft) -> bool:
    """The results list and a result history. Returns whether the page explained an empty list."""
    labs = root.css_first(LABS_ROOT) or root
    history = frame.css_first("li.history-row") is not None or "/results/history" in frame.path
    if history:
        return _parse_history(labs, draft)
    # One test_result per (panel heading, collection time), in order of first appearance.
    groups: dict[tuple[str | None, str | None], tuple[TestResult, list[LexborNode]]] = {}
    for panel, item in section_items(labs, RESULT_ITEM, PANEL_HEADER):
        name = first_text(item, *ANALYTE_NAME)
        if not name:
            draft.warn("a result item shows no test name and was skipped")
            continue
        comp, _ = _component(draft, item, name)
        when = _when(item)
        key = (panel, when)
        if key not in groups:
            groups[key] = (
                TestResult(title=panel or name, occurred_at=when, category=_category(panel), status=None),
                [],
            )
        record, members = groups[key]
        record.components.append(comp)
        members.append(item)
        status = _item_status(item)
        if status and record.status is None:
            record.status = status
    for record, members in groups.values():
        record.comments = _comments(members)
        draft.records.append(record)
    return _empty_state(labs, draft, "results")


def _parse_history(labs: LexborNode, draft: Draft) -> bool:
    """One analyte's history: one test_result per row, titled with the analyte."""
    title = first_text(labs, f"{PANEL_HEADER} bdi", PANEL_HEADER, "h2 bdi", "h2")
    for item in select(labs, "li.history-row, .history-list > li"):
        name = title or first_text(item, *ANALYTE_NAME) or "Result"
        comp, lab = _component(draft, item, name, history=True)
        draft.records.append(
            TestResult(
                title=name,
                occurred_at=_when(item),
                category="lab",
                status=_item_status(item),
                performing_lab=lab,
                components=[comp],
                comments=_comments([item]),
            )
        )
    return _empty_state(labs, draft, "results")


def _empty_state(root: LexborNode, draft: Draft, what: str) -> bool:
    node = root.css_first(EMPTY_STATE)
    if node is None or draft.records or not is_visible(node):
        return False
    text = text_of(node)
    draft.warn(f"the page shows no {what}" + (f": {text}" if text else ""))
    return True


def _narrative(report: LexborNode) -> str | None:
    body = report.css_first(REPORT_TEXT)
    if body is None:
        return None
    paras = [text_of(p) for p in body.css("p")]
    kept = [p for p in paras if p]
    if kept:
        return "\n\n".join(kept)
    return paragraphs_of(body)


def _detail(pairs: dict[str, str], *labels: str) -> str | None:
    for label in labels:
        if label in pairs:
            return pairs[label]
    return None


def parse_imaging(frame: Frame, root: LexborNode, draft: Draft) -> bool:
    """Imaging reports (`.imaging-report` with `dl.report-details`); on a study list, one record per study link."""
    reports = select(root, IMAGING_REPORT)
    for report in reports:
        title = first_text(report, f"{PANEL_HEADER} bdi", PANEL_HEADER, "h2", "h3")
        pairs = dl_pairs(report.css_first(REPORT_DETAILS) or report)
        if not title:
            draft.warn("an imaging report shows no exam name")
        narrative = _narrative(report)
        if narrative is None:
            draft.warn(f"imaging report '{title}' shows no report text")
        draft.records.append(
            TestResult(
                title=title,
                category="imaging",
                occurred_at=moment(_detail(pairs, "exam date", "exam date/time", "study date", "date")),
                status=status_word(_detail(pairs, "status")),
                resulted_at=moment(_detail(pairs, "report signed", "signed", "resulted")),
                ordered_by=_detail(pairs, "ordering provider", "ordered by"),
                performing_lab=_detail(pairs, "performing location", "performed at", "location"),
                narrative=narrative,
            )
        )
    if reports:
        return False
    # A study list (guessed markup): each link to a study is one result.
    seen: set[str] = set()
    for link in root.css("a[href*='/imaging/studies/']"):
        href = link.attributes.get("href") or ""
        study = href.split("/imaging/studies/", 1)[1].split("/", 1)[0]
        if not study or study in seen or not is_visible(link):
            continue
        seen.add(study)
        item = ancestor(link, "consumer-card-item", tags=frozenset({"li", "tr", "article"})) or link
        draft.records.append(
            TestResult(
                title=first_text(item, ".small-heading bdi", ".small-heading", "bdi") or text_of(link),
                occurred_at=_when(item),
                category="imaging",
                status=_item_status(item),
            )
        )
    return _empty_state(root, draft, "imaging studies")
