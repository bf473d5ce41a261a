"""The one merged-timeline query: filters, free text, paging, sort order, incremental updates, speed."""

from __future__ import annotations

import functools
import operator
import os
import random
import time
from typing import Any

import pytest
from test_family_support import FakeVault, appointment, comp, medication, message, meta, result

from bridge.family import Family, TimelineQuery


def add(
    v: FakeVault,
    f: Family,
    org: str,
    recs: list[dict[str, Any]],
    name: str = "Đỗ Thị Hoa",
    dob: str = "1949-11-03",
    captured_at: str = "2026-04-10T10:00:00Z",
    page_kind: str = "test_result",
) -> str:
    cid = v.put_capture_with(
        meta(org, name=name, dob=dob, captured_at=captured_at, page_kind=page_kind), recs
    )
    f.file_capture(cid)
    return cid


@pytest.fixture
def family() -> tuple[FakeVault, Family, str, str]:
    v = FakeVault()
    f = Family(v)
    mom = f.create_member("Đỗ Thị Hoa", "1949-11-03").id
    dad = f.create_member("Francis X. O'Brien", "1946-11-23").id
    add(
        v,
        f,
        "lakeside",
        [
            result("HEMOGLOBIN A1C", "2026-04-07T08:42:00", "final", [comp("Hemoglobin A1C", "7.9", "%")]),
            message(
                "Question about metformin",
                "2026-04-15T19:58:00",
                "Kim Pham",
                "from_patient",
                "Should she take it with food?",
            ),
            medication("metFORMIN ER 500 MG 24 hr tablet", None, "active"),
        ],
    )
    add(
        v,
        f,
        "prairie",
        [
            result("Potassium Lvl", "2026-02-24T07:42:00", None, [comp("Potassium Lvl", "5.4", "mmol/L")]),
            appointment("Follow Up Visit", "2026-03-23T10:40:00", "scheduled", "Okafor, Adaeze MD"),
        ],
    )
    add(
        v,
        f,
        "cedar",
        [
            result("Lipid Panel", "2025-03-03", "corrected"),
            appointment("Office Visit", "2025-09-08T08:00:00", "completed", "Priya Raman, MD"),
        ],
        name="Francis X. O'Brien",
        dob="1946-11-23",
    )
    return v, f, mom, dad


def titles(page: Any) -> list[str]:
    return [e.title for e in page.entries]


def test_sorted_newest_first_undated_last(family: tuple[FakeVault, Family, str, str]) -> None:
    _, f, _, _ = family
    page = f.timeline()
    assert page.total == 7
    assert titles(page) == [
        "Question about metformin",
        "HEMOGLOBIN A1C",
        "Follow Up Visit",
        "Potassium Lvl",
        "Office Visit",
        "Lipid Panel",
        "metFORMIN ER 500 MG 24 hr tablet",
    ]
    assert titles(f.timeline(newest_first=False))[0] == "Lipid Panel"


def test_filters(family: tuple[FakeVault, Family, str, str]) -> None:
    _, f, mom, dad = family
    assert f.timeline(member_ids=[dad]).total == 2
    assert f.timeline(member_ids=[mom, dad]).total == 7
    assert titles(f.timeline(kinds=["appointment"])) == ["Follow Up Visit", "Office Visit"]
    assert titles(f.timeline(member_ids=[mom], kinds=["test_result", "message"])) == [
        "Question about metformin",
        "HEMOGLOBIN A1C",
        "Potassium Lvl",
    ]
    assert f.timeline(organizations=["prairie valley health"]).total == 2
    assert f.timeline(organizations=["Lakeside Health", "Cedar Ridge Family Medicine"]).total == 5
    assert titles(f.timeline(since="2026-02-24", until="2026-04-07")) == [
        "HEMOGLOBIN A1C",
        "Follow Up Visit",
        "Potassium Lvl",
    ]
    assert titles(f.timeline(since="2026-02-24T08:00", until="2026-04-07T08:41:59")) == ["Follow Up Visit"]
    assert f.timeline(until="2025-03-03").total == 1  # a date-only `until` covers the day; undated are out


