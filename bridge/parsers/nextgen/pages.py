"""The NextGen PxP readers, one per routed page component. Each fills a `Draft` in place.

Order of extraction in every reader: visible labels and Angular's `cdk-column-*` column ids first,
then the `pxp-*` classes (named constants in `common`), then document structure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Literal, TypeVar

from selectolax.lexbor import LexborNode

from bridge.records import Appointment, Component, Medication, Message, Note, TestResult, Visit

from ..base import Draft, ParseError
from ..dates import parse_date, parse_datetime
from ..labels import label_matches
from ..text import clean
from ..values import make_component, normalize_flag, refill_count, split_value_unit, value_num
from .common import (
    br_paragraphs,
    cell_text,
    classes,
    data_rows,
    first,
    has_class,
    header_columns,
    own_text,
    row_cells,
    select,
    text_at,
    text_of,
)

# --- selectors ------------------------------------------------------------------------------
SEL_RESULT_CARD = "mat-card.pxp-result-card, .pxp-result-card"
SEL_RESULT_TITLE = ".pxp-result-title, mat-card-title"
SEL_META_ITEM = ".pxp-meta-item"
SEL_META_LABEL = ".pxp-meta-label"
SEL_META_VALUE = ".pxp-meta-value"
SEL_STATUS_CHIP = ".pxp-status-chip"
SEL_RESULT_TABLE = "table.pxp-result-table"
SEL_COMMENTS = ".pxp-result-comments"
SEL_REPORT = "pre.pxp-report-text, .pxp-report-text"
SEL_RESULTS_TABLE = "table.pxp-results-table, table"
SEL_THREAD_SUBJECT = ".pxp-thread-subject"
SEL_MESSAGE = "mat-card.pxp-message, .pxp-message"
SEL_MSG_FROM = ".pxp-message-field--from"
SEL_MSG_TO = ".pxp-message-field--to"
SEL_MSG_DATE = ".pxp-message-field--date"
SEL_MSG_BODY = ".pxp-message-body"
SEL_FIELD_VALUE = ".pxp-field-value"
SEL_RECIPIENT = ".pxp-recipient"
SEL_TAB_BODY = "mat-tab-body"
SEL_APPT_CARD = "mat-card.pxp-appt-card, .pxp-appt-card"
SEL_APPT_DATETIME = ".pxp-appt-card__datetime"
SEL_APPT_TYPE = ".pxp-appt-card__type"
SEL_APPT_FIELD = ".pxp-appt-card__field"
SEL_APPT_INSTRUCTIONS = ".pxp-appt-card__instructions-text"
SEL_MED_TABLE = "table.pxp-med-table, table"
SEL_DOC_VIEWER = "pxp-document-viewer, .pxp-doc-viewer"
SEL_DOC_CONTENT = ".pxp-doc-viewer__content"
SEL_DOC_TITLE = ".pxp-doc-viewer__title, .cda-title"
SEL_DOC_META = ".pxp-doc-viewer__meta"
SEL_DOC_ITEM = ".pxp-doc-item"
SEL_CDA_HEADER = "table.cda-header"
SEL_CDA_SECTION = ".cda-section[data-section]"

Category = Literal["lab", "imaging", "pathology", "other"]
ResultStatus = Literal["final", "preliminary", "pending", "corrected"]
ApptStatus = Literal["scheduled", "cancelled", "completed", "requested"]
MedStatus = Literal["active", "discontinued"]
T = TypeVar("T")

RESULT_CATEGORY: dict[str, Category] = {
    "laboratory": "lab",
    "lab": "lab",
    "radiology": "imaging",
    "imaging": "imaging",
    "pathology": "pathology",
    "cardiology": "other",
}
RESULT_STATUS: dict[str, ResultStatus] = {
    "final": "final",
    "preliminary": "preliminary",
    "prelim": "preliminary",
    "partial": "preliminary",
    "pending": "pending",
    "in progress": "pending",
    "ordered": "pending",
    "corrected": "corrected",
    "amended": "corrected",
    "revised": "corrected",
}
APPT_STATUS: dict[str, ApptStatus] = {
    "scheduled": "scheduled",
    "confirmed": "scheduled",
    "booked": "scheduled",
    "checked in": "scheduled",
    "cancelled": "cancelled",
    "canceled": "cancelled",
    "completed": "completed",
    "complete": "completed",
    "requested": "requested",
    "pending": "requested",
}
MED_STATUS: dict[str, MedStatus] = {
    "active": "active",
    "discontinued": "discontinued",
    "inactive": "discontinued",
    "stopped": "discontinued",
}

# Header texts of the tables, for pages whose cells lack cdk-column ids.
LAB_COLUMNS = {
    "test": "component",
    "component": "component",
    "result": "value",
    "value": "value",
    "flag": "flag",
    "units": "units",
    "unit": "units",
    "reference range": "range",
    "range": "range",
}
LIST_COLUMNS = {
    "test": "test",
    "type": "type",
    "collected": "collected",
    "resulted": "resulted",
    "status": "status",
    "ordering provider": "provider",
    "provider": "provider",
}
MED_COLUMNS = {
    "medication": "medication",
    "directions": "directions",
    "start date": "started",
    "started": "started",
    "prescribed by": "prescriber",
    "prescriber": "prescriber",
    "quantity": "quantity",
    "refills": "refills",
    "status": "status",
}


def _lookup(table: Mapping[str, T], text: str | None) -> T | None:
    key = (clean(text) or "").lower()
    return table.get(key)


def _status(draft: Draft, table: Mapping[str, T], text: str | None, what: str) -> T | None:
    if not text:
        draft.warn(f"{what} shows no status")
        return None
    status = _lookup(table, text)
    if status is None:
        draft.warn(f"{what} has an unknown status {text!r}")
    return status


# --- test result detail -----------------------------------------------------------------------


def _meta(card: LexborNode) -> dict[str, str]:
    """`.pxp-meta-label` -> `.pxp-meta-value` pairs, labels lower-cased."""
    pairs: dict[str, str] = {}
    for item in select(card, SEL_META_ITEM):
        label = text_at(item, SEL_META_LABEL)
        value = text_at(item, SEL_META_VALUE)
        if label and value:
            pairs.setdefault(label.lower().rstrip(":"), value)
    return pairs


def read_result_detail(root: LexborNode, draft: Draft) -> None:
    cards = select(root, SEL_RESULT_CARD)
    if not cards:
        raise ParseError("a NextGen result page without a result card")
    for card in cards:
        draft.records.append(_result_card(card, draft))


def _result_card(card: LexborNode, draft: Draft) -> TestResult:
    title = text_at(card, SEL_RESULT_TITLE)
    if not title:
        raise ParseError("a NextGen result card without a test name")
    meta = _meta(card)
    kind_text = card.attributes.get("data-result-type") or text_at(card, "mat-card-subtitle")
    category = _lookup(RESULT_CATEGORY, kind_text)
    if category is None:
        category = "imaging" if first(card, SEL_REPORT) is not None else "lab"
        draft.warn(f"result {title!r} has no recognized result type; read as {category}")
    status = _status(
        draft,
        RESULT_STATUS,
        meta.get("result status") or meta.get("status") or text_at(card, SEL_STATUS_CHIP),
        f"result {title!r}",
    )
    collected = parse_datetime(meta.get("collection date") or meta.get("collected"))
    resulted = parse_datetime(meta.get("result date") or meta.get("resulted"))
    if collected is None:
        draft.warn(f"result {title!r} shows no collection date")
    ordered_by = meta.get("ordering provider") or meta.get("ordered by")
    if ordered_by is None:
        draft.warn(f"result {title!r} shows no ordering provider")
    components = []
    table = first(card, SEL_RESULT_TABLE) or _table_with(card, "component")
    if table is not None:
        components = _components(table, draft)
    narrative = br_paragraphs(first(card, SEL_REPORT))
    if category == "lab" and not components and status != "pending":
        draft.warn(f"result {title!r} shows no components")
    return TestResult(
        title=title,
        occurred_at=collected or resulted,
        category=category,
        status=status,
        resulted_at=resulted,
        ordered_by=ordered_by,
        performing_lab=meta.get("performing lab") or meta.get("performing facility"),
        components=components,
        narrative=narrative,
        comments=br_paragraphs(first(card, SEL_COMMENTS)),
    )


def _table_with(root: LexborNode, column: str) -> LexborNode | None:
    for table in root.css("table"):
        if table.css_first(f".cdk-column-{column}") is not None:
            return table
    return None


def _components(table: LexborNode, draft: Draft) -> list[Component]:
    columns = header_columns(table, LAB_COLUMNS)
    out: list[Component] = []
    for row in data_rows(table):
        cells = row_cells(row, columns)
        name = cell_text(cells, "component", "test", "name")
        if not name:
            continue
        value = cell_text(cells, "value", "result")
        unit = cell_text(cells, "units", "unit")
        if value and not unit:
            value, unit = split_value_unit(value)
        flag_cell = cells.get("flag")
        flag = None
        if flag_cell is not None:
            # The flag's title or aria-label names it ("Critical low" for "LL"; an icon's meaning);
            # else the letters shown.
            flag = None
            for node in (flag_cell, *flag_cell.css("[title], [aria-label]")):
                named = clean(node.attributes.get("title") or node.attributes.get("aria-label"))
                if normalize_flag(named):
                    flag = named
                    break
            flag = flag or text_of(flag_cell)
        rng = cell_text(cells, "range", "reference", "referencerange")
        comp = make_component(name, value, unit, rng, flag)
        if comp.value is None:
            draft.warn(f"component {name!r} has no value")
        if comp.value_num is not None and comp.unit is None and value_num(comp.value) is not None:
            draft.warn(f"component {name!r} has no unit")
        if comp.ref_range is None:
            draft.warn(f"component {name!r} has no reference range")
        out.append(comp)
    return out


# --- test result list ---------------------------------------------------------------------------


def read_result_list(root: LexborNode, draft: Draft) -> None:
    for table in select(root, SEL_RESULTS_TABLE):
        columns = header_columns(table, LIST_COLUMNS)
        if "test" not in columns and table.css_first(".cdk-column-test") is None:
            continue
        for row in data_rows(table):
            cells = row_cells(row, columns)
            test_cell = cells.get("test")
            if test_cell is None:
                continue
            title = text_at(test_cell, "a") or _without_badges(test_cell)
            if not title:
                continue
            type_text = cell_text(cells, "type")
            category = _lookup(RESULT_CATEGORY, type_text) or ("other" if type_text else None)
            collected = parse_date(cell_text(cells, "collected"))
            resulted = parse_date(cell_text(cells, "resulted"))
            draft.records.append(
                TestResult(
                    title=title,
                    occurred_at=collected or resulted,
                    category=category,
                    status=_status(draft, RESULT_STATUS, cell_text(cells, "status"), f"result {title!r}"),
                    resulted_at=resulted,
                    ordered_by=cell_text(cells, "provider"),
                )
            )
        return


def _without_badges(cell: LexborNode) -> str | None:
    """A cell's text without the "New" badge spans."""
    parts = []
    child = cell.child
    while child is not None:
        if child.tag == "-text":
            parts.append(clean(child.text_content) or "")
        elif not any(c.startswith("pxp-new") for c in classes(child)):
            parts.append(text_of(child) or "")
        child = child.next
    return clean(" ".join(parts))


