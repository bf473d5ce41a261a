"""The encrypted share bundle: chosen members' records and raw captures, sealed with a passphrase, for
another caregiver's Kinchart (`kinchart export --format bundle`, `kinchart import-bundle`).

File layout (all lengths big-endian)::

    MAGIC (16 bytes: b"KINCHART-SHARE\\x00\\x01")
    header length (4 bytes) + header (UTF-8 JSON):
        {"v": 1, "kdf": <the vault's stored KDF form: algorithm, costs, salt>, "nonce": <base64, 12 bytes>,
         "cipher": "AES-256-GCM", "payload": "zip"}
    ciphertext: AES-256-GCM(key, nonce, payload, associated data = everything above)

The key is Argon2id (scrypt where the OpenSSL lacks it) of the passphrase, with the vault's own KDF
code and cost calibration (bridge.vault.kdf); stored costs are bounds-checked before use. Any change
to the header or the ciphertext makes the open fail, as does a wrong passphrase.

The payload is a zip of `manifest.json` (members, and which member each capture is filed under),
`records.json` (the json export of those entries: contract records with member and provenance) and
`captures/<capture id>.json` (each raw capture exactly as stored). Which captures: every capture that
is a source of an entry the export's filters select (the one merged-timeline query), so a member or
date filter chooses whole captures.

Import re-ingests each raw capture through bridge.ingest.ingest (so the receiving vault keeps the
raw truth and parses it with its own parsers; provenance — capture id, page address, capture time —
comes with the capture), matches each bundle member to a receiving member by name and birth date or
creates one, and files each new capture under it. Captures are content-addressed: importing the same
bundle twice stores nothing twice.
"""

from __future__ import annotations

import base64
import io
import json
import os
import struct
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bridge.family import Family
from bridge.family.normalize import patient_name
from bridge.vault import TamperedData, Vault, kdf
from bridge.vault.capture import validate_capture

from . import json_format
from .common import ExportOptions, Progress, chosen_members, entries

MAGIC = b"KINCHART-SHARE\x00\x01"
FORMAT = "kinchart-share"
VERSION = 1
MIN_PASSPHRASE = 8
MAX_HEADER = 4096


class BundleError(ValueError):
    """Not a share bundle, damaged, or the wrong passphrase (the message says which, plainly)."""


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


def check_passphrase(passphrase: str) -> None:
    if len(passphrase) < MIN_PASSPHRASE:
        raise BundleError(f"A share bundle's passphrase needs at least {MIN_PASSPHRASE} characters.")


def seal(payload: bytes, passphrase: str, params: kdf.KdfParams | None = None) -> bytes:
    check_passphrase(passphrase)
    params = params or kdf.default_params()
    salt = kdf.new_salt()
    nonce = os.urandom(12)
    header = json.dumps(
        {
            "v": 1,
            "kdf": json.loads(kdf.dump_stored(params, salt)),
            "cipher": "AES-256-GCM",
            "payload": "zip",
            "nonce": base64.b64encode(nonce).decode("ascii"),
        },
        sort_keys=True,
        separators=(",", ":"),
    ).encode("utf-8")
    prefix = MAGIC + struct.pack(">I", len(header)) + header
    key = kdf.derive(passphrase, salt, params)
    return prefix + AESGCM(key).encrypt(nonce, payload, prefix)


def unseal(data: bytes, passphrase: str) -> bytes:
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + 4:
        raise BundleError("This file is not a Kinchart share bundle.")
    (n,) = struct.unpack(">I", data[len(MAGIC) : len(MAGIC) + 4])
    if not 0 < n <= MAX_HEADER or len(data) < len(MAGIC) + 4 + n + 16:
        raise BundleError("This share bundle is damaged (its header is unreadable).")
    prefix = data[: len(MAGIC) + 4 + n]
    try:
        header = json.loads(prefix[len(MAGIC) + 4 :])
        if header.get("v") != 1 or header.get("cipher") != "AES-256-GCM" or header.get("payload") != "zip":
            raise BundleError("This share bundle was made by a newer Kinchart.")
        params, salt = kdf.load_stored(json.dumps(header["kdf"]))
        nonce = base64.b64decode(header["nonce"], validate=True)
    except BundleError:
        raise
    except (ValueError, KeyError, TypeError, TamperedData) as exc:
        raise BundleError("This share bundle is damaged (its header is unreadable).") from exc
    if len(nonce) != 12:
        raise BundleError("This share bundle is damaged (its header is unreadable).")
    if not passphrase:
        raise BundleError("The share bundle's passphrase is needed to open it.")
    key = kdf.derive(passphrase, salt, params)
    try:
        return AESGCM(key).decrypt(nonce, data[len(prefix) :], prefix)
    except InvalidTag:
        raise BundleError(
            "The passphrase does not open this share bundle (or the file was altered)."
        ) from None


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


def read_payload(data: bytes, passphrase: str) -> tuple[dict[str, Any], zipfile.ZipFile]:
    raw = unseal(data, passphrase)
    try:
        z = zipfile.ZipFile(io.BytesIO(raw))
        manifest = json.loads(z.read("manifest.json"))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise BundleError("This share bundle is damaged (its contents are unreadable).") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BundleError("This file is not a Kinchart share bundle.")
    return manifest, z


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
    from bridge.ingest import ingest

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
            capture = json.loads(z.read(f"captures/{cid}.json"))
            validate_capture(capture)
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
