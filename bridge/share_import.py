"""`kinchart import-bundle` and the dashboard's "Import a share bundle": another caregiver's sealed
share bundle (bridge.share_format) merged into this vault.

Each raw capture is checked as any capture arriving from outside (bridge.capture.validate_capture)
and re-ingested through bridge.ingest.ingest, so the receiving vault keeps the raw truth and parses it
with its own parsers; provenance (capture id, page address, capture time) comes with the capture.
Each bundle member is matched to a receiving member by name and birth date, or created, and each new
capture is filed under it. Captures are content-addressed: importing the same bundle twice stores
nothing twice.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from bridge.capture import validate_capture
from bridge.family import Family
from bridge.family.normalize import patient_name
from bridge.ingest import ingest
from bridge.share_format import read_payload
from bridge.vault import Vault

Progress = Callable[[int, int], None]  # (captures done, of how many)


@dataclass
class ImportReport:
    members_matched: list[str] = field(default_factory=list)
    members_created: list[str] = field(default_factory=list)
    captures_new: int = 0
    captures_duplicate: int = 0
    captures_filed: int = 0
    failed: list[str] = field(default_factory=list)

    def describe(self) -> str:
        return (
            f"{self.captures_new} new capture(s), {self.captures_duplicate} already in this vault; "
            f"members matched: {len(self.members_matched)}, created: {len(self.members_created)}"
            + (f"; {len(self.failed)} capture(s) could not be read" if self.failed else "")
        )


def _match_member(family: Family, name: str, dob: str | None) -> str | None:
    key = patient_name(name)
    for m in family.list_members():
        if patient_name(m.name) == key and (m.dob == dob or not m.dob or not dob):
            return m.id
    return None


def import_bundle(
    vault: Vault, family: Family, data: bytes, passphrase: str, progress: Progress | None = None
) -> ImportReport:
    """Merge a share bundle into `vault` (see the module docstring)."""
    manifest, z = read_payload(data, passphrase)
    report = ImportReport()
    local: dict[str, str] = {}
    for m in manifest.get("members") or []:
        if not isinstance(m, dict) or not isinstance(m.get("name"), str) or not isinstance(m.get("id"), str):
            continue
        dob = m.get("dob") if isinstance(m.get("dob"), str) else None
        found = _match_member(family, m["name"], dob)
        if found is None:
            rel = m.get("relationship") if isinstance(m.get("relationship"), str) else None
            found = family.create_member(m["name"], dob, rel).id
            report.members_created.append(m["name"])
        else:
            report.members_matched.append(m["name"])
        local[m["id"]] = found
    rows = [c for c in manifest.get("captures") or [] if isinstance(c, dict) and isinstance(c.get("id"), str)]
    for i, row in enumerate(rows, 1):
        cid = row["id"]
        try:
            capture = validate_capture(json.loads(z.read(f"captures/{cid}.json")))
        except (KeyError, ValueError) as exc:
            report.failed.append(f"{cid[:12]}: {exc}")
            continue
        # `cid` is the id in the vault that made the bundle (ids are keyed per vault): here the capture
        # gets this vault's id, which is what is filed and looked up below.
        receipt = ingest(vault, capture, family)
        cid = receipt.capture_id
        target = local.get(str(row.get("member_id")))
        if receipt.duplicate:
            report.captures_duplicate += 1
            meta = vault.get_capture_meta(cid)
            if meta.get("status") == "filed":
                continue  # this vault already filed it: its caregiver's answer stands
        else:
            report.captures_new += 1
        if target and (receipt.member is None or receipt.member.id != target):
            family.assign(cid, target, only_this=True)
            report.captures_filed += 1
        if progress is not None and i % 100 == 0:
            progress(i, len(rows))
    if progress is not None:
        progress(len(rows), len(rows))
    return report
