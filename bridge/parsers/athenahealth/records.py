"""athenahealth records other than test results: message threads and the inbox, appointments,
medications, visit summaries and their list, and (markup guessed after the medications page, as the
reference README names only their routes) allergies, immunizations and problems.

Each reader takes the page root, the URL and the draft, and appends records in page order.
"""

from __future__ import annotations

import re

from selectolax.lexbor import LexborNode

from bridge.records import Allergy, Appointment, Immunization, Medication, Message, Problem, Visit

from ..base import Draft
from ..dates import combine, parse_date
from ..tables import HEADER_KEYWORDS, keyword_field, rows_by_header
from ..text import clean
from ..values import refill_count
from .dom import (
    ancestor_testid,
    classes,
    dd_map,
    first_text,
    linked_rows,
    paragraphs,
    pick,
    section_heading,
    text_of,
    tid,
    tid_text,
    when,
    word,
)

CLS_MSG_FROM = ".pp-message__from"
CLS_MSG_ON_BEHALF = ".pp-message__on-behalf"
CLS_APPT_TIME = ".pp-appointment-card__time"
CLS_APPT_PROVIDER = ".pp-appointment-card__provider"
CLS_APPT_STATUS_NOTE = ".pp-appointment-card__status-note"

APPT_STATUS_WORDS: dict[str, str] = {
    "scheduled": "scheduled",
    "confirmed": "scheduled",
    "booked": "scheduled",
    "upcoming": "scheduled",
    "checked in": "scheduled",
    "rescheduled": "scheduled",
    "cancelled": "cancelled",
    "canceled": "cancelled",
    "completed": "completed",
    "complete": "completed",
    "checked out": "completed",
    "attended": "completed",
    "requested": "requested",
    "pending": "requested",
    "request pending": "requested",
}
MED_STATUS_WORDS: dict[str, str] = {
    "active": "active",
    "current": "active",
    "inactive": "discontinued",
    "discontinued": "discontinued",
    "stopped": "discontinued",
    "past": "discontinued",
    "completed": "discontinued",
    "expired": "discontinued",
}


def _direction(item: LexborNode) -> str | None:
    marks = " ".join(classes(item)).lower() + " " + (item.attributes.get("data-direction") or "").lower()
    if "from-patient" in marks or "outgoing" in marks or "from_patient" in marks:
        return "from_patient"
    if "from-practice" in marks or "from-provider" in marks or "incoming" in marks or "to_patient" in marks:
        return "to_patient"
    if item.css_first(CLS_MSG_ON_BEHALF) is not None:
        return "from_patient"
    return None


def _direction_by_sender(item: LexborNode, sender: str | None, patient: str | None) -> str | None:
    """Without the direction classes: a proxy writes "on behalf of" the patient, and the patient
    signs as themself; any other sender in a portal thread is the practice."""
    line = item.css_first(CLS_MSG_FROM)
    if line is None:
        name = tid(item, "message-sender")
        line = name.parent if name is not None else None
    from_line = text_of(line) or ""
    if re.search(r"\bon behalf of\b", from_line, re.I):
        return "from_patient"
    if not sender or not patient:
        return None
    return "from_patient" if sender.casefold() == patient.casefold() else "to_patient"


def _sender(item: LexborNode) -> str | None:
    sender = tid_text(item, "message-sender")
    if sender:
        return sender
    line = item.css_first(CLS_MSG_FROM)
    text = text_of(line) or ""
    text = re.sub(r"^\s*from:?\s*", "", text, flags=re.I)
    text = re.split(r"\s+on behalf of\s+", text, maxsplit=1, flags=re.I)[0]
    return clean(text)


