"""The export formats, declared once: `kinchart export --format` (its choices and help), the
dashboard's export menu and the writers (bridge.exports) all read this table.

It imports nothing, so the command line can build its help and the dashboard its menu without
loading the writers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, NamedTuple

Table = Literal["entries", "components"]  # CSV: one row per timeline entry, or per lab component


@dataclass(frozen=True)
class ExportFormat:
    suffix: str  # of the file written
    media_type: str  # of the dashboard's download
    label: str  # in the dashboard's menu
    encrypted: bool = False  # else plaintext: it leaves the vault's protection (PLAINTEXT_WARNING)
    note: str = ""  # beside its name in `kinchart export --help`
    # the dashboard's menu entries for it when not one (menu value -> CSV table, label)
    menu: dict[str, tuple[Table, str]] = field(default_factory=dict)

    def offers(self, name: str) -> dict[str, tuple[Table, str]]:
        return self.menu or {name: ("entries", self.label)}


FORMATS: dict[str, ExportFormat] = {
    "json": ExportFormat(".json", "application/json", "JSON (records, members, provenance)"),
    "csv": ExportFormat(
        ".csv",
        "text/csv; charset=utf-8",
        "CSV spreadsheet",
        menu={
            "csv": ("entries", "CSV spreadsheet: one row per timeline entry"),
            "csv-components": ("components", "CSV spreadsheet: one row per lab result component"),
        },
    ),
    "fhir": ExportFormat(".fhir.json", "application/fhir+json", "FHIR R4 Bundle"),
    "ics": ExportFormat(".ics", "text/calendar; charset=utf-8", "Calendar (appointments)"),
    "html": ExportFormat(".html", "text/html; charset=utf-8", "Printable packet (HTML)"),
    "pdf": ExportFormat(".pdf", "application/pdf", "Printable packet (PDF)"),
    "bundle": ExportFormat(
        ".kinchart-share",
        "application/octet-stream",
        "Encrypted share bundle (for another caregiver's Kinchart)",
        encrypted=True,
        note="encrypted, for another caregiver",
    ),
}
PLAINTEXT = frozenset(name for name, f in FORMATS.items() if not f.encrypted)


class MenuChoice(NamedTuple):
    """One entry of the dashboard's export menu."""

    fmt: str
    table: Table
    label: str


def menu() -> dict[str, MenuChoice]:
    """The dashboard's export menu, in the table's order: menu value -> choice."""
    return {
        value: MenuChoice(name, table, label)
        for name, f in FORMATS.items()
        for value, (table, label) in f.offers(name).items()
    }


def cli_help() -> str:
    """`--format`'s help: "json, csv, ..., or bundle (encrypted, for another caregiver)"."""
    names = [name + (f" ({f.note})" if f.note else "") for name, f in FORMATS.items()]
    return ", ".join(names[:-1]) + ", or " + names[-1]