# --- message thread -------------------------------------------------------------------------------


def _direction_by_sender(field_from: LexborNode | None, sender: str | None, draft: Draft) -> str | None:
    """Without the sent/received classes: a representative writes "on behalf of" the patient, and the
    patient signs as themself; any other sender in a thread is the practice."""
    if re.search(r"\bon behalf of\b", text_of(field_from) or "", re.I):
        return "from_patient"
    patient = draft.patient.name if draft.patient else None
    if not sender or not patient:
        return None
    return "from_patient" if sender.casefold() == patient.casefold() else "to_patient"


def read_message_thread(root: LexborNode, draft: Draft) -> None:
    subject = text_at(root, SEL_THREAD_SUBJECT)
    if subject is None:
        draft.warn("the message thread shows no subject")
    for card in select(root, SEL_MESSAGE):
        field_from = first(card, SEL_MSG_FROM)
        sender = text_at(field_from, SEL_FIELD_VALUE) if field_from is not None else None
        field_to = first(card, SEL_MSG_TO)
        recipients: list[str] = []
        if field_to is not None:
            recipients = [r for r in (text_of(n) for n in select(field_to, SEL_RECIPIENT)) if r]
            if not recipients:
                whole = text_at(field_to, SEL_FIELD_VALUE)
                recipients = [whole] if whole else []
        field_date = first(card, SEL_MSG_DATE)
        sent = parse_datetime(text_at(field_date, SEL_FIELD_VALUE) if field_date is not None else None)
        body = br_paragraphs(first(card, SEL_MSG_BODY))
        cls = classes(card)
        direction = (
            "from_patient"
            if "pxp-message--sent" in cls
            else "to_patient"
            if "pxp-message--received" in cls
            else None
        )
        if direction is None:
            direction = _direction_by_sender(field_from, sender, draft)
        if sender is None:
            draft.warn("a message shows no sender")
        if sent is None:
            draft.warn("a message shows no date")
        if body is None:
            draft.warn("a message has no body")
        draft.records.append(
            Message(
                title=subject,
                occurred_at=sent,
                thread_subject=subject,
                sender=sender,
                recipients=recipients,
                body=body,
                direction=direction,
            )
        )


