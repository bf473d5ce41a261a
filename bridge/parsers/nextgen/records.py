"""NextGen PxP Health Records sections the reference pages do not show: Allergies, Immunizations, Problems.

**A guess, on purpose kept loose.** The reference pages show only these sections' nav links
(`#/health-records/allergies`, `.../immunizations`, `.../problems`); their markup is not modeled. So
these readers key on nothing vendor-specific beyond the Health Records container: they read the
section's table by what its header texts mean (as the Medications table is built: a Material table
with one `mat-row` per item), and when no header is understood they read nothing, and the page is kept
as a `document` (`__init__.py`). Every column is optional except the item's name.
"""

from __future__ import annotations

import re

from selectolax.lexbor import LexborNode

from bridge.records import Allergy, Immunization, Problem

from ..base import Draft
from ..dates import parse_date
from ..tables import HEADER_KEYWORDS, keyword_field
from ..text import clean
from .common import cell_text, data_rows, header_columns, row_cells, select, text_of

# Header text (lower-cased) -> column name, per section.
ALLERGY_COLUMNS = {
    "allergy": "name",
    "allergen": "name",
    "allergies": "name",
    "substance": "name",
    "reaction": "reaction",
    "reactions": "reaction",
    "severity": "severity",
    "onset": "noted",
    "onset date": "noted",
    "noted": "noted",
    "date noted": "noted",
    "recorded": "noted",
    "status": "status",
}
IMMUNIZATION_COLUMNS = {
    "vaccine": "name",
    "immunization": "name",
    "immunizations": "name",
    "name": "name",
    "date": "given",
    "date given": "given",
    "dates given": "given",
    "given": "given",
    "administered": "given",
    "date administered": "given",
}
PROBLEM_COLUMNS = {
    "problem": "name",
    "problems": "name",
    "condition": "name",
    "diagnosis": "name",
    "description": "name",
    "status": "status",
    "onset": "noted",
    "onset date": "noted",
    "noted": "noted",
    "date noted": "noted",
    "recorded": "noted",
    "date": "noted",
}
_DATE = re.compile(r"\d{1,2}/\d{1,2}/\d{2,4}|\d{4}-\d{2}-\d{2}|[A-Z][a-z]{2,8}\.? \d{1,2},? \d{4}")


# A header no alias names exactly ("Vaccine name", "Date recorded"): the first keyword it contains.
KEYWORDS = HEADER_KEYWORDS


def _loose(names: list[str | None], table: LexborNode, wanted: set[str]) -> list[str | None]:
    """Fill the columns the exact aliases missed by keyword, each column name once."""
    header = next((row for row in table.css("tr") if row.css_first("th") is not None), None)
    if header is None:
        return names
    texts = [(text_of(c) or "").lower() for c in header.iter() if c.tag in {"td", "th"}]
    out = list(names) + [None] * (len(texts) - len(names))
    for i, text in enumerate(texts):
        if out[i] is not None:
            continue
        out[i] = keyword_field(text, KEYWORDS, out, wanted)
    if "given" in wanted and "given" not in out:  # a lone "Date" column of a vaccine table
        out = [("given" if n is None and "date" in t else n) for n, t in zip(out, texts, strict=False)]
    return out


def _tables(root: LexborNode, aliases: dict[str, str]) -> list[tuple[list[str | None], LexborNode]]:
    found = []
    for table in select(root, "table"):
        columns = _loose(header_columns(table, aliases, by_text=True), table, set(aliases.values()))
        if "name" in columns:
            found.append((columns, table))
    return found


def read_allergies(root: LexborNode, draft: Draft) -> None:
    for columns, table in _tables(root, ALLERGY_COLUMNS):
        for row in data_rows(table):
            cells = row_cells(row, columns, by_text=True)
            name = cell_text(cells, "name")
            if name:
                draft.records.append(
                    Allergy(
                        title=name,
                        occurred_at=parse_date(cell_text(cells, "noted")),
                        reaction=cell_text(cells, "reaction"),
                        severity=cell_text(cells, "severity"),
                    )
                )


def read_immunizations(root: LexborNode, draft: Draft) -> None:
    """One record per dose: a row listing several dates gives one record per date."""
    for columns, table in _tables(root, IMMUNIZATION_COLUMNS):
        for row in data_rows(table):
            cells = row_cells(row, columns, by_text=True)
            name = cell_text(cells, "name")
            if not name:
                continue
            days: list[str | None] = [
                d for d in (parse_date(x) for x in _DATE.findall(cell_text(cells, "given") or "")) if d
            ]
            for day in days or [None]:
                if day is None:
                    draft.warn(f"immunization {name!r} shows no date given")
                draft.records.append(Immunization(title=name, occurred_at=day))


def read_problems(root: LexborNode, draft: Draft) -> None:
    for columns, table in _tables(root, PROBLEM_COLUMNS):
        for row in data_rows(table):
            cells = row_cells(row, columns, by_text=True)
            name = cell_text(cells, "name")
            if name:
                status = clean(cell_text(cells, "status"))
                draft.records.append(
                    Problem(
                        title=name,
                        occurred_at=parse_date(cell_text(cells, "noted")),
                        status=status.lower() if status else None,
                    )
                )
