"""Shared helpers for the family-model tests: an in-memory vault with the real Vault's API, builders of
contract records and captures. (No tests here; the module name keeps it inside tests/test_family*.)"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from conftest import FIXTURES


@dataclass
class CaptureRow:
    id: str
    seq: int
    stored_at: str
    size: int
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class RecordRow:
    id: int
    capture_id: str
    kind: str
    data: dict[str, Any] = field(default_factory=dict)


class FakeVault:
    """The slice of bridge.vault.Vault the family model uses, in memory (values deep-copied like a
    real store would)."""

    def __init__(self) -> None:
        self.captures: dict[str, CaptureRow] = {}
        self.records: dict[int, RecordRow] = {}
        self.by_capture: dict[str, list[int]] = {}
        self.docs: dict[str, dict[str, dict[str, Any]]] = {}
        self._next = 1
        self.meta_writes = 0

    # captures
    def list_captures(self) -> list[CaptureRow]:
        return [
            CaptureRow(c.id, c.seq, c.stored_at, c.size, copy.deepcopy(c.meta))
            for c in sorted(self.captures.values(), key=lambda c: c.seq)
        ]

    def get_capture_meta(self, capture_id: str) -> dict[str, Any]:
        return copy.deepcopy(self.captures[capture_id].meta)

    def set_capture_meta(self, capture_id: str, meta: dict[str, Any]) -> None:
        self.meta_writes += 1
        self.captures[capture_id].meta = copy.deepcopy(meta)

    def put_capture_with(self, meta: dict[str, Any], records: list[dict[str, Any]]) -> str:
        cid = hashlib.sha256(
            json.dumps([meta, records, len(self.captures)], sort_keys=True).encode()
        ).hexdigest()
        self.captures[cid] = CaptureRow(cid, len(self.captures) + 1, "", 0, copy.deepcopy(meta))
        self.replace_records(cid, records)
        return cid

    def replace_records(self, capture_id: str, records: list[dict[str, Any]]) -> list[int]:
        for rid in self.by_capture.pop(capture_id, []):
            del self.records[rid]
        ids = []
        for rec in records:
            self.records[self._next] = RecordRow(self._next, capture_id, rec["kind"], copy.deepcopy(rec))
            ids.append(self._next)
            self._next += 1
        self.by_capture[capture_id] = ids
        return ids

    # records
    def iter_records(self) -> Iterator[RecordRow]:
        # a real vault decrypts fresh dicts: hand out copies (JSON round trip, as cheap as it gets)
        return (
            RecordRow(r.id, r.capture_id, r.kind, json.loads(json.dumps(r.data)))
            for _, r in sorted(self.records.items())
        )

    def records_for(self, capture_id: str) -> list[RecordRow]:
        return [
            RecordRow(r.id, r.capture_id, r.kind, json.loads(json.dumps(r.data)))
            for r in (self.records[i] for i in self.by_capture.get(capture_id, []))
        ]

    # docs
    def put_doc(self, collection: str, key: str, value: dict[str, Any]) -> None:
        assert " " not in key and key, "document keys must be opaque ids"
        self.docs.setdefault(collection, {})[key] = copy.deepcopy(value)

    def get_doc(self, collection: str, key: str) -> dict[str, Any] | None:
        v = self.docs.get(collection, {}).get(key)
        return copy.deepcopy(v) if v is not None else None

    def list_docs(self, collection: str) -> dict[str, dict[str, Any]]:
        return {k: copy.deepcopy(v) for k, v in sorted(self.docs.get(collection, {}).items())}

    def delete_doc(self, collection: str, key: str) -> None:
        self.docs.get(collection, {}).pop(key, None)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        yield


# ------------------------------------------------------------------------------ builders

ORGS = {
    "lakeside": ("Lakeside Health", "mychart.lakesidehealth.example", "epic_mychart"),
    "prairie": (
        "Prairie Valley Health",
        "patientportal.myhealthelife.prairievalleyhealth.example",
        "oracle_health",
    ),
    "cedar": ("Cedar Ridge Family Medicine", "98213-1.portal.athenahealth.com", "athenahealth"),
}


def meta(
    org: str = "lakeside",
    *,
    name: str | None = "Đỗ Thị Hoa",
    dob: str | None = "1949-11-03",
    page_kind: str = "test_result",
    captured_at: str = "2026-04-07T19:22:41-05:00",
    url: str | None = None,
    parser_version: str = "1",
) -> dict[str, Any]:
    organization, host, vendor = ORGS[org]
    return {
        "vendor": vendor,
        "page_kind": page_kind,
        "parser": vendor,
        "parser_version": parser_version,
        "patient": {"name": name, "dob": dob} if name else None,
        "organization": organization,
        "portal_host": host,
        "url": url or f"https://{host}/{page_kind}",
        "captured_at": captured_at,
        "warnings": [],
        "error": None,
    }


def comp(
    name: str,
    value: str,
    unit: str | None = None,
    low: float | None = None,
    high: float | None = None,
    flag: str | None = None,
) -> dict[str, Any]:
    try:
        num: float | None = float(value.lstrip("<>"))
    except ValueError:
        num = None
    rng = (
        None
        if low is None and high is None
        else f"{low if low is not None else ''} - {high if high is not None else ''}"
    )
    return {
        "name": name,
        "value": value,
        "value_num": num,
        "unit": unit,
        "ref_range": rng,
        "ref_low": low,
        "ref_high": high,
        "flag": flag,
    }


def result(
    title: str,
    at: str | None,
    status: str | None = "final",
    components: list[dict[str, Any]] | None = None,
    **kw: Any,
) -> dict[str, Any]:
    return {
        "kind": "test_result",
        "title": title,
        "occurred_at": at,
        "category": "lab",
        "status": status,
        "resulted_at": kw.get("resulted_at"),
        "ordered_by": kw.get("ordered_by"),
        "performing_lab": kw.get("performing_lab"),
        "components": components or [],
        "narrative": kw.get("narrative"),
        "comments": kw.get("comments"),
    }


def message(subject: str, at: str, sender: str, direction: str, body: str = "…") -> dict[str, Any]:
    return {
        "kind": "message",
        "title": subject,
        "occurred_at": at,
        "thread_subject": subject,
        "sender": sender,
        "recipients": [],
        "body": body,
        "direction": direction,
    }


def appointment(
    title: str,
    at: str,
    status: str = "scheduled",
    provider: str | None = None,
    department: str | None = None,
    location: str | None = None,
) -> dict[str, Any]:
    return {
        "kind": "appointment",
        "title": title,
        "occurred_at": at,
        "visit_type": None,
        "provider": provider,
        "department": department,
        "location": location,
        "status": status,
        "instructions": None,
    }


def medication(
    title: str, at: str | None = None, status: str | None = "active", prescriber: str | None = None
) -> dict[str, Any]:
    return {
        "kind": "medication",
        "title": title,
        "occurred_at": at,
        "instructions": None,
        "prescriber": prescriber,
        "status": status,
        "quantity": None,
        "refills_remaining": None,
        "pharmacy": None,
    }


def reference(vendor: str, name: str) -> tuple[str, str, dict[str, Any]]:
    """(html, url, expected contract) of a fixture page (fixtures/portal_pages)."""
    base = FIXTURES / vendor / name
    exp = json.loads(base.with_suffix(".expected.json").read_text(encoding="utf-8"))
    html = base.with_suffix(".html").read_text(encoding="utf-8")
    return html, exp["url"], exp