def read_message_thread(root: LexborNode, url: str, draft: Draft) -> None:
    thread = tid(root, "message-thread") or root
    subject = tid_text(thread, "thread-subject") or first_text(thread, "h1", "h2")
    patient = draft.patient.name if draft.patient else None
    for item in thread.css('[data-testid="message-item"]'):
        sender = _sender(item)
        recipients = [r for r in (text_of(n) for n in item.css('[data-testid="message-recipient"]')) if r]
        body = paragraphs(tid(item, "message-body"))
        if body is None:
            draft.warn("a message shows no body")
        draft.records.append(
            Message(
                title=subject,
                thread_subject=subject,
                occurred_at=when(item.css_first("time")),
                sender=sender,
                recipients=recipients,
                body=body,
                direction=_direction(item) or _direction_by_sender(item, sender, patient),
            )
        )


_THREAD_LINK = re.compile(r"/messages/[^/?#]+/[^/?#]+")
_VISIT_LINK = re.compile(r"/health-record/visit-summaries/[^/?#]+")


def read_message_list(root: LexborNode, url: str, draft: Draft) -> None:
    """The inbox: one message record per conversation row (its latest message, as the row shows it)."""
    rows = [
        (row, row.css_first("a"))
        for row in root.css(
            '[data-testid="message-list-item"], [data-testid="message-row"], [data-testid="thread-row"], '
            '[data-testid="conversation-row"]'
        )
    ]
    if not rows:
        rows = [
            (row, link)
            for row, link in linked_rows(root, _THREAD_LINK)
            if {"pp-messages__folder", "pp-messages__compose"}.isdisjoint(classes(link))
        ]
    for row, link in rows:
        subject = tid_text(row, "thread-subject", "message-subject") or text_of(link) or first_text(row, "h3")
        if subject is None:
            continue
        draft.records.append(
            Message(
                title=subject,
                thread_subject=subject,
                occurred_at=when(row.css_first("time")),
                sender=tid_text(row, "message-sender"),
                recipients=[
                    r for r in (text_of(n) for n in row.css('[data-testid="message-recipient"]')) if r
                ],
                body=paragraphs(tid(row, "message-preview", "message-body")),
                direction=_direction(row),
            )
        )


# ---------------------------------------------------------------------------------------------
# Appointments, medications, visits
# ---------------------------------------------------------------------------------------------


def read_appointments(root: LexborNode, url: str, draft: Draft) -> None:
    for card in root.css('[data-testid="appointment-card"]'):
        visit_type = tid_text(card, "appointment-type") or first_text(card, "h3", "h2")
        when_node = card.css_first("time")
        occurred = when(when_node)
        time_text = first_text(card, CLS_APPT_TIME)
        if occurred is not None and "T" not in occurred and time_text:
            occurred = combine(occurred, time_text)
        provider = tid_text(card, "appointment-provider")
        if provider is None:
            provider = clean(
                re.sub(r"^\s*with\s+", "", first_text(card, CLS_APPT_PROVIDER) or "", flags=re.I)
            )
        status = word(tid_text(card, "appointment-status"), APPT_STATUS_WORDS)
        if status is None and re.search(r"\bcancel", first_text(card, CLS_APPT_STATUS_NOTE) or "", re.I):
            status = "cancelled"
        if status is None:  # no status shown: the section says upcoming (scheduled) or past (completed)
            section = f"{ancestor_testid(card, root) or ''} {section_heading(card, root) or ''}".lower()
            status = "scheduled" if "upcoming" in section else ("completed" if "past" in section else None)
        draft.records.append(
            Appointment(
                title=visit_type,
                visit_type=visit_type,
                occurred_at=occurred,
                provider=provider,
                department=tid_text(card, "appointment-department"),
                location=tid_text(card, "appointment-location"),
                status=status,
                instructions=paragraphs(tid(card, "appointment-instructions"), drop_headings=True),
            )
        )


_MED_LABELS: dict[str, tuple[str, ...]] = {
    "prescriber": ("prescribed by", "prescriber", "ordered by"),
    "start": ("start date", "started", "prescribed", "date prescribed", "prescribed on"),
    "quantity": ("quantity", "qty", "dispense"),
    "refills": ("refills remaining", "refills", "refills left"),
    "pharmacy": ("pharmacy",),
}


