"""Numbers, comparators, reference ranges and flags, by the contract's rules."""

from __future__ import annotations

import re

from bridge.records import Component

from .text import clean

_NUM = r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|[-+]?\.\d+"
_VALUE = re.compile(rf"^\s*(?P<cmp><=|>=|<|>|≤|≥)?\s*(?P<num>{_NUM})\s*$")
_LEADING_VALUE = re.compile(rf"^\s*(?P<val>(?:<=|>=|<|>|≤|≥)?\s*(?:{_NUM}))(?:\s+(?P<unit>.+?))?\s*$")
_TWO_SIDED = re.compile(rf"^\s*(?P<lo>{_NUM})\s*(?:-|–|—|to)\s*(?P<hi>{_NUM})\s*(?P<rest>.*)$", re.I)
_ONE_SIDED = re.compile(rf"^\s*(?P<cmp><=|>=|<|>|≤|≥|=<|=>)\s*(?P<num>{_NUM})\s*(?P<rest>.*)$")
_WORDED = re.compile(
    rf"^\s*(?P<word>less than|under|below|greater than|over|above|up to)\s+(?:or equal to\s+)?(?P<num>{_NUM})",
    re.I,
)

FLAG_WORDS: dict[str, str] = {
    "h": "high",
    "hi": "high",
    "high": "high",
    "above high normal": "high",
    "above normal": "high",
    "l": "low",
    "lo": "low",
    "low": "low",
    "below low normal": "low",
    "below normal": "low",
    "a": "abnormal",
    "abn": "abnormal",
    "abnormal": "abnormal",
    "c": "critical",
    "crit": "critical",
    "critical": "critical",
    "panic": "critical",
    "hh": "critical",
    "ll": "critical",
    "critical high": "critical",
    "critical low": "critical",
    "h*": "critical",
    "l*": "critical",
    "!": "abnormal",
    "*": "abnormal",
}


def to_number(text: str | None) -> float | None:
    """A plain number, with thousands separators; None for anything else."""
    if text is None:
        return None
    m = re.fullmatch(_NUM, text.strip())
    return float(m.group(0).replace(",", "")) if m else None


def value_num(value: str | None) -> float | None:
    """The number in a result value: "7.9" -> 7.9, "<0.01" -> 0.01, "1,840" -> 1840, "Negative" -> None."""
    if not value:
        return None
    m = _VALUE.match(value)
    return float(m["num"].replace(",", "")) if m else None


def split_value_unit(text: str | None) -> tuple[str | None, str | None]:
    """ " 5.6 mmol/L" -> ("5.6", "mmol/L"); "Not Detected" -> ("Not Detected", None)."""
    if text is None:
        return None, None
    text = re.sub(r"\s+", " ", text.replace("\xa0", " ")).strip()
    if not text:
        return None, None
    m = _LEADING_VALUE.match(text)
    if m:
        return re.sub(r"\s+", "", m["val"]), (m["unit"] or None)
    return text, None


def parse_range(text: str | None) -> tuple[float | None, float | None]:
    """("4.0 - 5.6") -> (4.0, 5.6); "< 5.7" -> (None, 5.7); ">=60" -> (60, None); "Negative" -> (None, None)."""
    if not text:
        return None, None
    text = text.replace("\xa0", " ").strip()
    m = _TWO_SIDED.match(text)
    if m:
        return to_number(m["lo"]), to_number(m["hi"])
    m = _ONE_SIDED.match(text)
    if m:
        num = to_number(m["num"])
        return (None, num) if m["cmp"] in {"<", "<=", "≤", "=<"} else (num, None)
    m = _WORDED.match(text)
    if m:
        num = to_number(m["num"])
        return (None, num) if m["word"].lower() in {"less than", "under", "below", "up to"} else (num, None)
    return None, None


def normalize_flag(text: str | None) -> str | None:
    """A page's flag text ("High", "H", "Abnormal", "(!)", "Critical") as the contract's flag, else None."""
    if not text:
        return None
    key = re.sub(r"[()\[\]]", "", text).strip().lower()
    if key in FLAG_WORDS:
        return FLAG_WORDS[key]
    for word in ("critical", "panic", "abnormal", "high", "low"):
        if word in key:
            return FLAG_WORDS[word]
    return None


def derive_flag(
    page_flag: str | None, num: float | None, low: float | None, high: float | None
) -> str | None:
    """The page's flag when it shows one; else the range decides (portals' "normal" markers are wrong)."""
    flag = normalize_flag(page_flag)
    if flag:
        return flag
    if num is None:
        return None
    if high is not None and num > high:
        return "high"
    if low is not None and num < low:
        return "low"
    return None


def make_component(
    name: str,
    value: str | None,
    unit: str | None = None,
    ref_range: str | None = None,
    page_flag: str | None = None,
) -> Component:
    """One component with every derived field filled by the contract's rules."""
    value = value.strip() if value else None
    num = value_num(value)
    rng = re.sub(r"\s+", " ", ref_range).strip() if ref_range else None
    low, high = parse_range(rng)
    return Component(
        name=name,
        value=value or None,
        value_num=num,
        unit=(unit or None),
        ref_range=rng or None,
        ref_low=low,
        ref_high=high,
        flag=derive_flag(page_flag, num, low, high),
    )


_ANY_NUMBER = re.compile(r"\d+")
_NONE_LEFT = re.compile(r"none|no refills?|no", re.I)
_NO_REFILLS = re.compile(r"\bno\s+refills?\b", re.I)
_N_REFILLS = re.compile(r"(\d+)\s+refills?\b", re.I)


def refill_count(text: str | None) -> int | None:
    """A refills cell or field: its number ("3", "3 remaining"), 0 for "None"/"No"/"No refills", else None."""
    if not text:
        return None
    m = _ANY_NUMBER.search(text)
    if m:
        return int(m.group(0))
    return 0 if _NONE_LEFT.fullmatch(clean(text) or "") else None


def refills_in(text: str | None, at_start: bool = False) -> int | None:
    """The refills a phrase states ("3 refills remaining" -> 3, "No refills" -> 0), anywhere in the text
    or only at its start; None when it states none."""
    if not text:
        return None
    if (_NO_REFILLS.match if at_start else _NO_REFILLS.search)(text):
        return 0
    m = (_N_REFILLS.match if at_start else _N_REFILLS.search)(text)
    return int(m.group(1)) if m else None
