"""Lab trends across health systems: one series per analyte, whatever each system calls the test.

A component name is folded (case, accents, punctuation) and a trailing "Lvl"/"Level" (Oracle Health)
is dropped; it then maps to an analyte through `SYNONYMS`, a deliberately short list of names that
are certainly the same measurement. Anything not listed is its own series under its folded name
(so "Creatinine" at two systems still meets). Deliberately *not* merged: fasting glucose with glucose,
urine analytes with blood ones (a component of a urinalysis or urine test is prefixed "urine"),
LDL direct with LDL calculated, eGFR formulas with one another, hemoglobin with hemoglobin A1c.

Units: every point keeps its source's value, unit and reference range. A point is put on the series'
unit only where the conversion is certain: same unit spelled differently (mg/dL, mg/dl), mEq/L and
mmol/L for monovalent ions (sodium, potassium, chloride, bicarbonate), glucose mmol/L -> mg/dL
(x 18.016) and creatinine umol/L -> mg/dL (/ 88.42). HbA1c IFCC mmol/mol is *not* converted to NGSP %
(the master equation is a regression, not an identity); such a point has `series_value` None.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .models import Entry
from .normalize import fold, minute_of, wall

# analyte id -> (display name, folded names that are certainly this analyte)
_SYN: dict[str, tuple[str, tuple[str, ...]]] = {
    "hba1c": (
        "Hemoglobin A1c",
        (
            "hemoglobin a1c",
            "hba1c",
            "hgb a1c",
            "hb a1c",
            "a1c",
            "glycohemoglobin",
            "glycated hemoglobin",
            "glycosylated hemoglobin",
            "hemoglobin a1c ngsp",
            "glycohemoglobin a1c",
        ),
    ),
    "glucose": (
        "Glucose",
        (
            "glucose",
            "glucose serum",
            "glucose plasma",
            "glucose serum plasma",
            "glu",
            "glucose random",
            "random glucose",
            "glucose non fasting",
        ),
    ),
    "glucose_fasting": (
        "Glucose, fasting",
        ("glucose fasting", "fasting glucose", "fasting blood glucose", "glucose fasting serum", "fbg"),
    ),
    "creatinine": (
        "Creatinine",
        (
            "creatinine",
            "creatinine serum",
            "creatinine plasma",
            "creatinine blood",
            "creatinine serum plasma",
            "creat",
        ),
    ),
    "potassium": (
        "Potassium",
        ("potassium", "k", "k+", "potassium serum", "potassium plasma", "potassium serum plasma"),
    ),
    "sodium": ("Sodium", ("sodium", "na", "na+", "sodium serum", "sodium plasma", "sodium serum plasma")),
    "chloride": ("Chloride", ("chloride", "cl", "chloride serum", "chloride plasma")),
    "bicarbonate": (
        "CO2 / bicarbonate",
        ("co2", "carbon dioxide", "bicarbonate", "total co2", "hco3", "carbon dioxide total", "co2 total"),
    ),
    "bun": (
        "Urea nitrogen (BUN)",
        ("bun", "urea nitrogen", "blood urea nitrogen", "urea nitrogen blood", "urea nitrogen serum"),
    ),
    "calcium": ("Calcium", ("calcium", "calcium serum", "calcium total", "ca total")),
    "magnesium": ("Magnesium", ("magnesium", "magnesium serum")),
    "hemoglobin": ("Hemoglobin", ("hemoglobin", "hgb", "hb", "haemoglobin")),
    "hematocrit": ("Hematocrit", ("hematocrit", "hct", "haematocrit")),
    "wbc": (
        "White blood cells",
        ("wbc", "white blood cell count", "white blood cells", "wbc count", "leukocyte count"),
    ),
    "platelets": ("Platelets", ("platelets", "platelet", "platelet count", "plt")),
    "tsh": ("TSH", ("tsh", "thyroid stimulating hormone", "thyrotropin")),
    "free_t4": ("Free T4", ("free t4", "t4 free", "thyroxine free", "free thyroxine", "ft4")),
    "cholesterol": ("Cholesterol, total", ("cholesterol", "cholesterol total", "total cholesterol")),
    "hdl": ("HDL cholesterol", ("hdl", "hdl cholesterol", "cholesterol hdl", "hdl c")),
    "ldl_calc": (
        "LDL cholesterol (calculated)",
        (
            "ldl calculated",
            "ldl cholesterol calculated",
            "ldl calc",
            "ldl cholesterol calc",
            "ldl c calculated",
        ),
    ),
    "triglycerides": ("Triglycerides", ("triglycerides", "triglyceride", "trig")),
    "egfr": ("eGFR", ("egfr",)),
    "alt": ("ALT", ("alt", "alanine aminotransferase", "alt sgpt", "sgpt")),
    "ast": ("AST", ("ast", "aspartate aminotransferase", "ast sgot", "sgot")),
    "inr": ("INR", ("inr", "international normalized ratio")),
    "ferritin": ("Ferritin", ("ferritin", "ferritin serum")),
    "b12": ("Vitamin B12", ("vitamin b12", "b12", "cobalamin", "vitamin b 12")),
}
SYNONYMS: dict[str, str] = {name: aid for aid, (_, names) in _SYN.items() for name in names}
_MONOVALENT = frozenset({"sodium", "potassium", "chloride", "bicarbonate"})
_URINE_TITLE = re.compile(r"\b(urinalysis|urine|ua)\b")
_LVL = re.compile(r"\s+(lvl|level)$")


@functools.lru_cache(maxsize=1 << 14)
def analyte_of(component_name: str, test_title: str | None = None) -> tuple[str, str]:
    """(series id, display name) for a component of a test (a few hundred distinct pairs in a family
    record, each seen thousands of times: cached)."""
    n = _LVL.sub("", fold(component_name))
    urine = bool(_URINE_TITLE.search(fold(test_title))) or n.startswith(("ua ", "urine "))
    if urine:
        core = re.sub(r"^(ua|urine)\s+", "", n)
        return f"urine:{core}", f"Urine {core}"
    aid = SYNONYMS.get(n)
    if aid:
        return aid, _SYN[aid][0]
    return f"name:{n}", component_name


def _unit(u: str | None) -> str:
    return (u or "").strip().lower().replace("µ", "u").replace("μ", "u").replace(" ", "")


# series id -> canonical unit and factors from (normalized) source units
_CANON: dict[str, tuple[str, dict[str, float]]] = {
    "glucose": ("mg/dL", {"mg/dl": 1.0, "mmol/l": 18.016}),
    "glucose_fasting": ("mg/dL", {"mg/dl": 1.0, "mmol/l": 18.016}),
    "creatinine": ("mg/dL", {"mg/dl": 1.0, "umol/l": 1 / 88.42}),
}


@dataclass(frozen=True)
class TrendPoint:
    entry_id: str
    occurred_at: str | None
    name: str  # the component name as the source shows it
    value: str | None
    value_num: float | None
    unit: str | None
    ref_range: str | None
    ref_low: float | None
    ref_high: float | None
    flag: str | None
    organization: str | None
    series_value: float | None  # value_num on the series' unit, None when not certain
    organizations: tuple[str, ...] = ()  # every system that showed this result
    also_in: tuple[str, ...] = ()  # other entries that showed the very same point


@dataclass(frozen=True)
class Series:
    analyte: str  # series id
    name: str  # display name
    unit: str | None  # the series' unit (the most common source unit, or the canonical one)
    names: tuple[str, ...]  # every name the sources used
    units: tuple[str, ...]  # every unit the sources used
    organizations: tuple[str, ...]
    points: tuple[TrendPoint, ...]


def _convert(aid: str, unit: str, series_unit: str, value: float | None) -> float | None:
    if value is None:
        return None
    u, su = _unit(unit), _unit(series_unit)
    if u == su:
        return value
    if aid in _MONOVALENT and {u, su} <= {"meq/l", "mmol/l"}:
        return value
    canon = _CANON.get(aid)
    if canon and _unit(canon[0]) == su and u in canon[1]:
        return round(value * canon[1][u], 4)
    return None


def trends(entries: Iterable[Entry], min_points: int = 1) -> list[Series]:
    """Series from the test results among `entries` (normally one member's), by analyte name. The very
    same value at the same minute shown by two entries (a panel and a single-test page) is one point."""
    raw: dict[str, list[tuple[Entry, dict[str, Any]]]] = {}
    display: dict[str, str] = {}
    for e in entries:
        if e.kind != "test_result":
            continue
        comps = e.record.get("components")
        if not isinstance(comps, list):
            continue
        for c in comps:
            if not isinstance(c, dict) or not c.get("name"):
                continue
            aid, disp = analyte_of(str(c["name"]), e.title)
            display.setdefault(aid, disp)
            raw.setdefault(aid, []).append((e, c))
    out: list[Series] = []
    for aid in sorted(raw):
        rows = raw[aid]
        canon = _CANON.get(aid)
        counts: dict[str, int] = {}
        for _, c in rows:
            u = c.get("unit")
            if isinstance(u, str) and u:
                counts[u] = counts.get(u, 0) + 1
        unit = canon[0] if canon else (max(sorted(counts), key=lambda u: counts[u]) if counts else None)
        merged: dict[tuple[str, ...], dict[str, Any]] = {}
        for e, c in sorted(rows, key=lambda r: (wall(r[0].occurred_at), r[0].id)):
            vn = c.get("value_num")
            num = float(vn) if isinstance(vn, (int, float)) else None
            value = c.get("value")
            minute = minute_of(e.occurred_at)
            k: tuple[str, ...] = (minute, "".join(str(value or "").split()).lower(), _unit(c.get("unit")))
            if not minute:
                k = (*k, e.id)
            prev = merged.get(k)
            if prev is not None:
                prev["also_in"] = (*prev["also_in"], e.id)
                prev["organizations"] = tuple(sorted({*prev["organizations"], *e.organizations}))
                continue
            merged[k] = {
                "entry_id": e.id,
                "occurred_at": e.occurred_at,
                "name": str(c["name"]),
                "value": value,
                "value_num": num,
                "unit": c.get("unit"),
                "ref_range": c.get("ref_range"),
                "ref_low": c.get("ref_low"),
                "ref_high": c.get("ref_high"),
                "flag": c.get("flag"),
                "organization": e.organization,
                "series_value": _convert(aid, c.get("unit") or "", unit, num) if unit else num,
                "organizations": e.organizations,
                "also_in": (),
            }
        points = tuple(TrendPoint(**m) for m in merged.values())
        if len(points) < min_points:
            continue
        out.append(
            Series(
                analyte=aid,
                name=display[aid],
                unit=unit,
                names=tuple(sorted({p.name for p in points})),
                units=tuple(sorted({p.unit for p in points if p.unit})),
                organizations=tuple(
                    sorted(
                        {
                            o
                            for p in points
                            for o in (p.organizations or ((p.organization,) if p.organization else ()))
                        }
                    )
                ),
                points=points,
            )
        )
    return out
