"""Oracle Health (Cerner) list pages other than results: clinical notes, messaging, appointments,
medications, immunizations, allergies and problems.

Order of extraction, per item: the `dt` labels of its `dl` (the stablest hook, read in any order),
then the item's own class hooks (kept below as named constants), then the section heading it sits
under. A missing optional field is a null; a missing title is a warning and the item is skipped.
"""

from __future__ import annotations

import re
from typing import Literal

from selectolax.lexbor import LexborNode

from bridge.records import Allergy, Appointment, Immunization, Medication, Message, Note, Problem

from ..base import Draft
from ..dom import classes as dom_classes
from ..dom import has_class
from ..labels import pick
from ..page import Frame
from ..text import clean, paragraphs_of
from ..values import refill_count
from .dom import (
    ancestor,
    day_of,
    dl_pairs,
    first_text,
    moment,
    section_items,
    select,
    stamp,
    text_of,
    unlabelled_text,
)

# Clinical notes (real hooks: .consumer-card-item with a.document-view).
NOTE_LINK = "a.document-view"
NOTE_ITEM_CLASSES = ("open-note", "consumer-card-item")
# Messaging (synthetic markup).
FOLDER = ".message-folder[data-folder]"
MESSAGE_ROW = "tr.message-row"
THREAD_SUBJECT = ("#thread-subject bdi", "#thread-subject", ".message-thread .consumer-card-header")
THREAD_MESSAGE = "li.message"
SENDER_NOISE = frozenset({"on-behalf", "label", "sr-only"})
# Appointments, medications, immunizations, allergies, problems (synthetic markup).
APPOINTMENT = "li.appointment-card"
MEDICATION = "li.medication-item"
IMMUNIZATION_DOSE = "li.immunization-dose"
ALLERGY = "li.allergy-item"
PROBLEM = "li.problem-item, .problems-list > li"
HEADER = ".consumer-card-header"
ITEM_NAME = (".small-heading bdi", ".small-heading", "bdi")

Direction = Literal["to_patient", "from_patient"]
AppointmentStatus = Literal["scheduled", "cancelled", "completed", "requested"]
MedicationStatus = Literal["active", "discontinued"]

FOLDER_DIRECTION: dict[str, Direction] = {
    "inbox": "to_patient",
    "received": "to_patient",
    "sent": "from_patient",
}
APPOINTMENT_STATUS: dict[str, AppointmentStatus] = {
    "scheduled": "scheduled",
    "confirmed": "scheduled",
    "booked": "scheduled",
    "upcoming": "scheduled",
    "cancelled": "cancelled",
    "canceled": "cancelled",
    "completed": "completed",
    "past": "completed",
    "requested": "requested",
    "pending": "requested",
    "request sent": "requested",
}
MEDICATION_STATUS: dict[str, MedicationStatus] = {
    "active": "active",
    "current": "active",
    "discontinued": "discontinued",
    "stopped": "discontinued",
    "inactive": "discontinued",
    "completed": "discontinued",
    "expired": "discontinued",
}
_LABEL_PREFIX = re.compile(r"^[A-Za-z ]{2,30}:\s*")


def _without_label(text: str | None) -> str | None:
    """ "Instructions: Take 1 tablet" -> "Take 1 tablet" (for a value whose label shares its element)."""
    return clean(_LABEL_PREFIX.sub("", text)) if text else None


# ---- clinical notes -------------------------------------------------------------------------------


def parse_notes(root: LexborNode, draft: Draft) -> None:
    """One `note` per open note; the body is only in the PDF, so `text` stays null."""
    for link in select(root, NOTE_LINK):
        item = ancestor(link, *NOTE_ITEM_CLASSES, tags=frozenset({"li", "article"})) or link
        title = text_of(link)
        if not title:
            draft.warn("a clinical note shows no title and was skipped")
            continue
        pairs = dl_pairs(item)
        draft.records.append(
            Note(
                title=title,
                occurred_at=moment(pick(pairs, "date of service", "service date", "date", "visit date")),
                author=pick(pairs, "author", "written by", "provider"),
                author_role=pick(pairs, "author role", "role"),
                department=pick(pairs, "department", "location"),
            )
        )


# ---- messaging ------------------------------------------------------------------------------------


def _folder_name(root: LexborNode, frame: Frame) -> str | None:
    node = root.css_first(FOLDER)
    if node is not None:
        return clean(node.attributes.get("data-folder"))
    m = re.search(r"/messaging/([a-z_-]+)", frame.path)
    return m.group(1) if m else None


