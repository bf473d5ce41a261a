"""Dates from every vendor's formats into ISO 8601, and the fast path agrees with dateutil."""

from __future__ import annotations

import pytest
from dateutil import parser as dateparser
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.parsers import dates
from bridge.parsers.dates import parse_date, parse_datetime


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("Apr 01, 2026 5:13 AM", "2026-04-01T05:13:00"),
        ("04/13/26 1600", "2026-04-13T16:00:00"),
        ("1/1/2050 09:00:00 AM", "2050-01-01T09:00:00"),
        ("03/12/2025", "2025-03-12"),
        ("Tuesday, March 4, 2025 at 9:30 AM CST", "2025-03-04T09:30:00-06:00"),
        ("Tuesday April 08, 2025 10:40 AM - 11:20 AM", "2025-04-08T10:40:00"),
        ("2025-03-12T07:42:00", "2025-03-12T07:42:00"),
        ("Collected on 03/12/2025 7:42 AM", "2025-03-12T07:42:00"),
        ("12/31/2024 12:05 AM", "2024-12-31T00:05:00"),
        ("12/31/2024 12:05 PM", "2024-12-31T12:05:00"),
        ("Mar 4", None),
        ("Your A1c is 7.9 in 2026", None),
        ("2019", None),  # a year alone: the day and month would be invented
        ("March 2019", None),
        ("3/2019", None),  # prose is not a date: right or null, never a guess
        ("", None),
        ("13/45/2025", None),
    ],
)
def test_vendor_formats(text: str, iso: str | None) -> None:
    assert parse_datetime(text) == iso


def test_date_only() -> None:
    assert parse_date("Apr 01, 2026 5:13 AM") == "2026-04-01"


@settings(max_examples=300, deadline=None)
@given(
    day=st.dates(min_value=__import__("datetime").date(1901, 1, 1)),
    hour=st.integers(0, 23),
    minute=st.integers(0, 59),
    style=st.sampled_from(["us", "us_ampm", "named", "named_ampm", "iso"]),
)
def test_fast_path_agrees_with_dateutil(day: object, hour: int, minute: int, style: str) -> None:
    import datetime as dt

    assert isinstance(day, dt.date)
    h12 = hour % 12 or 12
    ap = "AM" if hour < 12 else "PM"
    text = {
        "us": f"{day.month}/{day.day}/{day.year}",
        "us_ampm": f"{day.month:02d}/{day.day:02d}/{day.year} {h12}:{minute:02d} {ap}",
        "named": f"{day:%b} {day.day}, {day.year}",
        "named_ampm": f"{day:%B} {day.day:02d}, {day.year} {h12}:{minute:02d} {ap}",
        "iso": f"{day.isoformat()}T{hour:02d}:{minute:02d}:00",
    }[style]
    fast = dates._fast(dates._prepare(text))
    assert fast is not None
    slow = dateparser.parse(dates._prepare(text), default=dt.datetime(2000, 1, 1))
    assert fast[0] == slow
