"""Dedupe and supersession: one entry per fact, every source listed, earlier versions kept as history."""

from __future__ import annotations

import random
from typing import Any

from test_family_support import appointment, comp, medication, message, result

from bridge.family.dedupe import RecordItem, build_entries, make_item, merge_records
from bridge.family.models import Entry, Provenance

ORG = {
    "L": ("Lakeside Health", "epic_mychart"),
    "P": ("Prairie Valley Health", "oracle_health"),
    "C": ("Cedar Ridge Family Medicine", "athenahealth"),
}


class Maker:
    def __init__(self) -> None:
        self.rid = 0

    def __call__(
        self,
        rec: dict[str, Any],
        capture: str,
        captured_at: str,
        org: str = "L",
        member: str = "m1",
        ordinal: int = 0,
        page_kind: str = "test_result",
    ) -> RecordItem:
        self.rid += 1
        name, vendor = ORG[org]
        prov = Provenance(
            capture_id=capture,
            record_id=self.rid,
            url=f"https://{org}.example/{capture}",
            vendor=vendor,
            organization=name,
            parser=vendor,
            parser_version="1",
            page_kind=page_kind,
            captured_at=captured_at,
        )
        return make_item(self.rid, capture, ordinal, member, rec, prov)


def one(entries: list[Entry]) -> Entry:
    assert len(entries) == 1, [(e.title, e.occurred_at) for e in entries]
    return entries[0]


A1C = [
    comp("Hemoglobin A1C", "7.9", "%", None, 5.7, "high"),
    comp("Estimated Average Glucose", "180", "mg/dL"),
]


def test_list_page_detail_page_and_second_system_are_one_entry() -> None:
    mk = Maker()
    items = [
        mk(
            result("Hemoglobin A1c", "2026-04-07", "final"),
            "list",
            "2026-04-07T19:20:00-05:00",
            page_kind="test_result_list",
        ),
        mk(
            result(
                "HEMOGLOBIN A1C",
                "2026-04-07T08:42:00",
                "final",
                A1C,
                ordered_by="Meera Krishnan, MD",
                comments="Your A1c is 7.9%.",
            ),
            "detail",
            "2026-04-07T19:22:41-05:00",
        ),
        mk(
            result("Hemoglobin A1c", "2026-04-07T08:42:00", "final", [comp("Hemoglobin A1C", "7.9", "%")]),
            "shared",
            "2026-04-09T10:00:00Z",
            org="P",
        ),
    ]
    e = one(build_entries(items))
    assert [s.capture_id for s in e.sources] == ["list", "detail", "shared"]
    assert e.organizations == ("Lakeside Health", "Prairie Valley Health")
    assert e.organization == "Prairie Valley Health"  # of the latest source
    # merged: the richer detail record is the base, the most precise time wins
    assert e.occurred_at == "2026-04-07T08:42:00" and e.record["comments"] == "Your A1c is 7.9%."
    assert [c["name"] for c in e.record["components"]] == ["Hemoglobin A1C", "Estimated Average Glucose"]
    assert e.record["components"][0]["ref_high"] == 5.7
    assert e.history == ()
    # provenance: capture, url, vendor, organization, parser and version
    s = e.sources[2]
    assert (s.capture_id, s.vendor, s.organization, s.parser, s.parser_version) == (
        "shared",
        "oracle_health",
        "Prairie Valley Health",
        "oracle_health",
        "1",
    )
    assert s.url == "https://P.example/shared"


def test_preliminary_then_final_keeps_history_and_stale_lists_stay_history() -> None:
    mk = Maker()
    items = [
        mk(result("Urinalysis", "2025-09-08", "preliminary"), "list1", "2025-09-10T10:00:00Z"),
        mk(
            result("Urinalysis", "2025-09-08T07:42:00", "preliminary", [comp("Protein", "Trace")]),
            "d1",
            "2025-09-10T10:01:00Z",
        ),
        mk(
            result("Urinalysis", "2025-09-08T07:42:00", "final", [comp("Protein", "Negative")]),
            "d2",
            "2025-09-12T10:00:00Z",
        ),
        # a stale list page captured after the final still says preliminary
        mk(result("Urinalysis", "2025-09-08", "preliminary"), "list2", "2025-09-13T10:00:00Z"),
    ]
    e = one(build_entries(items))
    assert e.record["status"] == "final" and e.record["components"][0]["value"] == "Negative"
    assert [s.capture_id for s in e.sources] == ["d2"]
    assert len(e.history) == 1
    h = e.history[0]
    assert h.record["status"] == "preliminary" and h.record["components"][0]["value"] == "Trace"
    assert [s.capture_id for s in h.sources] == ["list1", "d1", "list2"]


