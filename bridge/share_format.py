"""The encrypted share bundle's sealed format, written by `kinchart export --format bundle`
(bridge.exports.bundle) and read by `kinchart import-bundle` (bridge.share_import).

File layout (all lengths big-endian)::

    MAGIC (16 bytes: b"KINCHART-SHARE\\x00\\x01")
    header length (4 bytes) + header (UTF-8 JSON):
        {"v": 1, "kdf": <the vault's stored KDF form: algorithm, costs, salt>, "nonce": <base64, 12 bytes>,
         "cipher": "AES-256-GCM", "payload": "zip"}
    ciphertext: AES-256-GCM(key, nonce, payload, associated data = everything above)

The key is Argon2id (scrypt where the OpenSSL lacks it) of the passphrase, with the vault's own KDF
code and cost calibration (bridge.vault.kdf); stored costs are bounds-checked before use. Any change
to the header or the ciphertext makes the open fail, as does a wrong passphrase.

The payload is a zip of `manifest.json` (format, version, members, and which member each capture is
filed under), `records.json` (the json export of those entries) and `captures/<capture id>.json`
(each raw capture exactly as stored).
"""

from __future__ import annotations

import base64
import io
import json
import os
import struct
import zipfile
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bridge.vault import TamperedData, kdf

MAGIC = b"KINCHART-SHARE\x00\x01"
FORMAT = "kinchart-share"
VERSION = 1
MIN_PASSPHRASE = 8
MAX_HEADER = 4096


class BundleError(ValueError):
    """Not a share bundle, damaged, or the wrong passphrase (the message says which, plainly)."""


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