def _people(cell: LexborNode | None) -> list[str]:
    if cell is None:
        return []
    names = [t for t in (text_of(b) for b in cell.css("bdi")) if t]
    if names:
        return names
    # No bdis: the field's text without its "To:" label, one person per ";" (names hold commas).
    return [t for t in (clean(x) for x in re.split(r";", unlabelled_text(cell) or "")) if t]


def parse_message_list(frame: Frame, root: LexborNode, draft: Draft) -> None:
    """One `message` per folder row; the direction comes from the folder, the body is not shown."""
    folder = (_folder_name(root, frame) or "").lower()
    direction = FOLDER_DIRECTION.get(folder)
    for row in select(root, MESSAGE_ROW):
        subject = first_text(row, ".col-subject a", ".col-subject")
        if not subject:
            draft.warn("a message row shows no subject and was skipped")
            continue
        senders = _people(row.css_first(".col-from"))
        cell = row.css_first(".col-date")
        when = stamp(text_of(cell.css_first(".date")), text_of(cell.css_first(".time"))) if cell else None
        if cell is not None and when is None:
            when = moment(text_of(cell))
        draft.records.append(
            Message(
                title=subject,
                occurred_at=when,
                thread_subject=subject,
                sender=senders[0] if senders else None,
                recipients=_people(row.css_first(".col-to")),
                body=None,
                direction=direction,
            )
        )


def _sender(node: LexborNode | None) -> str | None:
    """The first `bdi` of the From line that is not inside the "on behalf of" note."""
    if node is None:
        return None
    for bdi in node.css("bdi"):
        if ancestor(bdi, "on-behalf") is None:
            return text_of(bdi)
    return _without_label(text_of(node, SENDER_NOISE))


def _body(message: LexborNode) -> str | None:
    body = message.css_first(".message-body")
    if body is None:
        return None
    paras = [text_of(p) for p in body.css("p") if ancestor(p, "message-attachments") is None]
    kept = [p for p in paras if p]
    if kept:
        return "\n\n".join(kept)
    # No paragraphs: the body's own blocks, without the attachment list.
    parts: list[str] = []
    child = body.child
    while child is not None:
        if not has_class(child, "message-attachments"):
            text = clean(child.text_content) if child.tag == "-text" else paragraphs_of(child)
            if text:
                parts.append(text)
        child = child.next
    return "\n\n".join(parts) or None


def parse_thread(root: LexborNode, draft: Draft, own_names: frozenset[str] = frozenset()) -> None:
    """One `message` per message of the conversation, all titled with the thread's subject.

    The direction comes from `message-outgoing` / `message-incoming`; without them, a message sent
    "on behalf of" the patient, or by the patient or the logged-in representative (`own_names`),
    is from the patient's side.
    """
    subject = first_text(root, *THREAD_SUBJECT)
    if not subject:
        draft.warn("the conversation shows no subject")
    for message in select(root, THREAD_MESSAGE):
        classes = dom_classes(message)
        direction: Direction | None = None
        if "message-outgoing" in classes:
            direction = "from_patient"
        elif "message-incoming" in classes:
            direction = "to_patient"
        sender = _sender(message.css_first(".message-from"))
        if direction is None and (sender or message.css_first(".message-from .on-behalf") is not None):
            own = (
                message.css_first(".message-from .on-behalf") is not None
                or (sender or "").lower() in own_names
            )
            direction = "from_patient" if own else "to_patient"
        sent = message.css_first(".message-sent")
        when = None
        if sent is not None:
            when = stamp(text_of(sent.css_first(".date")), text_of(sent.css_first(".time")))
            when = when or moment(_without_label(text_of(sent)))
        draft.records.append(
            Message(
                title=subject,
                occurred_at=when,
                thread_subject=subject,
                sender=_sender(message.css_first(".message-from")),
                recipients=_people(message.css_first(".message-to")),
                body=_body(message),
                direction=direction,
            )
        )


# ---- appointments ---------------------------------------------------------------------------------


