"""Members and filing: who a capture's patient is, asked once, remembered, never guessed silently."""

from __future__ import annotations

import pytest
from test_family_support import FakeVault, meta, result

from bridge.family import Family, UnknownMember
from bridge.family.filing import patient_key
from bridge.family.normalize import patient_name, person_name
from bridge.family.store import ASSIGNMENTS, MEMBERS, PATIENT_KEYS


@pytest.fixture
def fam() -> tuple[FakeVault, Family]:
    v = FakeVault()
    return v, Family(v)


def _cap(
    v: FakeVault,
    org: str = "lakeside",
    name: str | None = "Đỗ Thị Hoa",
    dob: str | None = "1949-11-03",
    at: str = "2026-04-07T08:42:00",
    title: str = "HEMOGLOBIN A1C",
    captured_at: str = "2026-04-07T19:22:41-05:00",
) -> str:
    return v.put_capture_with(meta(org, name=name, dob=dob, captured_at=captured_at), [result(title, at)])


def test_names_normalize_for_keys() -> None:
    assert patient_name("Đỗ Thị  Hoa") == "do thi hoa"
    assert patient_name("NGUYEN, LAN") == "lan nguyen"
    assert patient_name("Anh Do") == "anh do"  # a surname that is also a credential is kept
    assert person_name("Okafor, Adaeze MD") == person_name("Adaeze Okafor, MD") == "adaeze okafor"
    assert patient_key("Đỗ Thị Hoa", "1949-11-03", "Lakeside Health") == patient_key(
        "DO THI HOA", "1949-11-03", "lakeside health"
    )
    assert patient_key("Đỗ Thị Hoa", "1949-11-03", "Lakeside Health") != patient_key(
        "Đỗ Thị Hoa", "1949-11-03", "Prairie Valley Health"
    )
    assert patient_key(None, "1949-11-03", "X") is None


def test_members_create_rename_list(fam: tuple[FakeVault, Family]) -> None:
    v, f = fam
    mom = f.create_member("Đỗ Thị Hoa", "1949-11-03", "mother", "diabetic")
    kid = f.create_member("Leo Pham", "2012-05-01", "son")
    assert [m.name for m in f.list_members()] == ["Đỗ Thị Hoa", "Leo Pham"]
    renamed = f.rename_member(kid.id, "Leo M. Pham")
    assert renamed.name == "Leo M. Pham" and f.get_member(kid.id) == renamed
    assert f.get_member("nope") is None
    assert mom.relationship == "mother" and mom.notes == "diabetic"
    # documents are keyed by opaque ids, never by a name
    assert all(" " not in k and "Hoa" not in k for k in v.docs[MEMBERS])
    with pytest.raises(ValueError):
        f.create_member("   ")


def test_first_time_patient_waits_unassigned_then_assignment_is_remembered(
    fam: tuple[FakeVault, Family],
) -> None:
    v, f = fam
    c1 = _cap(v, name="Leo Pham", dob=None, title="CBC")
    filing = f.file_capture(c1)
    assert filing.needs_assignment and filing.member_id is None and filing.reason == "new_patient"
    assert v.get_capture_meta(c1)["status"] == "unassigned"
    assert f.timeline().total == 0  # fully stored, but not on anyone's timeline
    c2 = _cap(v, name="Leo Pham", dob=None, title="TSH", captured_at="2026-04-08T10:00:00Z")
    assert f.file_capture(c2).needs_assignment
    assert {u.capture_id for u in f.unassigned()} == {c1, c2}

    leo = f.create_member("Leo Pham", "2012-05-01", "son")
    # the page shows no birth date: never filed by identity, the caregiver is asked (with candidates)
    f3 = f.file_capture(c1)
    assert f3.needs_assignment and f3.candidates[0].member_id == leo.id and f3.candidates[0].id == leo.id
    res = f.assign(c1, leo.id)
    assert res.filed == [c2]  # the other capture of the same patient followed
    assert v.get_capture_meta(c2) | {} == v.get_capture_meta(c2)
    assert v.get_capture_meta(c2)["member_id"] == leo.id and v.get_capture_meta(c2)["status"] == "filed"
    assert f.timeline().total == 2
    assert f.unassigned() == []
    # remembered: a new capture of the same patient at the same organization files by itself
    c3 = _cap(v, name="LEO PHAM", dob=None, title="Lipid Panel", captured_at="2026-04-09T10:00:00Z")
    got = f.file_capture(c3)
    assert got.member_id == leo.id and got.reason == "remembered" and not got.needs_assignment
    # the answer is stored under a hash, never the name
    assert all(" " not in k for k in v.docs[PATIENT_KEYS]) and c1 in v.docs[ASSIGNMENTS]


