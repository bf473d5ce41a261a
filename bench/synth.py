"""A synthetic family vault, deterministic from a seed: 5 members, 4 health systems, 10 years,
100,000 records in 20,000 captures (scaled down with --records/--captures).

Captures are small stand-in pages; their records are written as a parse would have written them
(contract records plus the capture meta of bridge/ingest.py), then filed through the family model.
Every person and value is invented. Shared by bench/dashboard.py, bench/export.py and bench/all.py.
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from _common import figure

from bridge.vault import KdfParams, Vault

PASSPHRASE = "synthetic benchmark passphrase"
MEMBERS = [
    ("Rosalind Quarry", "1944-03-09", "mother"),
    ("Theodore Quarry", "1941-11-30", "father"),
    ("Milo Quarry", "2009-06-14", "son"),
    ("Ada Quarry-Lind", "1975-01-22", "self"),
    ("Juniper Quarry", "2013-09-02", "daughter"),
]
SYSTEMS = [
    ("epic_mychart", "Lakeshore Health", "mychart.lakeshore.example", "/MyChart/app/test-results"),
    (
        "oracle_health",
        "Prairie Valley Health",
        "patientportal.prairievalley.example",
        "/person/1/health-record/results/",
    ),
    ("athenahealth", "Cedar Family Practice", "cedar.portal.athenahealth.example", "/patient/results"),
    ("nextgen", "Riverbend Clinic", "riverbend.nextmd.example", "/pxp/labs"),
]
ANALYTES = [
    ("Hemoglobin A1c", "%", 4.0, 5.6, 5.0, 9.5),
    ("Glucose", "mg/dL", 70, 99, 80, 190),
    ("Creatinine", "mg/dL", 0.6, 1.3, 0.7, 2.1),
    ("Potassium", "mmol/L", 3.5, 5.1, 3.2, 5.8),
    ("Sodium", "mmol/L", 136, 145, 130, 148),
    ("Hemoglobin", "g/dL", 12.0, 16.0, 9.5, 16.5),
    ("WBC", "K/uL", 4.0, 11.0, 3.0, 14.0),
    ("LDL Cholesterol", "mg/dL", 0, 99, 60, 180),
    ("TSH", "uIU/mL", 0.4, 4.0, 0.3, 6.0),
    ("eGFR", "mL/min/1.73m2", 60, None, 35, 100),
]
PANELS = {
    "Basic Metabolic Panel": [1, 2, 3, 4],
    "Hemoglobin A1c": [0],
    "CBC": [5, 6],
    "Lipid Panel": [7],
    "Thyroid Stimulating Hormone": [8],
    "Renal Function": [2, 9],
}
DRUGS = [
    "metformin 500 mg tablet",
    "lisinopril 10 mg tablet",
    "atorvastatin 20 mg tablet",
    "levothyroxine 50 mcg tablet",
    "amlodipine 5 mg tablet",
    "sertraline 50 mg tablet",
    "albuterol 90 mcg/actuation inhaler",
    "omeprazole 20 mg capsule",
]
VACCINES = [
    "Influenza, seasonal",
    "COVID-19 mRNA",
    "Tdap",
    "Pneumococcal conjugate PCV20",
    "Zoster recombinant",
]
PROVIDERS = [
    "Imani Okoro, MD",
    "Lars Petrakis, DO",
    "Beatriz Solano, NP",
    "Kwame Ashworth, MD",
    "Yuki Brandt, PA-C",
]
SUBJECTS = [
    "Question about dose",
    "Refill request",
    "Test results",
    "Dizziness after new medicine",
    "Appointment",
]


def _when(rng: random.Random, start: date, days: int) -> datetime:
    return datetime.combine(start + timedelta(days=rng.randrange(days)), datetime.min.time()) + timedelta(
        minutes=rng.randrange(7 * 60, 18 * 60)
    )


def _component(rng: random.Random, idx: int) -> dict[str, Any]:
    name, unit, lo, hi, vmin, vmax = ANALYTES[idx]
    value = round(rng.uniform(vmin, vmax), 1)
    flag = "high" if hi is not None and value > hi else "low" if value < lo else None
    rng_text = f"{lo} - {hi}" if hi is not None else f">={lo}"
    return {
        "name": name,
        "value": str(value),
        "value_num": value,
        "unit": unit,
        "ref_range": rng_text,
        "ref_low": lo,
        "ref_high": hi,
        "flag": flag,
    }


def _records(rng: random.Random, kind: str, n: int, when: datetime, org: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i in range(n):
        at = (when - timedelta(days=30 * i)).isoformat(timespec="seconds")
        if kind == "test_result":
            panel = rng.choice(list(PANELS))
            out.append(
                {
                    "kind": "test_result",
                    "title": panel,
                    "occurred_at": at,
                    "category": "lab",
                    "status": "final",
                    "resulted_at": at,
                    "ordered_by": rng.choice(PROVIDERS),
                    "performing_lab": f"{org} Laboratory",
                    "narrative": None,
                    "comments": None,
                    "components": [_component(rng, c) for c in PANELS[panel]],
                }
            )
        elif kind == "message":
            subject = rng.choice(SUBJECTS)
            out.append(
                {
                    "kind": "message",
                    "title": subject,
                    "occurred_at": at,
                    "thread_subject": subject,
                    "sender": rng.choice(PROVIDERS),
                    "recipients": ["Patient"],
                    "body": f"Synthetic message {rng.randrange(10**9)} about {subject.lower()}.",
                    "direction": rng.choice(["to_patient", "from_patient"]),
                }
            )
        elif kind == "appointment":
            start = when + timedelta(days=rng.randrange(-3000, 120))
            out.append(
                {
                    "kind": "appointment",
                    "title": "Office Visit",
                    "occurred_at": start.isoformat(timespec="seconds"),
                    "visit_type": "Office Visit",
                    "provider": rng.choice(PROVIDERS),
                    "department": "Internal Medicine",
                    "location": org,
                    "status": "scheduled" if start > datetime(2026, 11, 25) else "completed",
                    "instructions": None,
                }
            )
        elif kind == "medication":
            out.append(
                {
                    "kind": "medication",
                    "title": rng.choice(DRUGS),
                    "occurred_at": at[:10],
                    "instructions": "Take 1 tablet by mouth daily",
                    "prescriber": rng.choice(PROVIDERS),
                    "status": rng.choice(["active", "active", "discontinued"]),
                    "quantity": "90 tablet",
                    "refills_remaining": rng.randrange(4),
                    "pharmacy": "Corner Pharmacy #12",
                }
            )
        elif kind == "immunization":
            out.append({"kind": "immunization", "title": rng.choice(VACCINES), "occurred_at": at[:10]})
        elif kind == "note":
            out.append(
                {
                    "kind": "note",
                    "title": "Progress Note",
                    "occurred_at": at,
                    "author": rng.choice(PROVIDERS),
                    "author_role": "Physician",
                    "department": "Internal Medicine",
                    "text": f"Synthetic progress note {rng.randrange(10**9)}.\n\nPlan: continue current care.",
                }
            )
        else:
            out.append(
                {
                    "kind": "problem",
                    "title": f"Condition {rng.randrange(40)}",
                    "occurred_at": at[:10],
                    "status": "active",
                }
            )
    return out


PAGE_KINDS = [
    ("test_result", "test_result", 1, 40),
    ("test_result_list", "test_result", 8, 15),
    ("message_thread", "message", 3, 10),
    ("appointment_list", "appointment", 4, 10),
    ("medication_list", "medication", 6, 8),
    ("immunization_list", "immunization", 6, 5),
    ("note", "note", 1, 7),
    ("problem_list", "problem", 5, 5),
]


def build(path: Path, records: int = 100_000, captures: int = 20_000, seed: int = 7) -> Vault:
    """Create (or reuse, if already built with these numbers) a synthetic family vault at `path`."""
    rng = random.Random(seed)
    marker = path / f"synth-{records}-{captures}-{seed}.done"
    if marker.exists():
        vault = Vault.open(path)
        vault.unlock(PASSPHRASE)
        return vault
    vault = Vault.create(path, PASSPHRASE, kdf=KdfParams.fast())
    from bridge.family import Family

    family = Family(vault)
    member_ids = [family.create_member(name=n, dob=d, relationship=r).id for n, d, r in MEMBERS]
    weights = [w for *_, w in PAGE_KINDS]
    per_capture = records / captures
    made = 0
    first_of: dict[tuple[int, int], str] = {}
    start_day = date(2016, 11, 25)
    batch = 500
    for c in range(captures):
        if c % batch == 0:
            tx = vault.transaction()
            tx.__enter__()
        m = rng.randrange(len(MEMBERS))
        s = rng.randrange(len(SYSTEMS))
        vendor, org, host, path_ = SYSTEMS[s]
        page_kind, kind, n, _ = rng.choices(PAGE_KINDS, weights=weights)[0]
        want = round(per_capture * (c + 1)) - made  # keeps the total on target
        n = max(1, want)
        when = _when(rng, start_day, 3650)
        recs = _records(rng, kind, n, when, org)
        made += len(recs)
        url = f"https://{host}{path_}?id={c}"
        html = f"<html><body><main><h1>{page_kind}</h1><p>synthetic capture {c}</p></main></body></html>"
        capture = {
            "url": url,
            "title": page_kind,
            "captured_at": when.isoformat(timespec="seconds") + "Z",
            "frames": [{"url": url, "html": html}],
            "extension_version": "synth",
        }
        capture_id, _ = vault.put_capture(capture)
        name, dob, _rel = MEMBERS[m]
        vault.replace_records(capture_id, recs)
        vault.set_capture_meta(
            capture_id,
            {
                "url": url,
                "title": page_kind,
                "captured_at": capture["captured_at"],
                "portal_host": host,
                "frame_urls": [url],
                "extension_version": "synth",
                "vendor": vendor,
                "page_kind": page_kind,
                "parser": vendor,
                "parser_version": "1",
                "patient": {"name": name, "dob": dob},
                "organization": org,
                "warnings": [],
                "error": None,
                "counts": {kind: len(recs)},
            },
        )
        first_of.setdefault((m, s), capture_id)
        if c % batch == batch - 1 or c == captures - 1:
            tx.__exit__(None, None, None)
    family = Family(vault)
    for (m, _s), capture_id in sorted(first_of.items()):
        family.assign(capture_id, member_ids[m])
    marker.write_text(f"{made} records\n")
    return vault


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("path", type=Path)
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--captures", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    start = time.perf_counter()
    vault = build(args.path, args.records, args.captures, args.seed)
    figure("synth.build", time.perf_counter() - start, "s")
    figure("synth.records", sum(1 for _ in vault.iter_records()), "records")
    figure("synth.captures", vault.capture_count(), "captures")
    vault.close()


if __name__ == "__main__":
    main()