def test_free_text_search(family: tuple[FakeVault, Family, str, str]) -> None:
    _, f, _, dad = family
    assert titles(f.timeline(text="metformin")) == [
        "Question about metformin",
        "metFORMIN ER 500 MG 24 hr tablet",
    ]
    assert titles(f.timeline(text="with FOOD")) == ["Question about metformin"]  # the body is searched
    assert titles(f.timeline(text="okafor")) == ["Follow Up Visit"]
    assert (
        titles(f.timeline(text="Đỗ")) == [] and f.timeline(text="do thi").total == 0
    )  # names are not records
    assert titles(f.timeline(text="potassium 5.4")) == ["Potassium Lvl"]  # component values too
    assert titles(f.timeline(text="o'brien raman")) == [] and titles(f.timeline(text="raman")) == [
        "Office Visit"
    ]
    assert f.timeline(text="prairie").total == 2  # organizations are searched
    assert f.timeline(text="metformin", member_ids=[dad]).total == 0


def test_paging_with_total(family: tuple[FakeVault, Family, str, str]) -> None:
    _, f, _, _ = family
    full = titles(f.timeline(limit=None))
    pages = [f.timeline(offset=o, limit=3) for o in (0, 3, 6, 9)]
    assert [p.total for p in pages] == [7, 7, 7, 7]
    assert functools.reduce(operator.iadd, (titles(p) for p in pages), []) == full and pages[3].entries == []
    assert titles(f.timeline(TimelineQuery(kinds=["test_result"], offset=1, limit=1))) == ["Potassium Lvl"]
    assert [e.id for e in f.iter_entries(TimelineQuery(limit=2))] == [
        e.id for e in f.timeline(limit=None).entries
    ]


def test_entries_link_to_their_captures(family: tuple[FakeVault, Family, str, str]) -> None:
    v, f, _, _ = family
    e = f.timeline(text="a1c").entries[0]
    (src,) = e.sources
    assert src.capture_id in v.captures and src.url == "https://mychart.lakesidehealth.example/test_result"
    assert (src.vendor, src.parser, src.parser_version, src.organization) == (
        "epic_mychart",
        "epic_mychart",
        "1",
        "Lakeside Health",
    )
    assert f.get_entry(e.id) == e
    d = e.to_dict()
    assert d["sources"][0]["capture_id"] == src.capture_id and d["record"]["title"] == "HEMOGLOBIN A1C"


def _random_capture(rnd: random.Random, day: int) -> tuple[str, str, str, list[dict[str, Any]]]:
    org = rnd.choice(["lakeside", "prairie", "cedar"])
    who = rnd.choice([("Đỗ Thị Hoa", "1949-11-03"), ("Francis X. O'Brien", "1946-11-23")])
    base = f"2025-{1 + day % 12:02d}-{1 + day % 27:02d}"
    recs: list[dict[str, Any]] = []
    for i in range(rnd.randint(1, 6)):
        t = f"{base}T{8 + i:02d}:{rnd.choice([0, 15]):02d}:00"
        k = rnd.random()
        if k < 0.5:
            recs.append(
                result(
                    rnd.choice(["CBC", "BMP", "TSH"]),
                    rnd.choice([t, base]),
                    rnd.choice(["preliminary", "final", "corrected"]),
                    [comp("Glucose", str(rnd.randint(80, 90)))] if rnd.random() < 0.5 else [],
                )
            )
        elif k < 0.8:
            recs.append(appointment("Visit", t, rnd.choice(["scheduled", "cancelled"]), "Dr A", "Clinic"))
        else:
            recs.append(message(f"Subject {rnd.randint(1, 3)}", t, "Kim", "from_patient"))
    return org, who[0], who[1], recs


def test_incremental_updates_equal_a_full_rebuild() -> None:
    rnd = random.Random(7)
    v = FakeVault()
    f = Family(v)
    ids = [
        f.create_member("Đỗ Thị Hoa", "1949-11-03").id,
        f.create_member("Francis X. O'Brien", "1946-11-23").id,
    ]
    f.timeline()  # the index exists from now on: everything below is incremental
    for day in range(60):
        org, name, dob, recs = _random_capture(rnd, day % 9)
        cid = v.put_capture_with(
            meta(org, name=name, dob=dob, captured_at=f"2025-12-{1 + day % 28:02d}T10:{day:02d}:00Z"), recs
        )
        f.file_capture(cid)
    f.merge_members(ids[0], ids[1])
    incremental = list(f.timeline(limit=None).entries)
    fresh = Family(v).timeline(limit=None).entries
    assert incremental == fresh
    assert len({e.id for e in fresh}) == len(fresh)


