"""What every export shares: the options, the one merged-timeline query, members by id, and the warning
for a plaintext file (written only where the caregiver asked, mode 0600, never through a link: see
private_file.py).

Every format module takes the same `ExportOptions` and reads the timeline through `entries()`, which
is `Family.iter_entries(TimelineQuery(...))` and nothing else: the dashboard's filters and the
exports' filters are the same query.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from bridge.family import Entry, Family, Member, TimelineQuery

#: (done, total) — called as an export goes; total may be 0 when unknown.
Progress = Callable[[int, int], None]

PLAINTEXT_WARNING = (
    "This file is NOT encrypted: it leaves the vault's protection. Anyone who can read "
    "it can read these medical records. Keep it somewhere safe and delete it when done."
)


@dataclass(frozen=True)
class ExportOptions:
    """The filters of one export (None means "no filter") and a few per-format switches."""

    member_ids: Collection[str] | None = None
    kinds: Collection[str] | None = None
    since: str | None = None  # ISO date or datetime, inclusive
    until: str | None = None  # ISO date or datetime, inclusive (a date: the whole day)
    include_past: bool = False  # ics: past appointments too
    now: datetime | None = None  # "upcoming" is measured from here (default: the wall clock)
    timeline_limit: int | None = 150  # html/pdf: the most recent timeline items per member (None: all)
    extra: dict[str, str] = field(default_factory=dict)

    def query(
        self, kinds: Collection[str] | None = None, member_ids: Collection[str] | None = None
    ) -> TimelineQuery:
        """The timeline query for these filters (`kinds`/`member_ids` narrow them further)."""
        k = self.kinds
        if kinds is not None:
            k = [x for x in kinds if self.kinds is None or x in self.kinds]
        m = self.member_ids
        if member_ids is not None:
            m = [x for x in member_ids if self.member_ids is None or x in self.member_ids]
        return TimelineQuery(
            member_ids=m, kinds=k, since=self.since, until=self.until, limit=None, newest_first=False
        )

    def wall_now(self) -> datetime:
        now = self.now or datetime.now()
        return now.replace(tzinfo=None) if now.tzinfo is not None else now


def entries(
    family: Family,
    opts: ExportOptions,
    kinds: Collection[str] | None = None,
    member_ids: Collection[str] | None = None,
) -> Iterator[Entry]:
    """THE query every export reads: the merged timeline, oldest first, filtered by `opts`."""
    return family.iter_entries(opts.query(kinds, member_ids))


def chosen_members(family: Family, opts: ExportOptions) -> list[Member]:
    """The members an export covers, in the family's order."""
    members = family.list_members()
    if opts.member_ids is None:
        return members
    wanted = set(opts.member_ids)
    return [m for m in members if m.id in wanted]


def resolve_members(family: Family, names_or_ids: Collection[str]) -> list[str]:
    """Member ids for names (case-insensitive, exact or unique prefix) or ids; ValueError otherwise."""
    members = family.list_members()
    out: list[str] = []
    for wanted in names_or_ids:
        w = " ".join(wanted.split()).casefold()
        exact = [m for m in members if m.id == wanted or m.name.casefold() == w]
        found = exact or [m for m in members if m.name.casefold().startswith(w)]
        if len(found) != 1:
            known = ", ".join(m.name for m in members) or "none yet"
            why = "matches several members" if found else "is not a family member"
            raise ValueError(f"'{wanted}' {why} (members: {known})")
        out.append(found[0].id)
    return list(dict.fromkeys(out))


def day(iso: str | None) -> str | None:
    """'2025-03-14T08:12:00-04:00' -> '2025-03-14'."""
    return iso[:10] if iso and len(iso) >= 10 else None


def sources_label(e: Entry) -> str:
    """The source systems of an entry, for people: 'Lakeside Health, Prairie Valley Health'."""
    orgs = [o for o in e.organizations if o]
    if not orgs and e.organization:
        orgs = [e.organization]
    return ", ".join(orgs) or "unknown source"


def s(value: object) -> str | None:
    """A record field as text, or None."""
    if value is None:
        return None
    if isinstance(value, str):
        return value or None
    return str(value)


def detail(e: Entry) -> str:
    """One readable line of what an entry says."""
    r = e.record

    def g(k: str) -> str:
        v = r.get(k)
        return str(v) if v not in (None, "", []) else ""

    parts: list[str] = []
    if e.kind == "test_result":
        for c in r.get("components") or []:
            if isinstance(c, dict):
                bits = " ".join(
                    x
                    for x in (str(c.get("name") or ""), str(c.get("value") or ""), str(c.get("unit") or ""))
                    if x
                )
                parts.append(bits + (f" ({c['flag']})" if c.get("flag") else ""))
        parts += [g("narrative"), g("comments")]
    elif e.kind == "message":
        parts += [f"from {g('sender')}" if g("sender") else "", g("body")]
    elif e.kind == "note":
        parts += [g("author"), g("text")]
    elif e.kind in ("visit", "appointment"):
        parts += [
            g("visit_type"),
            g("provider"),
            g("department"),
            g("location"),
            g("reason"),
            "; ".join(str(d) for d in r.get("diagnoses") or []),
            g("instructions"),
            g("summary_text"),
        ]
    elif e.kind == "medication":
        parts += [
            g("instructions"),
            f"prescribed by {g('prescriber')}" if g("prescriber") else "",
            g("pharmacy"),
        ]
    elif e.kind == "allergy":
        parts += [g("reaction"), g("severity")]
    elif e.kind == "bill":
        parts += [f"due {g('amount_due')}" if g("amount_due") else "", g("account"), g("due_on")]
    elif e.kind == "document":
        parts += [g("text")]
    return "; ".join(p for p in parts if p)