def test_exact_identity_files_automatically_only_when_vouched(fam: tuple[FakeVault, Family]) -> None:
    v, f = fam
    mom = f.create_member("Đỗ Thị Hoa", "1949-11-03", "mother")
    # created with that name + dob: a page showing exactly them files, at any organization
    got = f.file_capture(_cap(v, org="prairie", name="DO THI HOA", dob="1949-11-03"))
    assert got.member_id == mom.id and got.reason == "identity"
    # same name, other birth date: asked, the member is a (lower) candidate
    other = f.file_capture(_cap(v, name="Đỗ Thị Hoa", dob="1950-01-01", title="X"))
    assert other.needs_assignment and other.candidates[0].member_id == mom.id
    assert "different birth date" in other.candidates[0].reasons
    # a name that only resembles (a middle initial more) with the same dob: asked, not filed
    similar = f.file_capture(_cap(v, name="Đỗ T. Thị Hoa", dob="1949-11-03", title="Y"))
    assert similar.needs_assignment and similar.reason == "similar"
    assert similar.candidates[0].member_id == mom.id
    assert set(similar.candidates[0].reasons) == {"similar name", "same birth date"}
    # no birth date on the page: asked
    assert f.file_capture(_cap(v, name="Đỗ Thị Hoa", dob=None, title="Z")).needs_assignment


def test_identity_learned_from_a_confirmed_assignment(fam: tuple[FakeVault, Family]) -> None:
    v, f = fam
    dad = f.create_member("Francis O'Brien", None, "father")  # created without a dob: no identity
    c1 = _cap(v, org="lakeside", name="Francis X. O'Brien", dob="1946-11-23")
    assert f.file_capture(c1).needs_assignment
    f.assign(c1, dad.id)
    # the caregiver vouched for (name, dob): the same patient at another system files by itself
    got = f.file_capture(_cap(v, org="cedar", name="FRANCIS X. O'BRIEN", dob="1946-11-23"))
    assert got.member_id == dad.id and got.reason == "identity"


def test_two_members_with_the_same_identity_are_ambiguous(fam: tuple[FakeVault, Family]) -> None:
    v, f = fam
    f.create_member("Sam Lee", "2000-01-01")
    f.create_member("Sam Lee", "2000-01-01")
    got = f.file_capture(_cap(v, name="Sam Lee", dob="2000-01-01"))
    assert got.needs_assignment and got.reason == "ambiguous" and len(got.candidates) == 2


def test_page_without_patient_always_asks(fam: tuple[FakeVault, Family]) -> None:
    v, f = fam
    a = f.create_member("A Person", "1990-01-01")
    c = _cap(v, name=None)
    got = f.file_capture(c)
    assert (
        got.needs_assignment
        and got.reason == "no_patient"
        and [x.member_id for x in got.candidates] == [a.id]
    )
    f.assign(c, a.id)
    assert f.file_capture(c).member_id == a.id  # the per-capture answer holds
    assert f.file_capture(_cap(v, name=None, title="other")).needs_assignment


def test_reassignment_moves_every_capture_of_that_patient(fam: tuple[FakeVault, Family]) -> None:
    v, f = fam
    kim = f.create_member("Kim Pham", "1975-02-02")
    hoa = f.create_member("Hoa Do", "1949-11-03")
    c1 = _cap(v, name="Đỗ Thị Hoa", dob="1949-11-03")
    c2 = _cap(v, name="Đỗ Thị Hoa", dob="1949-11-03", title="TSH")
    f.file_capture(c1)
    f.file_capture(c2)
    f.assign(c1, kim.id)  # wrong person
    assert f.timeline(member_ids=[kim.id]).total == 2
    res = f.assign(c2, hoa.id)  # the caregiver corrects it
    assert res.moved == [c1]
    assert f.timeline(member_ids=[kim.id]).total == 0 and f.timeline(member_ids=[hoa.id]).total == 2
    # kim no longer carries the identity learned from the wrong answer
    assert f.file_capture(_cap(v, org="cedar", name="Đỗ Thị Hoa", dob="1949-11-03")).member_id == hoa.id


