"""Exports: one module per format, all fed by the one merged-timeline query
(`Family.iter_entries(TimelineQuery(...))`, see common.py).

| format | module | writes |
| --- | --- | --- |
| json | json_format | the records in the contract's shape, with member, provenance and merged sources |
| csv | csv_format | one row per timeline entry, and a second table with one row per lab component |
| fhir | fhir_format | a FHIR R4 Bundle, validated with fhir.resources |
| ics | ics_format | appointments as iCalendar, stable UIDs |
| html | packet | the printable "new doctor" packet, self-contained |
| pdf | pdf | the same packet printed by headless Chromium |
| bundle | bundle | an encrypted share bundle for another caregiver's Kinchart |

Everything but `bundle` is plaintext: it leaves the vault's protection, and is written only where the
caregiver asks (`PLAINTEXT_WARNING` is what to tell them). The formats' names, suffixes, media types
and labels are declared once, in bridge.export_formats.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import IO

from bridge.export_formats import FORMATS, PLAINTEXT
from bridge.family import Family
from bridge.vault import Vault

from . import bundle, csv_format, fhir_format, ics_format, json_format, packet, pdf
from .common import PLAINTEXT_WARNING, ExportOptions, Progress, resolve_members
from .private_file import PrivateFile, SymlinkRefused, check_target

__all__ = [
    "FORMATS",
    "PLAINTEXT",
    "PLAINTEXT_WARNING",
    "ExportOptions",
    "Progress",
    "SymlinkRefused",
    "Written",
    "components_path",
    "export_to",
    "resolve_members",
    "write_stream",
]


@dataclass(frozen=True)
class Written:
    path: Path
    count: int  # entries, resources, events, members or captures (by format)
    what: str


def components_path(path: Path) -> Path:
    """The lab-components table beside a CSV export: `family.csv` -> `family-components.csv`."""
    return path.with_name(f"{path.stem}-components{path.suffix or '.csv'}")


def write_stream(
    fmt: str,
    family: Family,
    vault: Vault,
    opts: ExportOptions,
    out: IO[bytes],
    progress: Progress | None = None,
    *,
    passphrase: str | None = None,
    csv_table: csv_format.Table = "entries",
) -> tuple[int, str]:
    """Write one format to a binary stream; return (count, what was counted)."""
    if fmt == "json":
        return json_format.write(family, opts, out, progress), "entries"
    if fmt == "csv":
        return csv_format.write(family, opts, out, progress, table=csv_table), "rows"
    if fmt == "fhir":
        return fhir_format.write(family, opts, out, progress), "resources"
    if fmt == "ics":
        return ics_format.write(family, opts, out, progress), "appointments"
    if fmt == "html":
        return packet.write(family, opts, out, progress), "members"
    if fmt == "pdf":
        return pdf.write(family, opts, out, progress), "members"
    if fmt == "bundle":
        if not passphrase:
            raise bundle.BundleError("A share bundle needs a passphrase.")
        return bundle.write(family, vault, opts, out, passphrase, progress), "captures"
    raise ValueError(f"unknown export format '{fmt}' (one of {', '.join(FORMATS)})")


def export_to(
    fmt: str,
    family: Family,
    vault: Vault,
    opts: ExportOptions,
    path: Path,
    progress: Progress | None = None,
    *,
    passphrase: str | None = None,
    overwrite: bool = False,
) -> list[Written]:
    """Write an export to `path`, readable by its owner only (0600), and refuse a symbolic link there
    or, unless `overwrite`, any existing file. Each file is written to a new file beside the target and
    renamed into place (private_file.py), so a replaced file's mode, owner and other links are never
    inherited or written through. CSV also writes the lab-components table beside it
    (`components_path`). A failed export leaves no file."""
    targets: list[tuple[Path, csv_format.Table]] = [(path, "entries")]
    if fmt == "csv":
        targets.append((components_path(path), "components"))
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format '{fmt}' (one of {', '.join(FORMATS)})")
    for p, _ in targets:
        check_target(p, overwrite)
    staged: list[PrivateFile] = []
    placed: list[Path] = []
    done: list[Written] = []
    try:
        for p, table in targets:
            staged.append(f := PrivateFile(p))
            count, what = write_stream(
                fmt, family, vault, opts, f.stream, progress, passphrase=passphrase, csv_table=table
            )
            done.append(Written(p, count, what))
        for f in staged:  # only once every table is written: a CSV export is both files or neither
            f.commit(overwrite)
            placed.append(f.target)
    except BaseException:
        for f in staged:
            f.discard()
        for p in placed:
            p.unlink(missing_ok=True)
        raise
    return done