def parse_appointments(root: LexborNode, draft: Draft) -> None:
    for card in select(root, APPOINTMENT):
        title = first_text(card, ".appointment-type bdi", ".appointment-type", *ITEM_NAME)
        if not title:
            draft.warn("an appointment shows no visit type and was skipped")
            continue
        pairs = dl_pairs(card.css_first("dl.appointment-meta") or card)
        status = None
        for text in (first_text(card, ".appointment-status"), card.attributes.get("data-status")):
            key = (clean(text) or "").lower()
            status = APPOINTMENT_STATUS.get(key) or next(
                (value for word, value in APPOINTMENT_STATUS.items() if re.search(rf"\b{word}\b", key)), None
            )
            if status:
                break
        day = pick(pairs, "date")
        if day:
            when = stamp(day, pick(pairs, "time", "start time", "arrival time"))
        else:  # a request: the preferred date only ("Morning" is no time)
            when = day_of(pick(pairs, "preferred date", "requested date"))
        instructions = [t for t in (text_of(p) for p in card.css(".appointment-instructions p")) if t]
        draft.records.append(
            Appointment(
                title=title,
                occurred_at=when,
                visit_type=title,
                provider=pick(pairs, "provider", "with"),
                department=pick(pairs, "department"),
                location=pick(pairs, "location", "address"),
                status=status,
                instructions="\n\n".join(instructions) or None,
            )
        )


# ---- medications ----------------------------------------------------------------------------------


def parse_medications(root: LexborNode, draft: Draft) -> None:
    for heading, item in section_items(root, MEDICATION, HEADER):
        title = first_text(item, *ITEM_NAME)
        if not title:
            draft.warn("a medication shows no name and was skipped")
            continue
        pairs = dl_pairs(item.css_first("dl.medication-details") or item)
        status_text = (pick(pairs, "status") or item.attributes.get("data-status") or "").lower().strip()
        status = MEDICATION_STATUS.get(status_text)
        if status is None and heading:
            key = heading.lower()
            status = (
                "discontinued"
                if ("stopped" in key or "past" in key or "inactive" in key)
                else ("active" if "current" in key else None)
            )
        sig = first_text(item, ".medication-sig bdi") or _without_label(first_text(item, ".medication-sig"))
        draft.records.append(
            Medication(
                title=title,
                occurred_at=day_of(pick(pairs, "prescribed on", "start date", "started", "prescribed")),
                instructions=sig,
                prescriber=pick(pairs, "prescribed by", "prescriber", "ordered by"),
                status=status,
                quantity=pick(pairs, "quantity", "dispense"),
                refills_remaining=refill_count(pick(pairs, "refills remaining", "refills")),
                pharmacy=pick(pairs, "pharmacy"),
            )
        )


# ---- immunizations --------------------------------------------------------------------------------


def parse_immunizations(root: LexborNode, draft: Draft) -> None:
    """One `immunization` per dose, titled with the vaccine heading above it."""
    for heading, dose in section_items(root, IMMUNIZATION_DOSE, HEADER):
        when = day_of(
            text_of(dose.css_first(".date")) or _without_label(first_text(dose, ".x-small-heading"))
        )
        if not heading:
            draft.warn("an immunization dose shows no vaccine name and was skipped")
            continue
        if when is None:
            draft.warn(f"a dose of '{heading}' shows no date")
        draft.records.append(Immunization(title=heading, occurred_at=when))


# ---- allergies and problems -----------------------------------------------------------------------


def parse_allergies(root: LexborNode, draft: Draft) -> None:
    for item in select(root, ALLERGY):
        title = first_text(item, *ITEM_NAME)
        if not title:
            draft.warn("an allergy shows no allergen and was skipped")
            continue
        pairs = dl_pairs(item.css_first("dl.allergy-details") or item)
        draft.records.append(
            Allergy(
                title=title,
                occurred_at=day_of(pick(pairs, "noted", "date noted", "onset", "recorded")),
                reaction=pick(pairs, "reactions", "reaction"),
                severity=pick(pairs, "severity"),
            )
        )


def parse_problems(root: LexborNode, draft: Draft) -> None:
    for item in select(root, PROBLEM):
        title = first_text(item, *ITEM_NAME)
        if not title:
            draft.warn("a health issue shows no name and was skipped")
            continue
        pairs = dl_pairs(item.css_first("dl") or item)
        status = pick(pairs, "status") or clean(item.attributes.get("data-status"))
        draft.records.append(
            Problem(
                title=title,
                occurred_at=day_of(pick(pairs, "noted", "date noted", "onset", "onset date", "diagnosed")),
                status=status.lower() if status else None,
            )
        )
