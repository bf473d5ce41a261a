"""`ics`: appointments as an iCalendar file (RFC 5545, written with the `icalendar` library).

Upcoming appointments by default (status scheduled, requested or not shown, and cancelled ones, so a
calendar that imported an earlier export learns of the cancellation); `include_past` adds the past.

Stable identity: an event's UID is the timeline entry's id (the hash of the appointment's natural key,
which survives a reschedule's supersession and a reparse) `@kinchart`, and SEQUENCE counts the
superseded versions, so importing a newer export updates events instead of duplicating them.

Times: a time the portal shows without a zone is written as floating local time (as the portal
meant it); with an offset, as that instant; a date alone as an all-day event. The portals give no end
time: a timed appointment is taken to last 30 minutes.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import IO

from icalendar import Calendar, Event

from bridge.family import Entry, Family

from .common import ExportOptions, Progress, chosen_members, entries, s

DURATION = timedelta(minutes=30)
PRODID = "-//Kinchart//Family medical record//EN"
UID_DOMAIN = "kinchart"
STATUS = {
    "scheduled": "CONFIRMED",
    "completed": "CONFIRMED",
    "requested": "TENTATIVE",
    "cancelled": "CANCELLED",
}


def start_of(iso: str | None) -> date | datetime | None:
    if not iso:
        return None
    try:
        if len(iso) == 10:
            return date.fromisoformat(iso)
        return datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return None


def uid_of(e: Entry) -> str:
    return f"{e.id}@{UID_DOMAIN}"


def is_upcoming(start: date | datetime, now: datetime) -> bool:
    if isinstance(start, datetime):
        if start.tzinfo is not None:  # a stated offset: compare instants (a naive `now` is local time)
            return start >= now.astimezone()
        return start >= now.replace(tzinfo=None)
    return start >= now.date()


def chosen(family: Family, opts: ExportOptions) -> list[tuple[Entry, date | datetime]]:
    """The appointments this export writes, soonest first."""
    now = opts.wall_now()
    out: list[tuple[Entry, date | datetime]] = []
    for e in entries(family, opts, ["appointment"]):
        start = start_of(e.occurred_at)
        if start is None:
            continue
        status = e.record.get("status")
        if not opts.include_past and (status == "completed" or not is_upcoming(start, now)):
            continue
        out.append((e, start))
    return out


def event_of(e: Entry, start: date | datetime, member_name: str | None, stamp: datetime) -> Event:
    r = e.record
    ev = Event()
    ev.add("uid", uid_of(e))
    ev.add("dtstamp", stamp)
    ev.add("sequence", len(e.history))
    what = s(r.get("visit_type")) or e.title or "Appointment"
    ev.add("summary", f"{member_name}: {what}" if member_name else what)
    ev.add("dtstart", start)
    if isinstance(start, datetime):
        ev.add("dtend", start + DURATION)
    else:
        ev.add("dtend", start + timedelta(days=1))
    place = ", ".join(x for x in (s(r.get("location")), s(r.get("department"))) if x) or e.organization
    if place:
        ev.add("location", place)
    lines = [
        f"With {s(r.get('provider'))}" if s(r.get("provider")) else "",
        f"Department: {s(r.get('department'))}" if s(r.get("department")) else "",
        s(r.get("instructions")) or "",
        "Source: " + ", ".join(e.organizations or ((e.organization,) if e.organization else ()))
        if (e.organizations or e.organization)
        else "",
    ]
    desc = "\n".join(x for x in lines if x)
    if desc:
        ev.add("description", desc)
    status = STATUS.get(str(r.get("status")))
    if status:
        ev.add("status", status)
    ev.add("categories", ["Medical appointment"])
    return ev


def build(family: Family, opts: ExportOptions, progress: Progress | None = None) -> tuple[Calendar, int]:
    names = {m.id: m.name for m in chosen_members(family, opts)}
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", "Family appointments (Kinchart)")
    stamp = datetime.now(UTC).replace(microsecond=0)
    rows = chosen(family, opts)
    for i, (e, start) in enumerate(rows, 1):
        cal.add_component(event_of(e, start, names.get(e.member_id), stamp))
        if progress is not None and i % 500 == 0:
            progress(i, len(rows))
    if progress is not None:
        progress(len(rows), len(rows))
    return cal, len(rows)


def write(family: Family, opts: ExportOptions, out: IO[bytes], progress: Progress | None = None) -> int:
    cal, n = build(family, opts, progress)
    out.write(cal.to_ical())
    return n