# --- appointments -------------------------------------------------------------------------------


def _field(card: LexborNode, modifier: str, label: str) -> LexborNode | None:
    """A card field by its modifier class, else by its visible label."""
    node = first(card, f"{SEL_APPT_FIELD}--{modifier}")
    if node is not None:
        return node
    for candidate in select(card, SEL_APPT_FIELD):
        if label_matches(text_at(candidate, ".pxp-field-label"), label):
            return candidate
    return None


def _appointment_cards(root: LexborNode) -> list[LexborNode]:
    """The cards of the active tab only (an inactive mat-tab-body is an empty placeholder, and
    never trusted even when it is not)."""
    bodies = select(root, SEL_TAB_BODY)
    active = [
        b for b in bodies if has_class(b, "mat-mdc-tab-body-active") or has_class(b, "mat-tab-body-active")
    ]
    if active:
        return [card for body in active for card in select(body, SEL_APPT_CARD)]
    if bodies:
        visible = [b for b in bodies if b.attributes.get("aria-hidden") != "true"]
        return [card for body in visible for card in select(body, SEL_APPT_CARD)]
    return select(root, SEL_APPT_CARD)


def read_appointments(root: LexborNode, draft: Draft) -> None:
    for card in _appointment_cards(root):
        when = parse_datetime(text_at(card, SEL_APPT_DATETIME))
        visit_type = text_at(card, SEL_APPT_TYPE)
        provider_field = _field(card, "provider", "Provider")
        location_field = _field(card, "location", "Location")
        provider = text_at(provider_field, SEL_FIELD_VALUE) if provider_field is not None else None
        location = text_at(location_field, SEL_FIELD_VALUE) if location_field is not None else None
        status = _status(draft, APPT_STATUS, text_at(card, SEL_STATUS_CHIP), f"appointment {visit_type!r}")
        if when is None:
            draft.warn(f"appointment {visit_type!r} shows no date")
        draft.records.append(
            Appointment(
                title=visit_type,
                occurred_at=when,
                visit_type=visit_type,
                provider=provider,
                department=None,
                location=location,
                status=status,
                instructions=br_paragraphs(first(card, SEL_APPT_INSTRUCTIONS)),
            )
        )


