"""Epic MyChart classic: the card lists (medications, immunizations, allergies, health issues,
billing accounts), the upcoming visits on Home and the visit cards of the Visits page.

Each reader walks the cards of its list; inside a card, labelled `dt`/`dd` pairs are matched by
label and the vendor classes are the fallback. An empty list renders `.nodata` instead of cards,
which simply gives no records.
"""

from __future__ import annotations

import re

from bridge.records import Allergy, Appointment, Bill, Immunization, Medication, Problem

from ..base import Draft
from ..text import clean
from ..values import refills_in, to_number
from .classic_common import (
    DATE_IN_TEXT,
    Node,
    ancestor,
    date_field,
    first,
    first_value,
    has_class,
    pairs_in,
    pick,
    unique,
    visible_text,
)

_US_DATE = re.compile(r"\d{1,2}/\d{1,2}/\d{2,4}")
_GIVEN = re.compile(r"^(?:dates? )?given\b", re.I)
_NOTED = re.compile(rf"\b(?:date )?noted(?: on)?\s*:?\s*({DATE_IN_TEXT.pattern})", re.I)
_MONEY = re.compile(r"(?P<neg>[-(−])?\s*\$?\s*(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)")


def _section_heading(card: Node) -> str | None:
    """The heading of the section a card is listed under ("Current Medications")."""
    section = ancestor(
        card, lambda n: has_class(n, "section") or n.tag == "section" or has_class(n, "medicationcontainer")
    )
    if section is None:
        return None
    return first_value(section, "h2.sectionheader", ".sectionheader", "h2")


# --- medications --------------------------------------------------------------------------------

PRESCRIBED = ("prescribed", "prescribed on", "start date", "started", "date prescribed", "ordered on")
PRESCRIBER = ("approved by", "prescribed by", "prescriber", "ordered by", "authorized by")
QUANTITY = ("quantity", "qty", "dispense")


def read_medications(root: Node, draft: Draft) -> None:
    cards = list(unique(root.css("li.medcard, #CurrentMedicationsList li.card")))
    for card in cards:
        title = first_value(card, "h3.medtitle", ".medtitle", "h3")
        if not title:
            draft.warn("a medication card has no name and was left out")
            continue
        pairs = pairs_in(card)
        draft.records.append(
            Medication(
                title=title,
                occurred_at=date_field(pick(pairs, *PRESCRIBED), "prescribed date", draft.warn),
                instructions=first_value(card, "div.sig", ".sigtop", ".sig"),
                prescriber=pick(pairs, *PRESCRIBER),
                status=_medication_status(card),
                quantity=pick(pairs, *QUANTITY),
                refills_remaining=refills_in(first_value(card, "div.refillremaining", ".refillremaining")),
                pharmacy=first_value(card, "span[id^='pharmacyname-']", ".pharmacyname"),
            )
        )


def _medication_status(card: Node) -> str | None:
    heading = (_section_heading(card) or "").lower()
    if "discontinued" in heading or "stopped" in heading or "past" in heading or "inactive" in heading:
        return "discontinued"
    if "current" in heading or "active" in heading:
        return "active"
    if ancestor(card, lambda n: n.attributes.get("id") == "CurrentMedicationsList") is not None:
        return "active"
    return None


# --- immunizations ------------------------------------------------------------------------------


def read_immunizations(root: Node, draft: Draft) -> None:
    for card in unique(root.css("li.immunization, .immunizationList > li")):
        title = first_value(card, "h2.immunizationName", ".immunizationName", "h2", "h3")
        if not title:
            draft.warn("an immunization has no vaccine name and was left out")
            continue
        doses = card.css("span.doseDate, .doseDate") or card.css("li.dose")
        given_dates = [
            date_field(clean(dose.text(deep=True)), "date given", draft.warn) for dose in unique(doses)
        ]
        if not doses:
            # No dose elements: the dates of the doses line ("Given on: 08/05/2019, 10/07/2019"), never
            # those of a note ("Next dose due 10/1/2027").
            lines = [visible_text(n) or "" for n in unique(card.css(".immunizationDoses, .doseList, .doses"))]
            if not lines:
                lines = [t for n in card.css("p, div, span, li") if _GIVEN.match(t := visible_text(n) or "")]
            text = " ".join(lines)
            given_dates = [
                date_field(m.group(0), "date given", draft.warn) for m in DATE_IN_TEXT.finditer(text)
            ]
        if not given_dates:
            draft.warn(f"the immunization '{title}' shows no date given")
            draft.records.append(Immunization(title=title))
        for given in given_dates:
            draft.records.append(Immunization(title=title, occurred_at=given))


# --- allergies ----------------------------------------------------------------------------------


def read_allergies(root: Node, draft: Draft) -> None:
    for card in unique(root.css("li.allergy, .allergyList > li")):
        title = first_value(card, "h2.allergyName", ".allergyName", "h2", "h3")
        if not title:
            draft.warn("an allergy has no name and was left out")
            continue
        pairs = pairs_in(card)
        draft.records.append(
            Allergy(
                title=title,
                occurred_at=date_field(
                    pick(pairs, "noted", "noted on", "date noted", "onset")
                    or first_value(card, ".allergyNoted"),
                    "noted date",
                    draft.warn,
                ),
                reaction=pick(pairs, "reactions", "reaction") or first_value(card, ".allergyReaction"),
                severity=pick(pairs, "severity") or first_value(card, ".allergySeverity"),
            )
        )


# --- health issues ------------------------------------------------------------------------------


