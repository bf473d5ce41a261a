"""The family model over a real encrypted Vault in tmp_path: the ingest path, records parsed from the
shared portal reference pages, reparse stability, and nothing readable about a person on disk."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_family_support import reference

from bridge.family import Family
from bridge.ingest import ingest, reparse_all
from bridge.vault import DB_NAME, KdfParams, Vault

PASS = "correct horse battery staple"


@pytest.fixture
def vault(tmp_path: Path) -> Iterator[Vault]:
    v = Vault.create(tmp_path / "vault", PASS, KdfParams.fast())
    yield v
    v.close()


def capture_of(vendor: str, name: str) -> dict[str, Any]:
    html, url, exp = reference(vendor, name)
    return {
        "url": url,
        "title": name,
        "captured_at": exp["captured_at"],
        "frames": [{"url": url, "html": html}],
        "extension_version": "test",
    }


def store_expected(v: Vault, vendor: str, name: str) -> str:
    """Store a reference page with its *expected* contract records (deterministic: the parsers are being
    improved concurrently), with the meta the ingest path writes."""
    cap = capture_of(vendor, name)
    _, _, exp = reference(vendor, name)
    e = exp["expected"]
    cid, _ = v.put_capture(cap)
    v.replace_records(cid, e["records"])
    v.set_capture_meta(
        cid,
        {
            "url": cap["url"],
            "captured_at": cap["captured_at"],
            "portal_host": cap["url"].split("/")[2],
            "vendor": e["vendor"],
            "page_kind": e["page_kind"],
            "parser": e["vendor"],
            "parser_version": "test",
            "patient": e["patient"],
            "organization": e["organization"],
            "warnings": e["warnings"],
            "error": None,
        },
    )
    return cid


def test_list_and_detail_pages_of_a_real_portal_dedupe(vault: Vault) -> None:
    f = Family(vault)
    jose = f.create_member("José Nuñez", "1947-06-18", "father")
    caps = [
        store_expected(vault, "athenahealth", n)
        for n in ("test_result_list", "lab_result_cmp", "lab_result_urinalysis", "imaging_result_chest_xr")
    ]
    assert all(f.file_capture(c).member_id == jose.id for c in caps)
    results = f.timeline(member_ids=[jose.id], kinds=["test_result"], limit=None).entries
    by_title = {e.title: e for e in results}
    # the list shows 9 results; 3 of them are also captured as detail pages: 9 entries, not 12
    assert len(results) == 9
    cmp_ = by_title["Comprehensive Metabolic Panel"]
    assert len(cmp_.sources) == 2 and {s.page_kind for s in cmp_.sources} == {
        "test_result_list",
        "test_result",
    }
    assert cmp_.occurred_at == "2025-09-08T07:42:00" and len(cmp_.record["components"]) > 5
    assert len(by_title["XR Chest 2 Views"].sources) == 2
    assert by_title["Urinalysis, Complete with Microscopic"].record["status"] == "preliminary"
    # trends from the detail page, meds and messages from their pages
    store_expected(vault, "athenahealth", "medication_list")
    store_expected(vault, "athenahealth", "message_thread_refill")
    for row in vault.list_captures():
        f.file_capture(row.id)
    groups = {g.ingredient for g in f.reconcile_medications(jose.id)}
    assert {"metformin", "lisinopril", "albuterol", "tiotropium"} <= groups and "glipizide" not in groups
    assert any(s.analyte == "creatinine" for s in f.trends(jose.id))


def test_two_systems_two_members_and_real_ingest(vault: Vault) -> None:
    f = Family(vault)
    # the real ingest path, with today's parsers: an unknown patient waits for the caregiver
    receipt = ingest(vault, capture_of("oracle_health", "medication_list_current"), f)
    assert receipt.needs_assignment and receipt.member is None
    lan = f.create_member("Nguyễn Thị Lan", "1949-08-21", "mother")
    leo = f.create_member("Liam O'Brien", "2019-06-02", "grandson")
    res = f.assign(receipt.capture_id, lan.id)
    assert res.member_id == lan.id
    again = ingest(vault, capture_of("oracle_health", "allergy_list"), f)
    assert again.member is not None and again.member.id == lan.id and not again.needs_assignment
    kid = ingest(vault, capture_of("epic_mychart", "immunization_list_classic"), f)
    if kid.patient and kid.patient.get("dob") == "2019-06-02":  # the parser reads the patient
        assert kid.member is not None and kid.member.id == leo.id
    accounts = {(a.member_id, a.organization) for a in f.list_accounts()}
    assert (lan.id, "Prairie Valley Health") in accounts
    # a minor's proxy access: an 18th-birthday default exists for Liam once he has an account
    for a in f.list_accounts():
        if a.member_id == leo.id:
            assert a.effective_expires_on == "2037-06-02" and a.expiry_source == "18th_birthday"


def test_reparse_keeps_assignments_and_is_stable(vault: Vault) -> None:
    f = Family(vault)
    hoa = f.create_member("Đỗ Thị Hoa", "1949-11-03", "mother")
    caps = [
        ingest(vault, capture_of("epic_mychart", n), f).capture_id
        for n in (
            "test_result_a1c_px",
            "test_result_list_px",
            "message_thread_metformin_px",
            "health_summary_px",
        )
    ]
    for c in caps:
        if vault.get_capture_meta(c).get("status") != "filed":
            f.assign(c, hoa.id)
    before_entries = f.timeline(limit=None).entries
    assert before_entries and all(e.member_id == hoa.id for e in before_entries)

    before = f.snapshot()
    reparse_all(vault)  # records get new ids; the same parsers give the same records
    report = f.after_reparse(before)
    assert (report.added, report.removed, report.changed) == (0, 0, 0)
    assert report.captures_filed == len(caps) and report.captures_unassigned == 0
    after_entries = f.timeline(limit=None).entries
    assert [e.id for e in after_entries] == [e.id for e in before_entries]
    assert [e.record for e in after_entries] == [e.record for e in before_entries]

    # the lead's CLI makes a fresh Family after reparse_all: the stored snapshot is the baseline
    reparse_all(vault)
    fresh = Family(vault).after_reparse()
    assert (fresh.entries_before, fresh.added, fresh.removed, fresh.changed) == (len(before_entries), 0, 0, 0)

    # a parser that now reads a value differently: one entry changed, reported, the rest untouched
    a1c = next(e for e in after_entries if e.kind == "test_result" and e.record.get("components"))
    cid = a1c.sources[0].capture_id
    recs = [r.data for r in vault.records_for(cid)]
    for r in recs:
        if r.get("components"):
            r["components"][0]["value"] = "8.0"
    vault.replace_records(cid, recs)
    g = Family(vault)
    changed = g.after_reparse()
    assert (changed.added, changed.removed, changed.changed) == (0, 0, 1) and changed.changed_ids == [a1c.id]
    assert g.get_entry(a1c.id) is not None


def test_reparse_files_a_capture_whose_patient_now_reads_differently(vault: Vault) -> None:
    f = Family(vault)
    c = store_expected(vault, "oracle_health", "allergy_list")
    lan = f.create_member("Lan", None)
    assert f.file_capture(c).needs_assignment
    f.assign(c, lan.id)
    # a new parser reads the name differently: the capture stays with the caregiver's answer
    meta = vault.get_capture_meta(c)
    meta["patient"] = {"name": "NGUYEN, THI LAN", "dob": "1949-08-21"}
    meta.pop("member_id")
    meta.pop("status")
    vault.set_capture_meta(c, meta)
    report = Family(vault).after_reparse()
    assert report.captures_filed == 1 and vault.get_capture_meta(c)["member_id"] == lan.id


def test_nothing_readable_about_a_person_on_disk(vault: Vault, tmp_path: Path) -> None:
    f = Family(vault)
    kid = f.create_member("Zebulon Quartermaine", "2011-02-03", "son", "peanut allergy")
    c = store_expected(vault, "epic_mychart", "immunization_list_classic")
    f.assign(c, kid.id)
    acc = f.list_accounts()[0]
    f.set_proxy(acc.id, "parent", "full", "2029-02-03")
    f.timeline(text="dtap")
    f.after_reparse()
    vault.close()
    blob = b"".join(p.read_bytes() for p in (tmp_path / "vault").iterdir() if p.name.startswith(DB_NAME))
    for secret in ("Zebulon", "Quartermaine", "peanut", "2011-02-03", "O'Brien", "DTaP", "Bayshore"):
        assert secret.encode() not in blob, secret
