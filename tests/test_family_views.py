"""The views over the timeline: lab trends, medication reconciliation, messages awaiting a reply,
upcoming appointments with clashes, portal accounts with expiry and staleness."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from test_family_support import FakeVault, appointment, comp, medication, message, meta, result

from bridge.family import Family
from bridge.family.accounts import eighteenth_birthday
from bridge.family.meds import parse_drug
from bridge.family.messages import business_days_between
from bridge.family.trends import analyte_of


@pytest.fixture
def fam() -> tuple[FakeVault, Family, str, str]:
    v = FakeVault()
    f = Family(v)
    mom = f.create_member("Đỗ Thị Hoa", "1949-11-03", "mother").id
    leo = f.create_member("Leo Pham", "2008-06-10", "son").id
    return v, f, mom, leo


def add(
    v: FakeVault,
    f: Family,
    org: str,
    recs: list[dict[str, object]],
    name: str = "Đỗ Thị Hoa",
    dob: str = "1949-11-03",
    page_kind: str = "test_result",
    captured_at: str = "2026-04-10T10:00:00Z",
) -> str:
    cid = v.put_capture_with(
        meta(org, name=name, dob=dob, page_kind=page_kind, captured_at=captured_at), recs
    )
    assert f.file_capture(cid).member_id
    return cid


# ------------------------------------------------------------------------------ trends


def test_analyte_names_map_only_certain_synonyms() -> None:
    a1c = {analyte_of(n)[0] for n in ("Hemoglobin A1c", "HbA1c", "A1C", "Glycohemoglobin", "HEMOGLOBIN A1C")}
    assert a1c == {"hba1c"}
    assert analyte_of("Creatinine, Serum")[0] == analyte_of("Creatinine")[0] == "creatinine"
    assert analyte_of("Potassium")[0] == analyte_of("K")[0] == analyte_of("Potassium Lvl")[0] == "potassium"
    assert analyte_of("Glucose, Fasting")[0] != analyte_of("Glucose")[0]
    assert (
        analyte_of("Glucose", "Urinalysis, Complete")[0] != analyte_of("Glucose", "Basic Metabolic Panel")[0]
    )
    assert analyte_of("Creatinine, Urine")[0] != "creatinine"
    assert analyte_of("Hemoglobin")[0] != analyte_of("Hemoglobin A1c")[0]
    assert analyte_of("Magnesium Lvl")[0] == "magnesium"


def test_trends_one_series_across_systems_with_units_and_ranges(
    fam: tuple[FakeVault, Family, str, str],
) -> None:
    v, f, mom, _ = fam
    add(
        v,
        f,
        "lakeside",
        [
            result(
                "HEMOGLOBIN A1C",
                "2026-04-07T08:42:00",
                "final",
                [comp("Hemoglobin A1C", "7.9", "%", None, 5.7, "high")],
            ),
            result(
                "BMP",
                "2026-04-07T08:42:00",
                "final",
                [
                    comp("Glucose", "180", "mg/dL", 70, 99, "high"),
                    comp("Creatinine, Serum", "1.2", "mg/dL", 0.6, 1.3),
                    comp("Potassium", "4.1", "mEq/L", 3.5, 5.1),
                ],
            ),
        ],
    )
    add(
        v,
        f,
        "prairie",
        [
            result("Hemoglobin A1c", "2025-11-18T08:10:00", None, [comp("HbA1c", "7.1", "%", 4.0, 5.6)]),
            result(
                "Basic Metabolic Panel",
                "2025-11-18T08:10:00",
                None,
                [
                    comp("Glucose", "7.0", "mmol/L", 3.9, 5.5),
                    comp("Creatinine", "97", "umol/L"),
                    comp("K", "4.4", "mmol/L"),
                ],
            ),
        ],
    )
    add(
        v,
        f,
        "cedar",
        [
            result(
                "Glycohemoglobin", "2025-06-01T09:00:00", "final", [comp("Glycohemoglobin", "53", "mmol/mol")]
            ),
            result("Urinalysis", "2025-06-01T09:00:00", "final", [comp("Glucose", "Negative")]),
        ],
    )
    series = {s.analyte: s for s in f.trends(mom)}
    a1c = series["hba1c"]
    assert [p.value for p in a1c.points] == ["53", "7.1", "7.9"]
    assert a1c.names == ("Glycohemoglobin", "HbA1c", "Hemoglobin A1C") and a1c.unit == "%"
    assert a1c.organizations == ("Cedar Ridge Family Medicine", "Lakeside Health", "Prairie Valley Health")
    # each point keeps its source's unit and range; the IFCC value is not converted
    assert [(p.unit, p.series_value) for p in a1c.points] == [("mmol/mol", None), ("%", 7.1), ("%", 7.9)]
    assert a1c.points[1].ref_range == "4.0 - 5.6" and a1c.points[1].organization == "Prairie Valley Health"
    glu = series["glucose"]
    assert glu.unit == "mg/dL" and [p.series_value for p in glu.points] == [pytest.approx(126.112), 180.0]
    assert series["creatinine"].points[0].series_value == pytest.approx(97 / 88.42, rel=1e-3)
    assert [p.series_value for p in series["potassium"].points] == [4.4, 4.1]  # mmol/L == mEq/L for K+
    assert "urine:glucose" in series and len(series["urine:glucose"].points) == 1


# ------------------------------------------------------------------------------ medications


def test_drug_names_normalize_to_ingredient_and_strength() -> None:
    d = parse_drug("metFORMIN ER 500 MG 24 hr tablet")
    assert (d.ingredient, d.strength, d.release) == ("metformin", "500 mg", "er")
    assert parse_drug("Metformin 500 mg tablet").ingredient == "metformin"
    assert parse_drug("amoxicillin-clavulanate 875-125 mg per tablet").strength == "875-125 mg"
    assert parse_drug("Metoprolol tartrate 25 mg tablet").ingredient == "metoprolol"
    assert (
        parse_drug("potassium chloride ER 10 mEq oral tablet, extended release").ingredient
        == "potassium chloride"
    )
    assert parse_drug("Ferrous sulfate 325 mg (65 mg iron) tablet").ingredient == "ferrous sulfate"
    assert parse_drug("cholecalciferol (vitamin D3) 25 mcg (1,000 unit) oral tablet").strength == "25 mcg"


def test_reconciliation_flags(fam: tuple[FakeVault, Family, str, str]) -> None:
    v, f, mom, _ = fam
    add(
        v,
        f,
        "lakeside",
        [
            medication("metFORMIN ER 500 MG 24 hr tablet", "2026-04-17", "active", "Meera Krishnan, MD"),
            medication("lisinopril 20 MG tablet", "2025-10-03", "active", "Meera Krishnan, MD"),
            medication("atorvastatin 40 MG tablet", "2026-01-12", "active", "Meera Krishnan, MD"),
            medication("acetaminophen 500 MG tablet", None, "active"),
        ],
        page_kind="medication_list",
    )
    add(
        v,
        f,
        "prairie",
        [
            medication("metFORMIN 1000 mg oral tablet", "2025-11-20", "active", "Okafor, Adaeze MD"),
            medication("lisinopril 20 mg oral tablet", "2026-03-03", "active", "Meera Krishnan MD"),
            medication("atorvastatin 40 mg oral tablet", "2025-11-20", "discontinued", "Okafor, Adaeze MD"),
            medication("furosemide 20 mg oral tablet", "2026-01-09", "active", "Lindqvist, Erik DO"),
        ],
        page_kind="medication_list",
    )
    groups = {g.ingredient: g for g in f.reconcile_medications(mom)}
    assert set(groups) == {"metformin", "lisinopril", "atorvastatin", "acetaminophen", "furosemide"}
    met = groups["metformin"]
    assert set(met.flags) == {
        "multiple_prescribers",
        "multiple_strengths",
        "different_formulations",
        "multiple_systems",
    }
    assert sorted(m.strength or "" for m in met.active) == ["1000 mg", "500 mg"]
    # same drug, same dose, same prescriber written two ways at two systems: only informational
    assert groups["lisinopril"].flags == ("multiple_systems",)
    ator = groups["atorvastatin"]
    assert ator.flags == ("discontinued_elsewhere",) and ator.organizations == ("Lakeside Health",)
    assert [m.organization for m in ator.inactive] == ["Prairie Valley Health"]
    assert "discontinued at Prairie Valley Health" in ator.notes[0]
    assert groups["acetaminophen"].flags == () and groups["furosemide"].flags == ()


# ------------------------------------------------------------------------------ messages


def test_business_days() -> None:
    mon, fri = date(2026, 4, 13), date(2026, 4, 17)
    assert business_days_between(mon, date(2026, 4, 15)) == 2
    assert business_days_between(fri, date(2026, 4, 20)) == 1  # the weekend does not count
    assert business_days_between(fri, date(2026, 4, 22)) == 3
    assert business_days_between(fri, date(2026, 4, 22), holidays={date(2026, 4, 20)}) == 2
    assert business_days_between(mon, mon) == 0


def test_awaiting_reply(fam: tuple[FakeVault, Family, str, str]) -> None:
    v, f, mom, leo = fam
    add(
        v,
        f,
        "lakeside",
        [
            message("Question about new metformin dose", "2026-04-15T19:58:00", "Kim Pham", "from_patient"),
            message(
                "Question about new metformin dose", "2026-04-16T09:12:00", "Jordan Ellis, RN", "to_patient"
            ),
            message(
                "Question about new metformin dose", "2026-04-17T12:40:00", "Kim Pham", "from_patient"
            ),  # a Friday
        ],
        page_kind="message_thread",
    )
    add(
        v,
        f,
        "prairie",
        [
            message("Refill request", "2026-04-14T10:00:00", "Kim Pham", "from_patient"),
            message(
                "RE: Refill request", "2026-04-15T10:00:00", "Brennan, Maura RN", "to_patient"
            ),  # answered
        ],
        page_kind="message_thread",
    )
    add(
        v,
        f,
        "cedar",
        [message("Rash", "2026-04-16T08:00:00", "Kim Pham", "from_patient")],
        name="Leo Pham",
        dob="2008-06-10",
        page_kind="message_thread",
    )
    # Tuesday 21 April: the Friday message waited 2 business days (Mon, Tue), the Thursday one 3
    waiting = f.awaiting_reply(today=date(2026, 4, 21))
    assert [(t.subject, t.business_days_waiting) for t in waiting] == [("Rash", 3)]
    assert waiting[0].member_id == leo and waiting[0].organization == "Cedar Ridge Family Medicine"
    later = f.awaiting_reply(today=date(2026, 4, 22))
    assert [(t.subject, t.business_days_waiting, t.messages) for t in later] == [
        ("Rash", 4, 1),
        ("Question about new metformin dose", 3, 3),
    ]
    assert [t.subject for t in f.awaiting_reply(mom, today=date(2026, 4, 22))] == [
        "Question about new metformin dose"
    ]
    assert f.awaiting_reply(mom, business_days=5, today=date(2026, 4, 22)) == []


# ------------------------------------------------------------------------------ appointments


def test_upcoming_appointments_and_clashes(fam: tuple[FakeVault, Family, str, str]) -> None:
    v, f, _mom, leo = fam
    add(
        v,
        f,
        "lakeside",
        [
            appointment(
                "Follow-Up", "2026-04-28T15:20:00", "scheduled", "Meera Krishnan, MD", "Internal Medicine"
            ),
            appointment("Echo", "2026-04-30T08:00:00", "scheduled", None, "Heart and Vascular"),
            appointment("Old", "2026-04-01T08:00:00", "completed", None, "Internal Medicine"),
            appointment("Cancelled", "2026-04-28T15:20:00", "cancelled", None, "Somewhere"),
            appointment("Wellness", "2026-05-13", "requested", None, "Internal Medicine"),
        ],
        page_kind="appointment_list",
    )
    add(
        v,
        f,
        "prairie",
        [appointment("Lab Visit", "2026-04-30T08:15:00", "scheduled", None, "Laboratory")],
        page_kind="appointment_list",
    )
    add(
        v,
        f,
        "cedar",
        [appointment("Well Child", "2026-04-28T15:30:00", "scheduled", "Aisha Bello, MD", "Pediatrics")],
        name="Leo Pham",
        dob="2008-06-10",
        page_kind="appointment_list",
    )
    up = f.upcoming_appointments(datetime(2026, 4, 20, 9, 0))
    assert [u.entry.title for u in up] == ["Follow-Up", "Well Child", "Echo", "Lab Visit", "Wellness"]
    by = {u.entry.title: u for u in up}
    assert [(c.kind, c.other_member_id) for c in by["Follow-Up"].clashes] == [("members_overlap", leo)]
    assert [c.kind for c in by["Well Child"].clashes] == ["members_overlap"]
    assert [(c.kind, c.same_place) for c in by["Echo"].clashes] == [("same_member_two_places", False)]
    assert by["Wellness"].timed is False and by["Wellness"].clashes == ()
    assert [u.entry.title for u in f.upcoming_appointments(datetime(2026, 4, 20), member_ids=[leo])] == [
        "Well Child"
    ]


# ------------------------------------------------------------------------------ accounts


def test_eighteenth_birthday() -> None:
    assert eighteenth_birthday("2008-06-10") == date(2026, 6, 10)
    assert eighteenth_birthday("2008-02-29") == date(2026, 2, 28)
    assert eighteenth_birthday(None) is None


def test_accounts_expiry_of_a_minor_and_a_set_date(fam: tuple[FakeVault, Family, str, str]) -> None:
    v, f, mom, leo = fam
    add(
        v,
        f,
        "cedar",
        [result("CBC", "2026-01-02T08:00:00")],
        name="Leo Pham",
        dob="2008-06-10",
        captured_at="2026-01-05T10:00:00Z",
    )
    add(v, f, "lakeside", [result("TSH", "2026-01-02T08:00:00")], captured_at="2026-01-05T10:00:00Z")
    add(v, f, "prairie", [result("CBC", "2026-01-02T08:00:00")], captured_at="2026-01-06T10:00:00Z")
    accounts = {(a.member_id, a.organization): a for a in f.list_accounts(date(2026, 4, 1))}
    assert len(accounts) == 3
    leo_acc = accounts[(leo, "Cedar Ridge Family Medicine")]
    assert leo_acc.portal_host == "98213-1.portal.athenahealth.com" and leo_acc.vendor == "athenahealth"
    assert (leo_acc.effective_expires_on, leo_acc.expiry_source) == ("2026-06-10", "18th_birthday")
    # a minor turning 18 within 90 days is warned about; the adults' accounts are not
    exp = f.expiring(within_days=90, today=date(2026, 4, 1))
    assert [(e.account.id, e.days_left, e.source) for e in exp] == [(leo_acc.id, 70, "18th_birthday")]
    assert f.expiring(within_days=60, today=date(2026, 4, 1)) == []
    # an adult proxy that the system expires after a period: the caregiver records the date
    lake = accounts[(mom, "Lakeside Health")]
    f.set_proxy(lake.id, relationship="adult proxy", access_level="full", expires_on="2026-05-01")
    exp = f.expiring(within_days=90, today=date(2026, 4, 1))
    assert [(e.account.organization, e.days_left) for e in exp] == [
        ("Lakeside Health", 30),
        ("Cedar Ridge Family Medicine", 70),
    ]
    # after the birthday it shows as expired (for a while), then not at all
    late = f.expiring(today=date(2026, 6, 20))
    assert [(e.account.member_id, e.expired) for e in late] == [(mom, True), (leo, True)]
    assert [e.account.member_id for e in f.expiring(today=date(2026, 12, 1))] == [mom]
    # "self" accounts have no 18th-birthday default; access levels are validated
    f.set_proxy(leo_acc.id, relationship="self")
    assert f.get_account(leo_acc.id, date(2026, 4, 1)).effective_expires_on is None  # type: ignore[union-attr]
    with pytest.raises(ValueError):
        f.set_proxy(lake.id, access_level="admin")
    got = f.get_account(lake.id)
    assert got is not None and (got.relationship, got.access_level) == ("adult proxy", "full")


def test_last_capture_per_account_and_page_kind_and_staleness(
    fam: tuple[FakeVault, Family, str, str],
) -> None:
    v, f, _mom, _ = fam
    add(
        v,
        f,
        "lakeside",
        [result("TSH", "2026-01-02T08:00:00")],
        page_kind="test_result",
        captured_at="2026-01-05T10:00:00Z",
    )
    add(
        v,
        f,
        "lakeside",
        [medication("lisinopril 20 mg tablet")],
        page_kind="medication_list",
        captured_at="2026-03-25T10:00:00Z",
    )
    last = add(
        v,
        f,
        "lakeside",
        [result("CBC", "2026-03-20T08:00:00")],
        page_kind="test_result",
        captured_at="2026-02-01T10:00:00Z",
    )
    (acc,) = f.list_accounts(date(2026, 4, 1))
    assert acc.capture_count == 3 and acc.last_captured_at == "2026-03-25T10:00:00Z"
    kinds = {k.page_kind: k for k in acc.page_kinds}
    assert kinds["test_result"].capture_id == last and kinds["test_result"].count == 2
    stale = f.stale(today=date(2026, 4, 1), older_than_days=30)
    assert [(s.page_kind, s.age_days) for s in stale] == [("test_result", 59)]


def test_views_follow_new_captures(fam: tuple[FakeVault, Family, str, str]) -> None:
    v, f, mom, _ = fam
    add(v, f, "lakeside", [result("A1C", "2026-01-07T08:42:00", "final", [comp("HbA1c", "7.9", "%")])])
    assert [len(s.points) for s in f.trends(mom)] == [1]
    assert f.trends(mom) == f.trends(mom)  # cached per index version
    add(
        v, f, "prairie", [result("Hemoglobin A1c", "2026-03-07T08:42:00", "final", [comp("A1C", "7.5", "%")])]
    )
    assert [len(s.points) for s in f.trends(mom)] == [2]
    assert f.awaiting_reply(today=date(2026, 4, 22)) == []
    add(
        v,
        f,
        "prairie",
        [message("Hi", "2026-04-15T10:00:00", "Kim", "from_patient")],
        page_kind="message_thread",
    )
    assert len(f.awaiting_reply(today=date(2026, 4, 22))) == 1


def test_accounts_are_member_system_vendor_not_host(fam: tuple[FakeVault, Family, str, str]) -> None:
    v, f, mom, _ = fam
    for org, at in (
        ("Prairie Valley Family Health", "2025-09-20T10:00:00Z"),
        ("Lakeview Cardiology", "2025-09-21T10:00:00Z"),
    ):
        m = meta("lakeside", captured_at=at)
        m.update(
            vendor="nextgen",
            organization=org,
            portal_host="pxpportal.nextgen.com",
            url=f"https://pxpportal.nextgen.com/{org.split()[0].lower()}/portal/#",
        )
        cid = v.put_capture_with(m, [result(f"CBC {org}", "2025-09-18T07:05:00")])
        assert f.file_capture(cid).member_id == mom
    accounts = f.list_accounts(date(2025, 10, 1))
    assert sorted(a.organization or "" for a in accounts) == [
        "Lakeview Cardiology",
        "Prairie Valley Family Health",
    ]
    assert {a.portal_host for a in accounts} == {"pxpportal.nextgen.com"}