def read_medications(root: LexborNode, url: str, draft: Draft) -> None:
    for item in root.css('[data-testid="medication-item"]'):
        title = tid_text(item, "med-name") or first_text(item, "h3", "h2")
        if title is None:
            draft.warn("a medication without a name was skipped")
            continue
        labels = dd_map(item)
        status = MED_STATUS_WORDS.get((item.attributes.get("data-med-status") or "").strip().lower())
        if status is None:  # the section: "active-medications" / "past-medications", else its heading
            section = ancestor_testid(item, root) or ""
            status = (
                word(section.replace("-", " "), MED_STATUS_WORDS)
                or word(section_heading(item, root), MED_STATUS_WORDS)
                or word(tid_text(item, "med-status"), MED_STATUS_WORDS)
            )

        def field(
            testid: str, key: str, item: LexborNode = item, labels: dict[str, LexborNode] = labels
        ) -> LexborNode | None:
            return tid(item, testid) or pick(labels, *_MED_LABELS[key])

        draft.records.append(
            Medication(
                title=title,
                occurred_at=when(field("med-start", "start"), date_only=True),
                instructions=tid_text(item, "med-sig"),
                prescriber=text_of(field("med-prescriber", "prescriber")),
                status=status,
                quantity=text_of(field("med-quantity", "quantity")),
                refills_remaining=refill_count(text_of(field("med-refills", "refills"))),
                pharmacy=text_of(field("med-pharmacy", "pharmacy")),
            )
        )


_VISIT_LABELS: dict[str, tuple[str, ...]] = {
    "date": ("date", "visit date", "date of visit", "date of service"),
    "visit_type": ("visit type", "type", "appointment type"),
    "provider": ("provider", "seen by", "rendering provider"),
    "department": ("department", "practice"),
    "location": ("location", "address"),
    "reason": ("reason for visit", "reason", "chief complaint"),
}


def read_visit(root: LexborNode, url: str, draft: Draft) -> None:
    details = dd_map(tid(root, "visit-details") or root)

    def label(key: str) -> LexborNode | None:
        return pick(details, *_VISIT_LABELS[key])

    title = tid_text(root, "visit-title") or first_text(root, "h1")
    visit_type = text_of(label("visit_type")) or title
    diagnoses_box = tid(root, "visit-diagnoses")
    diagnoses = [text_of(li) for li in diagnoses_box.css("li")] if diagnoses_box else []
    draft.records.append(
        Visit(
            title=title or visit_type,
            occurred_at=when(label("date")),
            visit_type=visit_type,
            provider=text_of(label("provider")),
            department=text_of(label("department")),
            location=text_of(label("location")),
            reason=text_of(label("reason")),
            diagnoses=[d for d in diagnoses if d],
            summary_text=paragraphs(tid(root, "visit-instructions")),
        )
    )


def read_visit_list(root: LexborNode, url: str, draft: Draft) -> None:
    rows = [
        (row, row.css_first("a"))
        for row in root.css(
            '[data-testid="visit-summary-item"], [data-testid="visit-summary-row"], [data-testid="visit-card"]'
        )
    ]
    if not rows:
        rows = [(row, link) for row, link in linked_rows(root, _VISIT_LINK)]
    for item, link in rows:
        title = tid_text(item, "visit-title", "visit-type") or text_of(link) or first_text(item, "h3")
        if title is None:
            continue
        draft.records.append(
            Visit(
                title=title,
                visit_type=tid_text(item, "visit-type") or title,
                occurred_at=when(item.css_first("time")),
                provider=tid_text(item, "visit-provider"),
                department=tid_text(item, "visit-department"),
                location=tid_text(item, "visit-location"),
                reason=tid_text(item, "visit-reason"),
            )
        )


# Allergies, immunizations, problems: modelled on the medications page (`<thing>-item` cards with
# `<thing>-<field>` testids and `dt`/`dd` labels).