def read_problems(root: Node, draft: Draft) -> None:
    for card in unique(root.css("li.healthissue, .healthIssueList > li")):
        title = first_value(card, "h3.healthIssueName", ".healthIssueName", "h3", "h2")
        if not title:
            draft.warn("a health issue has no name and was left out")
            continue
        noted = first_value(card, "span.healthIssueDate", ".healthIssueDate", ".healthIssueNoted")
        if noted is None:
            m = _NOTED.search((visible_text(card) or "").replace(title, " ", 1))
            noted = m.group(1) if m else None
        draft.records.append(
            Problem(
                title=title,
                occurred_at=date_field(noted, "noted date", draft.warn),
                status=_problem_status(card),
            )
        )


def _problem_status(card: Node) -> str | None:
    heading = (_section_heading(card) or "").lower()
    if "resolved" in heading or "past" in heading or "inactive" in heading:
        return "resolved"
    # The classic Health Issues page lists the current issues.
    return "active"


# --- billing ------------------------------------------------------------------------------------


def read_billing(root: Node, draft: Draft) -> None:
    for card in unique(root.css(".ba_card")):
        title = first_value(card, "span.ba_card_header_saLabel_saName", ".ba_card_header_saLabel")
        account_text = first_value(
            card, "p.ba_card_header_account_idAndType", ".ba_card_header_account_idAndType"
        )
        account = _account(account_text)
        amount = _money(first_value(card, "p.ba_card_status_due_amount", ".ba_card_status_due_amount"))
        if amount is None:
            draft.warn(f"the account '{title or account}' shows no amount due")
        due_text = first_value(card, "p.ba_card_status_due_date", ".ba_card_status_due_date")
        statement = first_value(card, "a.lastStatement", ".lastStatement")
        draft.records.append(
            Bill(
                title=title,
                occurred_at=_date_in(statement, "statement date", draft),
                amount_due=amount,
                account=account,
                due_on=_date_in(due_text, "due date", draft),
            )
        )


def _account(text: str | None) -> str | None:
    """ "Guarantor #10483327 (Francis X. O'Brien)" -> "10483327"."""
    if not text:
        return None
    m = re.search(r"#\s*(\d+)", text)
    if m:
        return m.group(1)
    m = re.search(r"\d{3,}", text)
    return m.group(0) if m else None


def _money(text: str | None) -> float | None:
    if not text:
        return None
    m = _MONEY.search(text.replace("\xa0", " "))
    if m is None:
        return None
    value = to_number(m["num"])
    if value is not None and m["neg"]:
        value = -value
    return value


def _date_in(text: str | None, what: str, draft: Draft) -> str | None:
    """The date inside a phrase ("Due by 3/29/2025", "View last statement (2/27/2025)")."""
    if not text:
        return None
    m = _US_DATE.search(text)
    return date_field(m.group(0) if m else text, what, draft.warn)


# --- Home: upcoming visits ----------------------------------------------------------------------


def read_home(root: Node, draft: Draft) -> None:
    card = first(root, "#UpcomingVisitsCard", ".upcomingVisits")
    if card is None:
        return
    for visit in unique(card.css("li.visit")):
        _read_visit(visit, draft)


def read_visits(root: Node, draft: Draft) -> None:
    """The Visits page (and any classic page of visit cards): every `li.visit`, upcoming or past."""
    for visit in unique(root.css("li.visit")):
        _read_visit(visit, draft)


def _read_visit(visit: Node, draft: Draft) -> None:
    visit_type = first_value(visit, "h3.visitType", ".visitType")
    day = first_value(visit, "span.visitDate", ".visitDate")
    time = first_value(visit, "span.visitTime", ".visitTime")
    start = _visit_start(day, time, draft)
    if not visit_type and not start:
        return
    draft.records.append(
        Appointment(
            title=visit_type,
            occurred_at=start,
            visit_type=visit_type,
            provider=first_value(visit, "span.visitProvider", ".visitProvider"),
            department=first_value(visit, "p.visitDepartment", ".visitDepartment"),
            location=first_value(visit, "p.visitLocation", ".visitLocation"),
            status=_visit_status(visit),
            instructions=first_value(visit, "span.instructionText", ".instructionText"),
        )
    )


def _visit_start(day: str | None, time: str | None, draft: Draft) -> str | None:
    if not day:
        return None
    if time:
        # "10:40 AM - 11:20 AM": the visit starts at the first time.
        time = re.split(r"\s*(?:-|–|—|\bto\b)\s*", time)[0]
    value = date_field(f"{day} {time}" if time else day, "visit date", lambda _: None, with_time=True)
    return value or date_field(day, "visit date", draft.warn, with_time=True)


_CANCELLED = frozenset({"canceled", "cancelled", "visit canceled", "visit cancelled", "appointment canceled"})
_REQUESTED = frozenset({"requested", "request pending", "appointment requested"})


def _visit_status(visit: Node) -> str:
    """The card's class or badge ("Canceled"), else the section it is listed under: past visits are
    completed, upcoming ones scheduled."""
    cls = " ".join((visit.attributes.get("class") or "").lower().split())
    badges = {(clean(n.text(deep=False)) or "").lower() for n in visit.traverse() if n.tag != "-text"}
    if "cancel" in cls or badges & _CANCELLED:
        return "cancelled"
    if "requested" in cls or badges & _REQUESTED:
        return "requested"
    heading = (_section_heading(visit) or "").lower()
    if "past" in cls.split() or heading.startswith(("past", "previous", "completed")):
        return "completed"
    return "scheduled"