def test_corrected_result_supersedes_final_even_when_captured_first() -> None:
    mk = Maker()
    items = [
        mk(
            result("BMP", "2025-03-12T07:42:00", "corrected", [comp("Potassium", "4.1", "mmol/L")]),
            "corr",
            "2025-03-18T14:06:40Z",
        ),
        mk(
            result("BMP", "2025-03-12T07:42:00", "final", [comp("Potassium", "6.2", "mmol/L")]),
            "orig",
            "2025-03-19T14:06:40Z",
        ),
    ]
    e = one(build_entries(items))
    assert e.record["status"] == "corrected" and e.record["components"][0]["value"] == "4.1"
    assert [h.record["components"][0]["value"] for h in e.history] == ["6.2"]


def test_silent_change_of_a_final_value_keeps_the_earlier_as_history() -> None:
    mk = Maker()
    items = [
        mk(result("TSH", "2025-01-02T08:00:00", "final", [comp("TSH", "2.0")]), "a", "2025-01-03T00:00:00Z"),
        mk(result("TSH", "2025-01-02T08:00:00", "final", [comp("TSH", "2.5")]), "b", "2025-01-04T00:00:00Z"),
    ]
    e = one(build_entries(items))
    assert (
        e.record["components"][0]["value"] == "2.5" and e.history[0].record["components"][0]["value"] == "2.0"
    )


def test_same_test_twice_a_day_and_two_panels_of_one_page_stay_apart() -> None:
    mk = Maker()
    items = [
        mk(
            result("Glucose POC", "2025-01-02T08:00:00", "final", [comp("Glucose", "110")]),
            "a",
            "2025-01-03T00:00:00Z",
        ),
        mk(
            result("Glucose POC", "2025-01-02T20:00:00", "final", [comp("Glucose", "180")]),
            "a",
            "2025-01-03T00:00:00Z",
            ordinal=1,
        ),
        # one page, same title and minute, different analytes (Oracle's "Chemistry" panels)
        mk(
            result("Chemistry", "2026-02-24T07:42:00", None, [comp("Magnesium Lvl", "2.0")]),
            "b",
            "2026-03-04T00:00:00Z",
        ),
        mk(
            result("Chemistry", "2026-02-24T07:42:00", None, [comp("TSH", "1.1")]),
            "b",
            "2026-03-04T00:00:00Z",
            ordinal=1,
        ),
    ]
    entries = build_entries(items)
    assert len(entries) == 4 and len({e.id for e in entries}) == 4
    # a date-only list row joins the timed result of its day (not a third one)
    items.append(mk(result("Glucose POC", "2025-01-02", "final"), "list", "2025-01-05T00:00:00Z"))
    assert len(build_entries(items)) == 4


def test_members_never_merge() -> None:
    mk = Maker()
    items = [
        mk(result("CBC", "2025-01-02T08:00:00"), "a", "2025-01-03T00:00:00Z", member="m1"),
        mk(result("CBC", "2025-01-02T08:00:00"), "b", "2025-01-03T00:00:00Z", member="m2"),
    ]
    assert {e.member_id for e in build_entries(items)} == {"m1", "m2"}


def test_message_list_preview_joins_the_thread_message() -> None:
    mk = Maker()
    items = [
        mk(
            message(
                "RE: Refill request - lisinopril",
                "2026-03-03T11:52:00",
                "Brennan, Maura RN",
                "to_patient",
                "Hi Kim, the refill was sent…",
            ),
            "inbox",
            "2026-03-04T09:30:51-06:00",
            org="P",
        ),
        mk(
            message(
                "Refill request - lisinopril",
                "2026-03-03T11:52:00",
                "Brennan, Maura RN",
                "to_patient",
                "Hi Kim, the refill was sent to your pharmacy today.",
            ),
            "thread",
            "2026-03-04T09:31:40-06:00",
            org="P",
        ),
        mk(
            message(
                "Refill request - lisinopril", "2026-03-03T10:02:00", "Kim Nguyen", "from_patient", "Thanks"
            ),
            "thread",
            "2026-03-04T09:31:40-06:00",
            org="P",
            ordinal=1,
        ),
    ]
    entries = build_entries(items)
    assert len(entries) == 2
    reply = next(e for e in entries if e.occurred_at == "2026-03-03T11:52:00")
    assert reply.record["body"] == "Hi Kim, the refill was sent to your pharmacy today."
    assert [s.capture_id for s in reply.sources] == ["inbox", "thread"] and reply.history == ()


