"""`csv`: one row per timeline entry (`table="entries"`), or one row per lab component
(`table="components"`). Made to open cleanly in a spreadsheet:

- UTF-8 with a byte-order mark (so accented names survive Excel), CRLF line ends, every field quoted
  where needed by the csv module;
- dates as dates: a `date` column `YYYY-MM-DD` and a `time` column `HH:MM:SS` (the forms spreadsheets
  read as dates and times), the zone, when the page stated one, in its own column (`UTC-04:00`);
- numbers as numbers (`value_num`, `ref_low`, `ref_high`, `amount_due`);
- no formula injection (captured content is hostile input): a text cell is prefixed with `'`, so a
  spreadsheet shows it as text and never evaluates it, when it begins with a tab, a carriage return or
  a line feed, or when its first character after any spaces is `=`, `+`, `-`, `@` or `|` in any form
  a spreadsheet may fold to those (full-width `＝＋－＠｜`, the small forms: whatever NFKC maps to them).
  One exception keeps values readable: a cell that is exactly a negative decimal (`-5`, `-0.25`) is
  left alone. A spreadsheet reads it as that number, a literal with no operator, reference or call, so
  there is nothing to evaluate; an apostrophe would show in the cell (CSV has no "text" marker) and turn
  the number into text. A leading `+` is not excepted: `+1` (a urine dipstick grade) would lose its
  sign in a spreadsheet, so it is kept as text.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterable
from typing import IO, Any, Literal

from bridge.family import Entry, Family

from .common import ExportOptions, Progress, chosen_members, detail, entries, sources_label

Table = Literal["entries", "components"]
DANGEROUS = ("=", "+", "-", "@", "|")  # after NFKC and leading spaces
CONTROL_LEAD = ("\t", "\r", "\n")
NEGATIVE_NUMBER = re.compile(r"-[0-9]+(?:\.[0-9]+)?")
MAX_CELL = 32_000  # spreadsheets stop at 32,767 characters a cell

ENTRY_COLUMNS = [
    "entry_id",
    "member",
    "date",
    "time",
    "utc_offset",
    "kind",
    "title",
    "status",
    "detail",
    "organizations",
    "sources",
    "capture_ids",
]
COMPONENT_COLUMNS = [
    "entry_id",
    "member",
    "date",
    "time",
    "utc_offset",
    "test",
    "component",
    "value",
    "value_num",
    "unit",
    "ref_range",
    "ref_low",
    "ref_high",
    "flag",
    "status",
    "organizations",
]


def neutralise(value: Any) -> Any:
    """A cell value safe for a spreadsheet: numbers stay numbers; text that a spreadsheet would read as
    a formula gets a leading apostrophe; over-long text is cut."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return value
    text = str(value)
    if len(text) > MAX_CELL:
        text = text[:MAX_CELL] + "…"
    if is_formula_like(text):
        return "'" + text
    return text


def is_formula_like(text: str) -> bool:
    """Whether a spreadsheet might evaluate this cell (see the module's note)."""
    if text.startswith(CONTROL_LEAD):
        return True
    rest = text.lstrip()
    if not rest or NEGATIVE_NUMBER.fullmatch(text):
        return False
    return unicodedata.normalize("NFKC", rest[0]).startswith(DANGEROUS)


_WHEN = re.compile(r"(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2})(?::(\d{2}))?(?:\.\d+)?(Z|[+-]\d{2}:?\d{2})?)?")


def split_when(iso: str | None) -> tuple[str, str, str]:
    """'2025-03-14T08:12:00-04:00' -> ('2025-03-14', '08:12:00', 'UTC-04:00')."""
    m = _WHEN.match(iso or "")
    if not m:
        return (iso or "")[:10], "", ""
    d, hm, sec, zone = m.groups()
    t = f"{hm}:{sec or '00'}" if hm else ""
    if not zone:
        return d, t, ""
    return d, t, "UTC" if zone in ("Z", "+00:00", "+0000") else f"UTC{zone}"


def _num(v: Any) -> Any:
    return v if isinstance(v, int | float) and not isinstance(v, bool) else ""


def _rows_entries(items: Iterable[Entry], names: dict[str, str]) -> Iterable[list[Any]]:
    for e in items:
        d, t, z = split_when(e.occurred_at)
        status = e.record.get("status")
        yield [
            e.id,
            names.get(e.member_id, ""),
            d,
            t,
            z,
            e.kind,
            e.title,
            status,
            detail(e),
            sources_label(e),
            len(e.sources),
            " ".join(dict.fromkeys(p.capture_id for p in e.sources)),
        ]


def _rows_components(items: Iterable[Entry], names: dict[str, str]) -> Iterable[list[Any]]:
    for e in items:
        d, t, z = split_when(e.occurred_at)
        for c in e.record.get("components") or []:
            if not isinstance(c, dict):
                continue
            yield [
                e.id,
                names.get(e.member_id, ""),
                d,
                t,
                z,
                e.title,
                c.get("name"),
                c.get("value"),
                _num(c.get("value_num")),
                c.get("unit"),
                c.get("ref_range"),
                _num(c.get("ref_low")),
                _num(c.get("ref_high")),
                c.get("flag"),
                e.record.get("status"),
                sources_label(e),
            ]


def write(
    family: Family,
    opts: ExportOptions,
    out: IO[bytes],
    progress: Progress | None = None,
    table: Table = "entries",
) -> int:
    """Write one table; return how many rows."""
    names = {m.id: m.name for m in chosen_members(family, opts)}
    if table == "components":
        columns, rows = COMPONENT_COLUMNS, _rows_components(entries(family, opts, ["test_result"]), names)
    else:
        columns, rows = ENTRY_COLUMNS, _rows_entries(entries(family, opts), names)
    text = io.TextIOWrapper(out, encoding="utf-8-sig", newline="", write_through=False)
    try:
        w = csv.writer(text, dialect="excel")
        w.writerow(columns)
        n = 0
        for row in rows:
            w.writerow([neutralise(v) for v in row])
            n += 1
            if progress is not None and n % 1000 == 0:
                progress(n, 0)
        text.flush()
    finally:
        text.detach()
    if progress is not None:
        progress(n, n)
    return n
