"""The family model's value types shared by several modules: members, provenance, timeline entries."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Member:
    id: str
    name: str
    dob: str | None = None
    relationship: str | None = None  # to the caregiver: "self", "mother", "son", ...
    notes: str | None = None
    created_at: str | None = None


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where one record of an entry came from."""

    capture_id: str
    record_id: int
    url: str | None
    vendor: str | None
    organization: str | None
    parser: str | None
    parser_version: str | None
    page_kind: str | None
    captured_at: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Version:
    """One superseded version of an entry (a preliminary result before its final, a result before its
    correction, an appointment before it was cancelled), with the sources that showed it."""

    record: dict[str, Any]
    sources: tuple[Provenance, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"record": self.record, "sources": [s.to_dict() for s in self.sources]}


@dataclass(frozen=True, slots=True)
class Entry:
    """One fact on the merged timeline: every source that showed it, its history, one merged record."""

    id: str  # stable: hash of the natural key
    kind: str
    member_id: str
    occurred_at: str | None
    title: str | None
    organization: str | None  # of the most recent source
    organizations: tuple[str, ...]
    record: dict[str, Any]  # merged contract record
    sources: tuple[Provenance, ...]
    history: tuple[Version, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "member_id": self.member_id,
            "occurred_at": self.occurred_at,
            "title": self.title,
            "organization": self.organization,
            "organizations": list(self.organizations),
            "record": self.record,
            "sources": [s.to_dict() for s in self.sources],
            "history": [h.to_dict() for h in self.history],
        }


@dataclass(frozen=True)
class TimelineQuery:
    """The one query behind the dashboard and every export. None means "no filter"."""

    member_ids: Collection[str] | None = None
    kinds: Collection[str] | None = None
    organizations: Collection[str] | None = None  # matched case/accent-insensitively, any source
    since: str | None = None  # ISO date or datetime, inclusive
    until: str | None = None  # ISO date or datetime, inclusive (a date: whole day)
    text: str | None = None  # every word must appear (case/accent-insensitive)
    offset: int = 0
    limit: int | None = 50  # None: everything (exports)
    newest_first: bool = True


@dataclass(frozen=True)
class TimelinePage:
    entries: list[Entry]
    total: int
    offset: int
    limit: int | None


@dataclass
class ReparseReport:
    entries_before: int = 0
    entries_after: int = 0
    added: int = 0
    removed: int = 0
    changed: int = 0
    captures_filed: int = 0
    captures_unassigned: int = 0
    added_ids: list[str] = field(default_factory=list)
    removed_ids: list[str] = field(default_factory=list)
    changed_ids: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        was = "unknown before" if self.entries_before < 0 else f"was {self.entries_before}"
        return (
            f"{self.entries_after} entries ({was}): {self.added} added, {self.removed} removed, "
            f"{self.changed} changed; {self.captures_filed} capture(s) filed, "
            f"{self.captures_unassigned} waiting for assignment"
        )
