"""`json`: the records in the record contract's shape, each with its member, provenance and the
sources it was merged from (dedupe), plus the superseded versions. Streamed: one entry at a time.

Shape::

    {"format": "kinchart-export", "version": 1, "exported_at": "...", "filters": {...},
     "members": [{"id", "name", "dob", "relationship"}],
     "entries": [{"id", "kind", "member_id", "member_name", "occurred_at", "title", "organization",
                  "organizations", "record": {contract record}, "sources": [provenance], "history": [...]}]}

`load()` reads a file back into pydantic models (the contract's `Record` for every record).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import IO, Any

from pydantic import BaseModel, ConfigDict, Field

from bridge.family import Family
from bridge.records import Record

from .common import ExportOptions, Progress, chosen_members, entries

FORMAT = "kinchart-export"
VERSION = 1


class ExportedMember(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    name: str
    dob: str | None = None
    relationship: str | None = None


class ExportedSource(BaseModel):
    model_config = ConfigDict(extra="forbid")
    capture_id: str
    record_id: int
    url: str | None = None
    vendor: str | None = None
    organization: str | None = None
    parser: str | None = None
    parser_version: str | None = None
    page_kind: str | None = None
    captured_at: str | None = None


class ExportedVersion(BaseModel):
    model_config = ConfigDict(extra="forbid")
    record: Record
    sources: list[ExportedSource]


class ExportedEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    kind: str
    member_id: str
    member_name: str | None = None
    occurred_at: str | None = None
    title: str | None = None
    organization: str | None = None
    organizations: list[str] = Field(default_factory=list)
    record: Record
    sources: list[ExportedSource]
    history: list[ExportedVersion] = Field(default_factory=list)


class JsonExport(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: str
    version: int
    exported_at: str
    filters: dict[str, Any]
    members: list[ExportedMember]
    entries: list[ExportedEntry]


def filters_of(opts: ExportOptions) -> dict[str, Any]:
    return {
        "member_ids": sorted(opts.member_ids) if opts.member_ids is not None else None,
        "kinds": sorted(opts.kinds) if opts.kinds is not None else None,
        "since": opts.since,
        "until": opts.until,
    }


def write(family: Family, opts: ExportOptions, out: IO[bytes], progress: Progress | None = None) -> int:
    """Write the export; return how many entries."""
    members = chosen_members(family, opts)
    names = {m.id: m.name for m in members}
    head = {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "filters": filters_of(opts),
        "members": [
            {"id": m.id, "name": m.name, "dob": m.dob, "relationship": m.relationship} for m in members
        ],
    }
    text = json.dumps(head, ensure_ascii=False, indent=1)
    out.write(text[:-2].encode() + b',\n "entries": [')
    n = 0
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    for e in entries(family, opts):
        d = e.to_dict()
        d["member_name"] = names.get(e.member_id)
        out.write((",\n  " if n else "\n  ").encode() + dumps(d).encode())
        n += 1
        if progress is not None and n % 1000 == 0:
            progress(n, 0)
    out.write(b"\n ]\n}\n")
    if progress is not None:
        progress(n, n)
    return n


def load(data: bytes | str) -> JsonExport:
    """A JSON export back into the models (raises pydantic.ValidationError when it does not fit)."""
    return JsonExport.model_validate_json(data)