def test_only_this_files_one_capture(fam: tuple[FakeVault, Family]) -> None:
    v, f = fam
    a = f.create_member("Twin A", "2010-01-01")
    b = f.create_member("Twin B", "2010-01-01")
    c1 = _cap(v, name="Pat Twin", dob="2010-01-01")
    c2 = _cap(v, name="Pat Twin", dob="2010-01-01", title="other")
    f.file_capture(c1)
    f.file_capture(c2)
    f.assign(c1, a.id)
    assert v.get_capture_meta(c2)["member_id"] == a.id
    f.assign(c2, b.id, only_this=True)
    assert v.get_capture_meta(c1)["member_id"] == a.id and v.get_capture_meta(c2)["member_id"] == b.id
    # a later assignment of the patient does not undo the individual answer
    f.assign(c1, a.id)
    assert v.get_capture_meta(c2)["member_id"] == b.id


def test_merge_members_moves_records_answers_and_accounts(fam: tuple[FakeVault, Family]) -> None:
    v, f = fam
    mom = f.create_member("Đỗ Thị Hoa", "1949-11-03", "mother")
    dup = f.create_member("Mom", None, None, "made by mistake")
    c1 = _cap(v, org="prairie", name="Nguyễn Thị Lan", dob="1949-08-21", title="TSH")
    f.file_capture(c1)
    f.assign(c1, dup.id)
    acc = next(a for a in f.list_accounts() if a.member_id == dup.id)
    f.set_proxy(acc.id, "adult proxy", "partial", "2027-01-01")
    f.file_capture(_cap(v))  # mom's, by identity
    assert f.timeline(member_ids=[dup.id]).total == 1
    kept = f.merge_members(mom.id, dup.id)
    assert kept.id == mom.id and kept.notes == "made by mistake"
    assert f.get_member(dup.id) == kept  # the old id redirects
    assert [m.id for m in f.list_members()] == [mom.id]
    assert f.timeline(member_ids=[mom.id]).total == 2
    assert f.timeline(member_ids=[dup.id]).total == 2  # the merged-away id leads to the survivor
    # remembered answers follow: a new capture of that patient files under the kept member
    assert (
        f.file_capture(_cap(v, org="prairie", name="Nguyễn Thị Lan", dob="1949-08-21", title="new")).member_id
        == mom.id
    )
    accounts = {a.organization: a for a in f.list_accounts()}
    assert accounts["Prairie Valley Health"].member_id == mom.id
    assert accounts["Prairie Valley Health"].access_level == "partial"
    assert accounts["Prairie Valley Health"].effective_expires_on == "2027-01-01"
    # reassigning to the old id lands on the survivor
    assert f.assign(c1, dup.id).member_id == mom.id
    with pytest.raises(ValueError):
        f.merge_members(mom.id, dup.id)
    with pytest.raises(UnknownMember):
        f.assign(c1, "no-such-member")


def test_creating_the_member_files_waiting_captures_of_exactly_that_identity(
    fam: tuple[FakeVault, Family],
) -> None:
    v, f = fam
    exact = _cap(v, name="Leo Pham", dob="2012-05-01")
    no_dob = _cap(v, name="Leo Pham", dob=None, title="TSH")
    assert f.file_capture(exact).needs_assignment and f.file_capture(no_dob).needs_assignment
    leo = f.create_member("Leo Pham", "2012-05-01", "son")
    assert v.get_capture_meta(exact)["member_id"] == leo.id
    assert [u.capture_id for u in f.unassigned()] == [no_dob]  # no birth date on the page: still asked
    assert f.timeline(member_ids=[leo.id]).total == 1


def test_after_reparse_an_automatic_filing_whose_patient_reads_differently_asks_again(
    fam: tuple[FakeVault, Family],
) -> None:
    v, f = fam
    mom = f.create_member("Đỗ Thị Hoa", "1949-11-03")
    auto = _cap(v)  # filed by identity
    told = _cap(v, org="prairie", name="Hoa Do", dob="1949-11-03", title="TSH")  # the caregiver's answer
    assert f.file_capture(auto).reason == "identity" and f.file_capture(told).needs_assignment
    f.assign(told, mom.id)
    for cid, patient in (
        (auto, {"name": "Đỗ Thị Hoa", "dob": None}),
        (told, {"name": "HOA DO", "dob": None}),
    ):
        m = v.get_capture_meta(cid)
        m["patient"] = patient  # a new parser no longer reads the birth date
        v.set_capture_meta(cid, m)
    report = Family(v).after_reparse()
    assert (report.captures_filed, report.captures_unassigned) == (1, 1)
    assert v.get_capture_meta(told)["member_id"] == mom.id
    waiting = Family(v).unassigned()
    assert [w.capture_id for w in waiting] == [auto] and waiting[0].candidates[0].member_id == mom.id