_NOTED = ("noted", "date noted", "onset", "recorded", "diagnosed", "date added")
# A table's header text -> field, by the first keyword it contains (for list pages built as tables).
_HEADER_WORDS: tuple[tuple[str, str], ...] = (*HEADER_KEYWORDS, ("date", "date"))


def when_text(text: str | None) -> str | None:
    return parse_date(text) if text else None


def _items(root: LexborNode, thing: str) -> list[LexborNode]:
    """`<thing>-item` cards; else any `<thing>-row` / `<thing>-card` testid."""
    found = root.css(f'[data-testid="{thing}-item"]')
    return found or root.css(f'[data-testid="{thing}-row"], [data-testid="{thing}-card"]')


def _header_fields(head: list[LexborNode]) -> list[str | None]:
    fields: list[str | None] = []
    for th in head:
        fields.append(keyword_field((text_of(th) or "").lower(), _HEADER_WORDS, fields))
    return fields


def _table_rows(root: LexborNode) -> list[dict[str, str]]:
    """Every body row of the page's tables as field -> text, by what each column header says."""
    return [row for row in rows_by_header(root, _header_fields, "name") if row.get("name")]


_GIVEN = ("date given", "given", "date administered", "administered", "date")


def read_allergies(root: LexborNode, url: str, draft: Draft) -> None:
    items = _items(root, "allergy")
    if not items:
        for row in _table_rows(root):
            draft.records.append(
                Allergy(
                    title=row["name"],
                    occurred_at=when_text(row.get("noted") or row.get("date")),
                    reaction=row.get("reaction"),
                    severity=row.get("severity"),
                )
            )
    for item in items:
        labels = dd_map(item)
        title = tid_text(item, "allergy-name") or first_text(item, "h3", "h2")
        if title is None:
            continue
        noted = tid(item, "allergy-noted", "allergy-onset") or pick(labels, *_NOTED)
        draft.records.append(
            Allergy(
                title=title,
                occurred_at=when(noted, date_only=True),
                reaction=tid_text(item, "allergy-reaction") or text_of(pick(labels, "reaction", "reactions")),
                severity=tid_text(item, "allergy-severity") or text_of(pick(labels, "severity")),
            )
        )


def read_immunizations(root: LexborNode, url: str, draft: Draft) -> None:
    """One record per dose given: a vaccine card lists each dose's date."""
    items = _items(root, "immunization")
    if not items:
        for row in _table_rows(root):
            draft.records.append(
                Immunization(title=row["name"], occurred_at=when_text(row.get("given") or row.get("date")))
            )
    for item in items:
        title = tid_text(item, "immunization-name") or first_text(item, "h3", "h2")
        if title is None:
            continue
        doses = item.css('[data-testid="immunization-date"]')
        if not doses:
            given = pick(dd_map(item), *_GIVEN)
            doses = [given] if given is not None else []
        if not doses:
            draft.records.append(Immunization(title=title, occurred_at=None))
            draft.warn(f"immunization '{title}' shows no date given")
        for dose in doses:
            draft.records.append(Immunization(title=title, occurred_at=when(dose, date_only=True)))


def read_problems(root: LexborNode, url: str, draft: Draft) -> None:
    items = _items(root, "problem")
    if not items:
        for row in _table_rows(root):
            status = row.get("status")
            draft.records.append(
                Problem(
                    title=row["name"],
                    occurred_at=when_text(row.get("noted") or row.get("date")),
                    status=status.lower() if status else None,
                )
            )
    for item in items:
        labels = dd_map(item)
        title = tid_text(item, "problem-name") or first_text(item, "h3", "h2")
        if title is None:
            continue
        status = (
            tid_text(item, "problem-status")
            or text_of(pick(labels, "status"))
            or clean(item.attributes.get("data-problem-status"))
        )
        noted = tid(item, "problem-noted", "problem-onset") or pick(labels, *_NOTED)
        draft.records.append(
            Problem(
                title=title,
                status=status.lower() if status else None,
                occurred_at=when(noted, date_only=True),
            )
        )
