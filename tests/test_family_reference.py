"""The whole portal reference set (4 vendors, 7 patients, 49 pages; the list is
fixtures/portal_pages/reference-pages.txt) through the family model, using each page's expected contract
records (deterministic while the parsers are improved concurrently)."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from reference_pages import REFERENCE_PAGES
from test_family_support import FakeVault

from bridge.family import Family

ENTRIES = 219  # 236 records on 48 of the pages; 17 facts shown by two pages


def load_reference(v: FakeVault) -> dict[str, list[str]]:
    by_patient: dict[str, list[str]] = {}
    for page in REFERENCE_PAGES:
        fn = page.with_name(page.name + ".expected.json")
        exp = json.loads(fn.read_text(encoding="utf-8"))
        e = exp["expected"]
        meta: dict[str, Any] = {
            "url": exp["url"],
            "captured_at": exp["captured_at"],
            "portal_host": exp["url"].split("/")[2],
            "vendor": e["vendor"],
            "page_kind": e["page_kind"],
            "parser": e["vendor"],
            "parser_version": "ref",
            "patient": e["patient"],
            "organization": e["organization"],
            "warnings": e["warnings"],
            "error": None,
        }
        cid = v.put_capture_with(meta, e["records"])
        by_patient.setdefault((e["patient"] or {}).get("name") or "", []).append(cid)
    return by_patient


@pytest.fixture
def ref() -> tuple[FakeVault, Family, dict[str, str]]:
    v = FakeVault()
    f = Family(v)
    by_patient = load_reference(v)
    members: dict[str, str] = {}
    for name, caps in by_patient.items():
        dobs = [v.get_capture_meta(c)["patient"]["dob"] for c in caps]
        members[name] = f.create_member(name, next((d for d in dobs if d), None)).id
    return v, f, members


def test_filing_across_the_reference(ref: tuple[FakeVault, Family, dict[str, str]]) -> None:
    v, f, members = ref
    asked = []
    for row in v.list_captures():
        filing = f.file_capture(row.id)
        if filing.needs_assignment:
            # only pages that show no birth date wait; the right member is the first candidate
            assert row.meta["patient"]["dob"] is None
            assert filing.candidates[0].member_id == members[row.meta["patient"]["name"]]
            asked.append(row.id)
            f.assign(row.id, filing.candidates[0].member_id)
        else:
            assert filing.member_id == members[row.meta["patient"]["name"]]
    assert len(asked) == 2  # the second dob-less page of that patient at that system is remembered
    assert f.unassigned() == []
    accounts = f.list_accounts()
    assert len(accounts) == 7  # each patient seen at one system
    lan = next(a for a in accounts if a.member_id == members["Nguyễn Thị Lan"])
    assert (
        len(lan.portal_hosts) == 2 and lan.capture_count == 11
    )  # a shell page and its pagelets: one account


def test_dedupe_and_views_across_the_reference(ref: tuple[FakeVault, Family, dict[str, str]]) -> None:
    v, f, members = ref
    for row in v.list_captures():
        if f.file_capture(row.id).needs_assignment:
            f.assign(row.id, members[row.meta["patient"]["name"]])
    entries = f.timeline(limit=None).entries
    multi = [e for e in entries if len(e.sources) > 1]
    assert len(multi) == 17 and len(entries) == ENTRIES
    assert all({s.capture_id for s in e.sources} <= set(v.captures) for e in entries)
    # list page + detail page at every vendor
    vendors = {s.vendor for e in multi for s in e.sources}
    assert vendors == {"epic_mychart", "oracle_health", "athenahealth", "nextgen"}
    bmp = next(e for e in multi if e.title == "BASIC METABOLIC PANEL")
    assert bmp.record["status"] == "corrected" and bmp.record["components"]
    msg = next(e for e in multi if e.kind == "message")
    assert {s.page_kind for s in msg.sources} == {"message_list", "message_thread"}
    # one series per analyte from the trend pages
    obrien = {s.name: len(s.points) for s in f.trends(members["Francis X. O'Brien"])}
    assert obrien["Hemoglobin A1c"] == 6
    lan = {s.name: s for s in f.trends(members["Nguyễn Thị Lan"])}
    assert len(lan["Potassium"].points) == 6  # the history page and the panel show one draw: one point
    assert any(p.also_in for p in lan["Potassium"].points)
    # medications of every system reconcile without false alarms
    for mid in members.values():
        for g in f.reconcile_medications(mid):
            assert "multiple_strengths" not in g.flags or len({m.strength for m in g.active}) > 1
    assert f.awaiting_reply(today=date(2026, 12, 1)) == []  # every reference thread ends with a reply


def test_reparse_of_the_reference_is_stable(ref: tuple[FakeVault, Family, dict[str, str]]) -> None:
    v, f, members = ref
    for row in v.list_captures():
        if f.file_capture(row.id).needs_assignment:
            f.assign(row.id, members[row.meta["patient"]["name"]])
    before = [e.to_dict() for e in f.timeline(limit=None).entries]
    # records rebuilt (new record ids), as `kinchart reparse` does
    for cid in list(v.captures):
        v.replace_records(cid, [r.data for r in v.records_for(cid)])
    first = f.after_reparse()
    second = Family(v).after_reparse()
    for report in (first, second):
        assert (report.added, report.removed, report.changed) == (0, 0, 0)
        assert report.captures_unassigned == 0 and report.entries_after == len(before)
    after = [e.to_dict() for e in Family(v).timeline(limit=None).entries]
    assert _strip(after) == _strip(before)


def _strip(ds: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Entries without the record ids (new after a reparse)."""
    return [
        {
            **d,
            "sources": [{**s, "record_id": 0} for s in d["sources"]],
            "history": [
                {**h, "sources": [{**s, "record_id": 0} for s in h["sources"]]} for h in d["history"]
            ],
        }
        for d in ds
    ]
