"""How things read to a person: dates as people write them, kinds and portals by their everyday names.

Registered as Jinja filters; every value still passes through autoescaping.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from bridge.receipt import VENDOR_NAMES

KIND_LABELS = {
    "test_result": "Test result",
    "note": "Note",
    "message": "Message",
    "visit": "Visit",
    "appointment": "Appointment",
    "medication": "Medication",
    "immunization": "Immunization",
    "allergy": "Allergy",
    "problem": "Problem",
    "bill": "Bill",
    "document": "Saved page",
}
KIND_PLURALS = {
    "test_result": "Test results",
    "note": "Notes",
    "message": "Messages",
    "visit": "Visits",
    "appointment": "Appointments",
    "medication": "Medications",
    "immunization": "Immunizations",
    "allergy": "Allergies",
    "problem": "Problems",
    "bill": "Bills",
    "document": "Saved pages",
}
FLAG_LABELS = {"high": "High", "low": "Low", "abnormal": "Abnormal", "critical": "Critical"}


def _parse(value: Any) -> datetime | date | None:
    if isinstance(value, datetime | date):
        return value
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        if len(value) == 10:
            return date.fromisoformat(value)
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def nice_date(value: Any) -> str:
    """'2025-03-12' or '2025-03-12T07:42:00' -> 'Mar 12, 2025'."""
    parsed = _parse(value)
    if parsed is None:
        return str(value) if value else ""
    return f"{parsed:%b} {parsed.day}, {parsed.year}"


def nice_when(value: Any) -> str:
    """A date, or a date and time: 'Mar 12, 2025, 7:42 AM'."""
    parsed = _parse(value)
    if parsed is None:
        return str(value) if value else ""
    if isinstance(parsed, datetime):
        hour = parsed.hour % 12 or 12
        return f"{parsed:%b} {parsed.day}, {parsed.year}, {hour}:{parsed:%M} {'AM' if parsed.hour < 12 else 'PM'}"
    return nice_date(parsed)


def kind_label(kind: Any) -> str:
    return KIND_LABELS.get(str(kind), str(kind).replace("_", " ").capitalize())


def kind_plural(kind: Any) -> str:
    return KIND_PLURALS.get(str(kind), str(kind).replace("_", " ").capitalize())


def vendor_label(vendor: Any) -> str:
    return VENDOR_NAMES.get(str(vendor), str(vendor or ""))


def flag_label(flag: Any) -> str:
    return FLAG_LABELS.get(str(flag), "") if flag else ""


def first_name(name: Any) -> str:
    return str(name).split()[0] if name else ""


FILTERS = {
    "nice_date": nice_date,
    "nice_when": nice_when,
    "kind_label": kind_label,
    "kind_plural": kind_plural,
    "vendor_label": vendor_label,
    "flag_label": flag_label,
    "first_name": first_name,
}
