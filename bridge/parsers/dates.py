"""Dates and times from every vendor's formats into the contract's ISO 8601.

"Apr 01, 2026 5:13 AM", "04/13/26 1600", "1/1/2050 09:00:00 AM", "2025-03-12T07:42:00Z",
"Tuesday, March 4, 2025 at 9:30 AM CST". A zone is kept only when the page states it.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from dateutil import parser as dateparser

# US zone abbreviations portals print; dateutil does not know them by itself.
ZONES: dict[str, int] = {
    "EST": -5,
    "EDT": -4,
    "CST": -6,
    "CDT": -5,
    "MST": -7,
    "MDT": -6,
    "PST": -8,
    "PDT": -7,
    "AKST": -9,
    "AKDT": -8,
    "HST": -10,
    "UTC": 0,
    "GMT": 0,
    "Z": 0,
}
_TZINFOS = {name: timezone(timedelta(hours=h)) for name, h in ZONES.items()}
_MILITARY = re.compile(r"^(?P<d>.*\d{1,2}/\d{1,2}/\d{2,4})\s+(?P<h>[01]\d|2[0-3])(?P<m>[0-5]\d)$")
_NOISE = re.compile(r"\b(at|on|collected|resulted|received|date|time|of)\b\.?:?", re.I)
_HAS_TIME = re.compile(r"\d{1,2}:\d{2}|\d\s*[ap]\.?m\.?\b", re.I)
# "10:40 AM - 11:20 AM": a visit's time range; its start is the time.
_TIME_RANGE_END = re.compile(
    r"\s*(?:-|–|—|to)\s*\d{1,2}:\d{2}(?:\s*[ap]\.?m\.?)?(?:\s+[A-Z]{2,4}T?)?\s*$", re.I
)
_DEFAULT = datetime(2000, 1, 1)
_DOTTED_MERIDIEM = re.compile(r"(\d)\s*([ap])\.m\.?", re.I)
_WS = re.compile(r"\s+")
_DIGIT = re.compile(r"\d")


def _prepare(text: str) -> str:
    text = text.replace("\xa0", " ").strip()
    m = _MILITARY.match(text)
    if m:
        text = f"{m['d']} {m['h']}:{m['m']}"
    text = _TIME_RANGE_END.sub("", text)
    text = _NOISE.sub(" ", text)
    text = _DOTTED_MERIDIEM.sub(r"\1 \2m", text)
    return _WS.sub(" ", text).strip(" ,;-")


_MONTHS = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1
    )
}
_TIME = r"(?:,?\s+(?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2}))?(?:\s*(?P<ap>[AaPp][Mm]))?)?"
_FAST_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?)?$")
_FAST_US = re.compile(rf"^(?P<mo>\d{{1,2}})/(?P<d>\d{{1,2}})/(?P<y>\d{{4}}|\d{{2}}){_TIME}$")
_FAST_NAMED = re.compile(
    rf"^(?:[A-Za-z]+,?\s+)?(?P<mon>[A-Za-z]{{3}})[a-z]*\.?\s+(?P<d>\d{{1,2}}),?\s+(?P<y>\d{{4}}){_TIME}$"
)


_NO_DAY = re.compile(r"^(?:\d{4}|[A-Za-z]+\.?,?\s+\d{4}|\d{1,2}[/-]\d{4})$")


def _fast(prepared: str) -> tuple[datetime, bool] | None:
    """The common shapes without dateutil (which dominated parse time): same answers, checked in tests."""
    if _FAST_ISO.match(prepared):
        return datetime.fromisoformat(prepared), len(prepared) > 10
    m = _FAST_US.match(prepared) or _FAST_NAMED.match(prepared)
    if not m:
        return None
    groups = m.groupdict()
    if "mon" in groups and groups["mon"] is not None:
        month = _MONTHS.get(groups["mon"].lower())
        if month is None:
            return None
    else:
        month = int(groups["mo"])
    year = int(groups["y"])
    if len(groups["y"]) == 2:
        return None  # two-digit years: dateutil's century rule decides
    hour = int(groups["h"]) if groups["h"] else 0
    if groups["ap"]:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if groups["ap"].lower() == "pm" else 0)
    try:
        value = datetime(year, month, int(groups["d"]), hour, int(groups["mi"] or 0), int(groups["s"] or 0))
    except ValueError:
        return None
    return value, groups["h"] is not None


def _parse(text: str | None) -> tuple[datetime, bool] | None:
    if not text:
        return None
    prepared = _prepare(text)
    if not _DIGIT.search(prepared):
        return None
    fast = _fast(prepared)
    if fast is not None:
        return fast
    if _NO_DAY.match(prepared):  # "2019", "March 2019", "3/2019": a day would be invented
        return None
    try:
        dt = dateparser.parse(prepared, default=_DEFAULT, tzinfos=_TZINFOS, fuzzy=False)
    except (ValueError, OverflowError, TypeError):
        return None
    # A string with no year (e.g. "Mar 4") would silently become 2000: refuse it.
    if dt.year == _DEFAULT.year and "2000" not in prepared and not re.search(r"\b00\b", prepared):
        return None
    iso = re.match(r"^\d{4}-\d{2}-\d{2}T\d", prepared)
    return dt, bool(iso) or bool(_HAS_TIME.search(prepared)) or bool(_MILITARY.match(text.strip()))


def parse_date(text: str | None) -> str | None:
    """The ISO date of a text, or None."""
    got = _parse(text)
    return got[0].date().isoformat() if got else None


def parse_datetime(text: str | None) -> str | None:
    """ISO date-time when the text has a time, else the ISO date; an offset only when a zone is given."""
    got = _parse(text)
    if not got:
        return None
    dt, has_time = got
    if not has_time:
        return dt.date().isoformat()
    return dt.replace(microsecond=0).isoformat(timespec="seconds")


def combine(day: str | None, time: str | None) -> str | None:
    """A date from one place and a time from another ("03/12/2025", "7:42 AM")."""
    if not day:
        return parse_datetime(time) if time and re.search(r"\d{4}", time) else None
    if not time:
        return parse_datetime(day)
    return parse_datetime(f"{day} {time}") or parse_datetime(day)