# --- medications --------------------------------------------------------------------------------


def read_medications(root: LexborNode, draft: Draft) -> None:
    for table in select(root, SEL_MED_TABLE):
        columns = header_columns(table, MED_COLUMNS)
        if "medication" not in columns and table.css_first(".cdk-column-medication") is None:
            continue
        for row in data_rows(table):
            cells = row_cells(row, columns)
            title = cell_text(cells, "medication")
            if not title:
                continue
            status_text = cell_text(cells, "status")
            status = _lookup(MED_STATUS, status_text)
            if status is None and "pxp-row--inactive" in classes(row):
                status = "discontinued"
            if status is None:
                draft.warn(f"medication {title!r} shows no known status")
            draft.records.append(
                Medication(
                    title=title,
                    occurred_at=parse_date(cell_text(cells, "started")),
                    instructions=cell_text(cells, "directions"),
                    prescriber=cell_text(cells, "prescriber"),
                    status=status,
                    quantity=cell_text(cells, "quantity"),
                    refills_remaining=refill_count(cell_text(cells, "refills")),
                    pharmacy=None,
                )
            )
        return


# --- documents ----------------------------------------------------------------------------------


def _cda_header(doc: LexborNode) -> dict[str, str]:
    pairs: dict[str, str] = {}
    table = first(doc, SEL_CDA_HEADER)
    if table is None:
        return pairs
    for row in table.css("tr"):
        label = text_at(row, "th")
        value = text_at(row, "td")
        if label and value:
            pairs.setdefault(label.lower().rstrip(":"), value)
    return pairs