def test_appointment_cancelled_later_supersedes_and_med_dose_change_is_two_entries() -> None:
    mk = Maker()
    items = [
        mk(
            appointment("Follow-Up", "2025-10-02T09:30:00", "scheduled", "Priya Raman, MD", "Main St"),
            "a",
            "2025-09-01T00:00:00Z",
        ),
        mk(
            appointment("Follow-Up Visit", "2025-10-02T09:30:00", "cancelled", "Raman, Priya MD", "Main St"),
            "b",
            "2025-09-20T00:00:00Z",
        ),
        mk(
            medication("Metoprolol tartrate 50 mg tablet", "2025-09-15", "discontinued"),
            "m",
            "2025-09-25T00:00:00Z",
        ),
        mk(
            medication("Metoprolol tartrate 25 mg tablet", "2025-09-22", "active"),
            "m",
            "2025-09-25T00:00:00Z",
            ordinal=1,
        ),
        mk(
            medication("Metoprolol Tartrate 25 MG Tablet", "2025-09-22", "active"),
            "m2",
            "2025-09-26T00:00:00Z",
        ),
    ]
    entries = build_entries(items)
    appt = one([e for e in entries if e.kind == "appointment"])
    assert appt.record["status"] == "cancelled" and appt.history[0].record["status"] == "scheduled"
    meds = [e for e in entries if e.kind == "medication"]
    assert len(meds) == 2
    assert next(e for e in meds if "25" in (e.title or "")).sources[-1].capture_id == "m2"


def test_immunization_across_systems_and_documents_per_capture() -> None:
    mk = Maker()
    flu = {"kind": "immunization", "title": "Influenza Vaccine, High-Dose", "occurred_at": "2025-10-06"}
    doc = {"kind": "document", "title": "Visit summary", "occurred_at": None, "text": "same text"}
    items = [
        mk(flu, "a", "2025-11-01T00:00:00Z"),
        mk(dict(flu, title="INFLUENZA VACCINE HIGH DOSE"), "b", "2025-11-02T00:00:00Z", org="P"),
        mk(doc, "d1", "2025-11-01T00:00:00Z"),
        mk(doc, "d2", "2025-11-01T00:00:00Z"),
    ]
    entries = build_entries(items)
    assert len([e for e in entries if e.kind == "immunization"]) == 1
    assert len([e for e in entries if e.kind == "document"]) == 2


def test_entries_are_deterministic_whatever_the_input_order() -> None:
    mk = Maker()
    items = [
        mk(result("Hemoglobin A1c", "2026-04-07", "preliminary"), "list", "2026-04-07T19:20:00-05:00"),
        mk(
            result("HEMOGLOBIN A1C", "2026-04-07T08:42:00", "final", A1C),
            "detail",
            "2026-04-07T19:22:41-05:00",
        ),
        mk(
            result("Hemoglobin A1c", "2026-04-07T08:42:00", "final", A1C[:1]),
            "shared",
            "2026-04-09T10:00:00Z",
            org="P",
        ),
        mk(message("Hello", "2026-04-01T10:00:00", "Kim", "from_patient"), "t", "2026-04-02T00:00:00Z"),
        mk(appointment("Visit", "2026-05-01T10:00:00"), "ap", "2026-04-02T00:00:00Z"),
    ]
    want = build_entries(items)
    for seed in range(5):
        shuffled = items[:]
        random.Random(seed).shuffle(shuffled)
        assert build_entries(shuffled) == want


def test_entry_id_is_stable_when_a_detail_page_refines_a_list_row() -> None:
    mk = Maker()
    row = mk(result("Lipid Panel", "2025-03-03", "final"), "list", "2025-03-04T00:00:00Z")
    before = one(build_entries([row]))
    after = one(
        build_entries(
            [
                row,
                mk(
                    result("Lipid Panel", "2025-03-03T08:10:00", "final", [comp("LDL", "99")]),
                    "detail",
                    "2025-03-05T00:00:00Z",
                ),
            ]
        )
    )
    assert before.id == after.id


def test_merge_records_prefers_the_richer_and_fills_nulls() -> None:
    poor = result("CMP", "2025-09-08", "final", ordered_by="Priya Raman, MD")
    rich = result(
        "Comprehensive Metabolic Panel",
        "2025-09-08T07:42:00",
        "final",
        [comp("Glucose", "104")],
        performing_lab="Quest",
    )
    merged = merge_records(poor, rich)
    assert merged["title"] == "Comprehensive Metabolic Panel" and merged["ordered_by"] == "Priya Raman, MD"
    assert merged["occurred_at"] == "2025-09-08T07:42:00" and merged["performing_lab"] == "Quest"


def test_undated_results_with_different_values_are_not_taken_for_corrections() -> None:
    mk = Maker()
    items = [
        mk(result("CBC", None, "final", [comp("WBC", "5.0")]), "a", "2025-01-03T00:00:00Z"),
        mk(result("CBC", None, "final", [comp("WBC", "9.0")]), "b", "2025-01-04T00:00:00Z"),
        mk(result("CBC", None, "final", [comp("WBC", "9.0")]), "c", "2025-01-05T00:00:00Z"),
    ]
    entries = build_entries(items)
    assert sorted(len(e.sources) for e in entries) == [1, 2] and all(e.history == () for e in entries)
