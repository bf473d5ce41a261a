"""Upcoming appointments of every member in one list, with clashes flagged.

An appointment is upcoming when its status is `scheduled` or `requested` (or not shown) and it starts
at or after `now` (local wall time; a date-only appointment counts for its whole day). The portals do
not give an end time: each timed appointment is taken to last `duration` (30 minutes by default).

Clashes, between two timed appointments whose intervals overlap:
- `same_member_two_places`: one member, two different places (department/location/organization);
- `same_member_double_booked`: one member, the same place, overlapping;
- `members_overlap`: two members at the same time (the caregiver cannot take both), with
  `same_place` telling whether it is one place (siblings seen back to back is less of a problem).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from .models import Entry
from .normalize import has_time, norm_org, norm_text, parse_wall

UPCOMING_STATUSES = frozenset({"scheduled", "requested", None})


@dataclass(frozen=True)
class Clash:
    kind: str  # same_member_two_places | same_member_double_booked | members_overlap
    other_entry_id: str
    other_member_id: str
    same_place: bool


@dataclass(frozen=True)
class Upcoming:
    entry: Entry
    start: datetime
    timed: bool
    place: str | None
    clashes: tuple[Clash, ...]


def _place(e: Entry) -> str | None:
    for k in ("location", "department"):
        v = e.record.get(k)
        if isinstance(v, str) and v.strip():
            return v
    return e.organization


def _place_key(e: Entry) -> str:
    r = e.record
    loc = r.get("location") if isinstance(r.get("location"), str) else None
    dep = r.get("department") if isinstance(r.get("department"), str) else None
    return norm_text(loc) or norm_text(dep) or norm_org(e.organization)


Candidate = tuple[Entry, datetime, bool]


def candidates(entries: Iterable[Entry]) -> list[Candidate]:
    """(entry, start, timed) of the appointments that can be upcoming (by status), whatever `now` is,
    sorted like `upcoming` lists them (the family model keeps this per index version)."""
    rows: list[Candidate] = []
    for e in entries:
        if e.kind != "appointment":
            continue
        status = e.record.get("status")
        if status not in UPCOMING_STATUSES:
            continue
        start = parse_wall(e.occurred_at)
        if start is None:
            continue
        rows.append((e, start, has_time(e.occurred_at)))
    rows.sort(key=lambda r: (r[1], r[0].member_id, r[0].id))
    return rows


def upcoming(
    entries: Iterable[Entry],
    now: datetime,
    duration: timedelta = timedelta(minutes=30),
    prepared: list[Candidate] | None = None,
) -> list[Upcoming]:
    """`prepared`: the `candidates` of `entries`, when already known (then `entries` is not read)."""
    if now.tzinfo is not None:
        now = now.replace(tzinfo=None)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    rows = [
        r
        for r in (candidates(entries) if prepared is None else prepared)
        if not ((r[2] and r[1] < now) or (not r[2] and r[1] < today))
    ]
    clashes: dict[str, list[Clash]] = {e.id: [] for e, _, _ in rows}
    timed_rows = [r for r in rows if r[2]]
    for i, (a, sa, _) in enumerate(timed_rows):
        ea = sa + duration
        for b, sb, _ in timed_rows[i + 1 :]:
            if sb >= ea:
                break
            same_place = _place_key(a) == _place_key(b)
            if a.member_id == b.member_id:
                kind = "same_member_double_booked" if same_place else "same_member_two_places"
            else:
                kind = "members_overlap"
            clashes[a.id].append(Clash(kind, b.id, b.member_id, same_place))
            clashes[b.id].append(Clash(kind, a.id, a.member_id, same_place))
    return [
        Upcoming(entry=e, start=s, timed=t, place=_place(e), clashes=tuple(clashes[e.id])) for e, s, t in rows
    ]