def _sections(doc: LexborNode) -> dict[str, LexborNode]:
    found: dict[str, LexborNode] = {}
    for section in select(doc, SEL_CDA_SECTION):
        key = (section.attributes.get("data-section") or "").strip().lower()
        if key and key not in found:
            found[key] = section
    return found


def is_visit_summary(root: LexborNode) -> bool:
    viewer = first(root, SEL_DOC_VIEWER)
    if viewer is None:
        return False
    title = (text_at(viewer, SEL_DOC_TITLE) or "").lower()
    return "visit summary" in title or (
        first(viewer, SEL_CDA_HEADER) is not None and bool(_cda_header(viewer).get("encounter date"))
    )


def read_visit_summary(root: LexborNode, draft: Draft) -> None:
    viewer = first(root, SEL_DOC_VIEWER)
    doc = first(viewer, ".cda-document") or first(viewer, SEL_DOC_CONTENT) or viewer
    if doc is None:
        raise ParseError("a NextGen visit summary without its document")
    header = _cda_header(doc)
    sections = _sections(doc)
    visit_type = header.get("encounter type") or header.get("visit type")
    title = visit_type or text_at(viewer, SEL_DOC_TITLE)
    when = parse_datetime(
        header.get("encounter date") or header.get("date of service") or header.get("visit date")
    )
    if when is None:
        draft.warn("the visit summary shows no encounter date")
    diagnoses: list[str] = []
    dx = sections.get("diagnoses")
    if dx is not None:
        diagnoses = [d for d in (text_of(li) for li in dx.css("li")) if d]
        if not diagnoses:
            diagnoses = (br_paragraphs(dx) or "").split("\n\n") if br_paragraphs(dx) else []
    reason = sections.get("reason")
    instructions = sections.get("instructions")
    provider = header.get("provider") or header.get("rendering provider")
    location = header.get("location") or header.get("facility")
    for field, value in (("provider", provider), ("location", location), ("reason for visit", reason)):
        if value is None:
            draft.warn(f"the visit summary shows no {field}")
    draft.records.append(
        Visit(
            title=title,
            occurred_at=when,
            visit_type=visit_type,
            provider=provider,
            department=None,
            location=location,
            reason=text_of(reason),
            diagnoses=diagnoses,
            summary_text=br_paragraphs(instructions),
        )
    )


def read_document(root: LexborNode, draft: Draft) -> None:
    """A shared document that is not a visit summary (a letter, a referral): a `note`."""
    viewer = first(root, SEL_DOC_VIEWER)
    content = first(viewer, SEL_DOC_CONTENT) or viewer
    meta = text_at(viewer, SEL_DOC_META) or ""
    title = text_at(viewer, SEL_DOC_TITLE)
    m = re.search(r"\bby\s+(.+)$", meta)
    author = clean(m.group(1)) if m else None
    when = parse_date(meta.split(" by ")[0]) if meta else None
    text = br_paragraphs(content)
    if text is None:
        draft.warn(f"document {title!r} has no readable text")
    draft.records.append(Note(title=title, occurred_at=when, author=author, text=text))


def read_document_list(root: LexborNode, draft: Draft) -> None:
    """The Documents list with no document open: one `note` per shared document, without text."""
    for item in select(root, SEL_DOC_ITEM):
        title = text_at(item, ".mdc-list-item__primary-text") or own_text(item)
        when = parse_date(text_at(item, ".mdc-list-item__secondary-text"))
        if title:
            draft.records.append(Note(title=title, occurred_at=when))
