"""The first unlock of a vault written before schema ``m004``: its capture ids become keyed ids.

Ids were plain SHA-256 of the page, so anyone holding a page could hash it and find it in the file.
They are rewritten, in one transaction, to the keyed id (:func:`capture.keyed_capture_id`), together
with every reference to them: each blob bound to a capture id is sealed again for its new id (the
compressed page is not recompressed), and every 64-hex-digit token equal to an old id, in capture
metadata, record sets and documents (assignments are keyed by capture id; accounts name their last
capture), is replaced by the new id. Document keys that change get their new keyed hash. Derived caches
are dropped by the caller. An item that no longer decrypts is left exactly as it is, and reported.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable

import orjson
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from . import crypto
from .capture import keyed_capture_id
from .errors import TamperedData, VaultError

_OLD_ID = re.compile(rb"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])")


def _renamer(mapping: dict[str, str]) -> Callable[[bytes], bytes]:
    encoded = {old.encode(): new.encode() for old, new in mapping.items()}

    def rename(raw: bytes) -> bytes:
        return _OLD_ID.sub(lambda m: encoded.get(m.group(0), m.group(0)), raw)

    return rename


def rekey_capture_ids(
    conn: sqlite3.Connection,
    cipher: AESGCM,
    mac_key: bytes,
    id_key: bytes,
    damaged: Callable[[str], None],
) -> dict[str, str]:
    """Rewrite every capture id to its keyed id; return ``{old: new}`` for those that changed. Runs in the
    caller's transaction. ``damaged(item)`` is told of each manifest item that could not be read."""
    mapping: dict[str, str] = {}
    sealed: dict[str, tuple[int, bytes, bytes]] = {}
    for seq, old, body, info in conn.execute("SELECT seq, id, body, info FROM captures").fetchall():
        where = f"capture {str(old)[:12]}"
        try:
            packed = crypto.unseal(cipher, body, crypto.aad("captures", "body", old), where)
            new = keyed_capture_id(id_key, orjson.loads(crypto.unpack(packed, where)))
        except (TamperedData, ValueError, VaultError):
            damaged(f"capture:{old}")
            continue
        if new != old:
            mapping[old] = new
            sealed[old] = (seq, packed, info)
    if not mapping:
        return mapping
    rename = _renamer(mapping)
    for old, (seq, packed, info) in sealed.items():
        new = mapping[old]
        new_body = crypto.seal(cipher, packed, crypto.aad("captures", "body", new))
        try:
            raw = crypto.unpack(
                crypto.unseal(cipher, info, crypto.aad("captures", "info", old), "capture meta"),
                "capture meta",
            )
            new_info = crypto.seal(cipher, crypto.pack(rename(raw)), crypto.aad("captures", "info", new))
        except TamperedData:
            damaged(f"capture:{old}")
            new_info = info  # stays unreadable, under its new id as under its old one
        conn.execute(
            "UPDATE captures SET id = ?, body = ?, info = ? WHERE seq = ?", (new, new_body, new_info, seq)
        )
    sets = conn.execute(
        "SELECT s.capture_seq, s.first_id, s.data, c.id FROM record_sets s JOIN captures c ON c.seq = s.capture_seq"
    ).fetchall()
    by_new = {new: old for old, new in mapping.items()}
    for seq, first, data, cid in sets:
        old = by_new.get(cid)
        if old is None:
            continue
        where = f"records of capture {old[:12]}"
        try:
            raw = crypto.unpack(
                crypto.unseal(cipher, data, crypto.aad("record_sets", "data", old, first), where), where
            )
        except TamperedData:
            damaged(f"records:{cid}")
            continue
        blob = crypto.seal(cipher, crypto.pack(rename(raw)), crypto.aad("record_sets", "data", cid, first))
        conn.execute("UPDATE record_sets SET data = ? WHERE capture_seq = ?", (blob, seq))
    for collection, key_mac, value in conn.execute("SELECT collection, key_mac, value FROM docs").fetchall():
        where = f"{collection} document"
        try:
            raw = crypto.unpack(
                crypto.unseal(cipher, value, crypto.aad("docs", "value", collection, key_mac), where), where
            )
            renamed = rename(raw)
            if renamed == raw:
                continue
            doc = orjson.loads(renamed)
            key = doc["key"]
            if not isinstance(key, str):
                raise ValueError
        except (TamperedData, ValueError, KeyError, TypeError):
            damaged(f"doc:{collection}:{key_mac}")
            continue
        new_mac = crypto.keyed_id(mac_key, collection, key)
        blob = crypto.seal(cipher, crypto.pack(renamed), crypto.aad("docs", "value", collection, new_mac))
        conn.execute("DELETE FROM docs WHERE collection = ? AND key_mac = ?", (collection, key_mac))
        conn.execute(
            "INSERT INTO docs (collection, key_mac, value) VALUES (?, ?, ?) "
            "ON CONFLICT(collection, key_mac) DO UPDATE SET value = excluded.value",
            (collection, new_mac, blob),
        )
    return mapping
