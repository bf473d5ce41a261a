"""LOINC codes for lab results, only where a component's name maps to one with certainty.

The name is first folded to an analyte by the family model's deliberately short synonym table
(bridge.family.trends.analyte_of: urine components are kept apart, LDL direct is not LDL calculated,
fasting glucose is not glucose, ...). An analyte gets a code here only when its usual specimen is not
in doubt *and* the result's unit confirms the property (a mass concentration is not a molar one).
Left out on purpose: glucose (serum, whole blood or capillary cannot be told from the name), blood
counts and hematocrit (the LOINC codes name the method), eGFR (the formula), INR, anything urine.
"""

from __future__ import annotations

from bridge.family.trends import analyte_of

LOINC_SYSTEM = "http://loinc.org"

# analyte id -> ({normalized unit, ...}, code, display)
TABLE: dict[str, tuple[frozenset[str], str, str]] = {
    "hba1c": (frozenset({"%"}), "4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood"),
    "potassium": (frozenset({"mmol/l", "meq/l"}), "2823-3", "Potassium [Moles/volume] in Serum or Plasma"),
    "sodium": (frozenset({"mmol/l", "meq/l"}), "2951-2", "Sodium [Moles/volume] in Serum or Plasma"),
    "chloride": (frozenset({"mmol/l", "meq/l"}), "2075-0", "Chloride [Moles/volume] in Serum or Plasma"),
    "bicarbonate": (
        frozenset({"mmol/l", "meq/l"}),
        "2028-9",
        "Carbon dioxide, total [Moles/volume] in Serum or Plasma",
    ),
    "bun": (frozenset({"mg/dl"}), "3094-0", "Urea nitrogen [Mass/volume] in Serum or Plasma"),
    "creatinine": (frozenset({"mg/dl"}), "2160-0", "Creatinine [Mass/volume] in Serum or Plasma"),
    "calcium": (frozenset({"mg/dl"}), "17861-6", "Calcium [Mass/volume] in Serum or Plasma"),
    "magnesium": (frozenset({"mg/dl"}), "19123-9", "Magnesium [Mass/volume] in Serum or Plasma"),
    "hemoglobin": (frozenset({"g/dl"}), "718-7", "Hemoglobin [Mass/volume] in Blood"),
    "tsh": (frozenset({"uiu/ml", "miu/l"}), "3016-3", "Thyrotropin [Units/volume] in Serum or Plasma"),
    "free_t4": (frozenset({"ng/dl"}), "3024-7", "Thyroxine (T4) free [Mass/volume] in Serum or Plasma"),
    "cholesterol": (frozenset({"mg/dl"}), "2093-3", "Cholesterol [Mass/volume] in Serum or Plasma"),
    "hdl": (frozenset({"mg/dl"}), "2085-9", "Cholesterol in HDL [Mass/volume] in Serum or Plasma"),
    "ldl_calc": (
        frozenset({"mg/dl"}),
        "13457-7",
        "Cholesterol in LDL [Mass/volume] in Serum or Plasma by calculation",
    ),
    "triglycerides": (frozenset({"mg/dl"}), "2571-8", "Triglyceride [Mass/volume] in Serum or Plasma"),
    "alt": (
        frozenset({"u/l", "iu/l"}),
        "1742-6",
        "Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma",
    ),
    "ast": (
        frozenset({"u/l", "iu/l"}),
        "1920-8",
        "Aspartate aminotransferase [Enzymatic activity/volume] in Serum or Plasma",
    ),
    "ferritin": (frozenset({"ng/ml", "ug/l"}), "2276-4", "Ferritin [Mass/volume] in Serum or Plasma"),
    "b12": (
        frozenset({"pg/ml", "ng/l"}),
        "2132-9",
        "Cobalamin (Vitamin B12) [Mass/volume] in Serum or Plasma",
    ),
}


def _unit(u: str | None) -> str:
    return (u or "").strip().lower().replace("µ", "u").replace("μ", "u").replace(" ", "")


def loinc_for(name: str, unit: str | None, test_title: str | None = None) -> tuple[str, str] | None:
    """(code, display) when `name` (with its unit, in a test titled `test_title`) is certainly that
    LOINC code; else None."""
    analyte, _ = analyte_of(name, test_title)
    row = TABLE.get(analyte)
    if row is None:
        return None
    units, code, display = row
    if _unit(unit) not in units:
        return None
    return code, display