def _populate(v: FakeVault, n_records: int) -> None:
    rnd = random.Random(1)
    made = day = 0
    while made < n_records:
        day += 1
        base = f"{2000 + day // 365:04d}-{1 + (day // 28) % 12:02d}-{1 + day % 28:02d}"
        name, dob = rnd.choice(
            [("Đỗ Thị Hoa", "1949-11-03"), ("Leo Pham", "2012-05-01"), ("Kim Pham", "1975-02-02")]
        )
        recs: list[dict[str, Any]] = []
        for i in range(20):
            t = f"{base}T{7 + i % 10:02d}:{(i * 7) % 60:02d}:00"
            k = rnd.random()
            if k < 0.5:
                recs.append(
                    result(
                        rnd.choice(["BMP", "CBC", "Hemoglobin A1c", "Lipid Panel", "TSH"]),
                        t,
                        "final",
                        [
                            comp("Glucose", str(rnd.randint(70, 200)), "mg/dL", 70, 99),
                            comp("Potassium", str(rnd.randint(30, 55) / 10), "mmol/L", 3.5, 5.1),
                        ],
                    )
                )
            elif k < 0.7:
                recs.append(
                    message(
                        f"Question {rnd.randint(1, 10**6)}",
                        t,
                        "Kim Pham",
                        "from_patient",
                        "Hello doctor, a question about the medicine.",
                    )
                )
            elif k < 0.85:
                recs.append(
                    appointment("Office Visit", t, "scheduled", "Meera Krishnan, MD", "Internal Medicine")
                )
            else:
                recs.append(
                    medication(f"Drug{rnd.randint(1, 300)} {rnd.choice([5, 10, 20])} mg tablet", base)
                )
        org = rnd.choice(["lakeside", "prairie", "cedar"])
        m = meta(org, name=name, dob=dob, captured_at=f"{base}T20:00:00-05:00", page_kind="test_result_list")
        v.put_capture_with(m, recs)
        made += len(recs)


def _bench(n_records: int, budget_ms: float) -> dict[str, float]:
    v = FakeVault()
    _populate(v, n_records)
    f = Family(v)
    ids = [
        f.create_member(n, d).id
        for n, d in [("Đỗ Thị Hoa", "1949-11-03"), ("Leo Pham", "2012-05-01"), ("Kim Pham", "1975-02-02")]
    ]
    for row in v.list_captures():
        f.file_capture(row.id)
    g = Family(v)
    t = time.process_time()
    g.timeline(limit=1)
    out = {"build_s": time.process_time() - t}
    queries = {
        "dashboard": TimelineQuery(limit=50),
        "member": TimelineQuery(member_ids=[ids[0]], limit=50),
        "member_kinds_org": TimelineQuery(
            member_ids=[ids[0]], kinds=["test_result", "message"], organizations=["Lakeside Health"], limit=50
        ),
        "dates": TimelineQuery(since="2003-01-01", until="2003-12-31", limit=50),
        "text": TimelineQuery(text="question 12345", limit=50),
        "text_member_deep": TimelineQuery(member_ids=[ids[1]], text="hemoglobin", offset=500, limit=50),
    }
    for name, q in queries.items():
        best = min(_timed(g, q) for _ in range(3))
        out[name + "_ms"] = best
        assert best < budget_ms, (name, best)
    return out


def _timed(f: Family, q: TimelineQuery) -> float:
    t = time.process_time()
    f.timeline(q)
    return (time.process_time() - t) * 1000


def test_query_speed_10k() -> None:
    _bench(10_000, budget_ms=100)


@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get("KINCHART_BENCH"), reason="set KINCHART_BENCH=1 for the 100k benchmark"
)
def test_query_speed_100k() -> None:
    print(_bench(100_000, budget_ms=100))
