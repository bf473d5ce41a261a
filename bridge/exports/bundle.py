"""The encrypted share bundle's writing side (`kinchart export --format bundle`): chosen members'
records and raw captures, sealed with a passphrase (the format: bridge.share_format) for another
caregiver's Kinchart, which merges it with `kinchart import-bundle` (bridge.share_import).

Which captures: every capture that is a source of an entry the export's filters select (the one
merged-timeline query), so a member or date filter chooses whole captures.
"""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime
from typing import IO

from bridge.family import Family
from bridge.share_format import FORMAT, VERSION, BundleError, check_passphrase, seal
from bridge.vault import TamperedData, Vault

from . import json_format
from .common import ExportOptions, Progress, chosen_members, entries

__all__ = ["BundleError", "payload_of", "write"]


def payload_of(
    family: Family, vault: Vault, opts: ExportOptions, progress: Progress | None = None
) -> tuple[bytes, int]:
    """The zip payload and how many captures it holds."""
    members = chosen_members(family, opts)
    wanted = {m.id for m in members}
    filed: dict[str, str] = {}
    for e in entries(family, opts):
        if e.member_id not in wanted:
            continue
        for p in (*e.sources, *(s for h in e.history for s in h.sources)):
            filed.setdefault(p.capture_id, e.member_id)
    buf = io.BytesIO()
    written: dict[str, str] = {}
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as z:
        with z.open("records.json", "w") as f:
            json_format.write(family, opts, f)
        for i, (cid, mid) in enumerate(filed.items(), 1):
            try:
                capture = vault.get_capture(cid)
            except TamperedData:  # damaged: reported by the vault (`kinchart check`); the rest is shared
                continue
            z.writestr(f"captures/{cid}.json", json.dumps(capture, ensure_ascii=False))
            written[cid] = mid
            if progress is not None and i % 200 == 0:
                progress(i, len(filed))
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "members": [
                {"id": m.id, "name": m.name, "dob": m.dob, "relationship": m.relationship} for m in members
            ],
            "captures": [{"id": cid, "member_id": mid} for cid, mid in written.items()],
        }
        z.writestr("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=1))
    if progress is not None:
        progress(len(filed), len(filed))
    return buf.getvalue(), len(written)


def write(
    family: Family,
    vault: Vault,
    opts: ExportOptions,
    out: IO[bytes],
    passphrase: str,
    progress: Progress | None = None,
) -> int:
    """Write a sealed share bundle; return how many captures it holds."""
    check_passphrase(passphrase)
    payload, n = payload_of(family, vault, opts, progress)
    out.write(seal(payload, passphrase))
    return n
