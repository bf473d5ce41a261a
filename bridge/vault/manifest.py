"""The row manifest: which rows the vault holds, and which version of each, under a key only the data key
gives, so that a deleted row, or an older blob written back into its row, is noticed.

Every blob is already bound to its table, column and row (:func:`crypto.aad`), but that says nothing
about which rows should exist or whether a row holds its latest blob. The manifest does:

- ``manifest_rows`` lists every *item* (a capture, a capture's record set, a document) with the version
  it was last written at and its *tag*: the nonces of its current blobs. Each write seals with a fresh
  random nonce, so the tag names exactly one write; an older blob copied back has another tag.
- ``manifest.head`` is sealed with the data key (AES-256-GCM, bound to the vault id) and holds a
  counter, incremented by every write and used as the version of what it wrote, and ``acc``: the XOR of
  a keyed hash (BLAKE2b under a key derived from the data key) of every ``manifest_rows`` entry. XOR
  lets a write update it with two hashes instead of re-reading the whole list; without the key nobody
  can compute an entry's hash, so nobody can remove, add or change an entry and fix ``acc`` up.

Both are updated in the same SQLite transaction as the write they describe. At unlock (and by
``kinchart check``) the list is checked against ``acc`` and the rows against the list: what is missing,
what is not the version the list names (older, or damaged), and what is extra, by item.

What this cannot catch: the whole file (rows, list and head together) replaced by an older copy of
itself is indistinguishable from restoring a backup. A sealed high-water mark of the counter kept
beside the file (``manifest.seen``, written at unlock and at lock) catches that one too, unless it is
rolled back or deleted with the file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from . import crypto
from .errors import TamperedData

SEEN_NAME = "manifest.seen"
_NONCE = f"hex(substr({{}}, 2, {crypto.NONCE_LENGTH}))"

#: Every item the vault holds now, with its tag, read without decrypting anything. A record set whose
#: capture row is gone is named by its capture's sequence number.
_ACTUAL = (
    # A capture's page (body) is written once and never changes, and no other authentic body for its id
    # exists, so its metadata's nonce alone names its version (reading every body would cost the most).
    f"SELECT 'capture:' || id, {_NONCE.format('info')} FROM captures",
    "SELECT CASE WHEN c.id IS NULL THEN 'records:#' || s.capture_seq ELSE 'records:' || c.id END, "
    f"{_NONCE.format('s.data')} FROM record_sets s LEFT JOIN captures c ON c.seq = s.capture_seq",
    f"SELECT 'doc:' || collection || ':' || key_mac, {_NONCE.format('value')} FROM docs",
)


def capture_item(capture_id: str) -> str:
    return f"capture:{capture_id}"


def records_item(capture_id: str) -> str:
    return f"records:{capture_id}"


def doc_item(collection: str, key_mac: str) -> str:
    return f"doc:{collection}:{key_mac}"


def nonce(blob: bytes) -> str:
    """A sealed blob's nonce, in hex: what names one write of it (see the module docstring)."""
    return bytes(blob[1 : 1 + crypto.NONCE_LENGTH]).hex().upper()


def describe(item: str) -> tuple[str, str]:
    """``(table, what)`` for a report: which row, by table, collection and opaque id; never content."""
    kind, _, rest = item.partition(":")
    if kind == "capture":
        return "captures", f"capture {rest[:12]}"
    if kind == "records":
        if rest.startswith("#"):
            return "record_sets", f"record set of a capture that is not stored (row {rest[1:]})"
        return "record_sets", f"record set of capture {rest[:12]}"
    collection, _, key_mac = rest.partition(":")
    return "docs", f"{collection} document {key_mac[:12]}"


@dataclass
class Head:
    counter: int
    acc: int


@dataclass
class ManifestCheck:
    """What the rows are, against what the manifest says they should be."""

    counter: int = 0
    absent: bool = False  # a vault with a manifest, whose manifest head is gone
    altered: bool = False  # the list of rows does not match its keyed digest
    missing: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)  # present, but not the version listed
    extra: list[str] = field(default_factory=list)
    seen_counter: int = 0  # the high-water mark kept beside the file

    @property
    def rolled_back(self) -> bool:
        return self.seen_counter > self.counter


class Manifest:
    """The manifest of one vault, for one data key. Every method runs on the caller's connection and
    inside the caller's transaction (the vault's lock held)."""

    def __init__(self, cipher: AESGCM, key: bytes, vault_id: str) -> None:
        self._cipher = cipher
        self._key = key
        self._vault_id = vault_id

    def _element(self, item: str, ver: int, tag: str) -> int:
        h = hashlib.blake2b(key=self._key, digest_size=32)
        h.update(b"%s\0%d\0" % (item.encode(), ver))
        h.update(tag.encode())
        return int.from_bytes(h.digest(), "big")

    def _aad(self) -> bytes:
        return crypto.aad("manifest", "head", self._vault_id)

    def read_head(self, conn: sqlite3.Connection) -> Head | None:
        row = conn.execute("SELECT head FROM manifest WHERE id = 1").fetchone()
        if row is None:
            return None
        value = crypto.unseal_json(self._cipher, row[0], self._aad(), "manifest")
        try:
            return Head(int(value["counter"]), int(value["acc"], 16))
        except (KeyError, TypeError, ValueError):
            raise crypto.tampered("manifest") from None

    def write_head(self, conn: sqlite3.Connection, head: Head) -> None:
        blob = crypto.seal_json(
            self._cipher, {"counter": head.counter, "acc": f"{head.acc:064x}"}, self._aad()
        )
        conn.execute(
            "INSERT INTO manifest (id, head) VALUES (1, ?) ON CONFLICT(id) DO UPDATE SET head = excluded.head",
            (blob,),
        )

    def touch(self, conn: sqlite3.Connection, changes: dict[str, str | None]) -> None:
        """Record a write: each item's new tag (None: the item is gone). One counter step per call."""
        head = self.read_head(conn)
        if head is None:
            # Unreadable state: leave it for the check to report rather than paper over it.
            raise TamperedData("The vault's manifest is missing; run `kinchart check`.")
        head.counter += 1
        for item, tag in changes.items():
            old = conn.execute("SELECT ver, tag FROM manifest_rows WHERE item = ?", (item,)).fetchone()
            if old is not None:
                head.acc ^= self._element(item, int(old[0]), str(old[1]))
            if tag is None:
                conn.execute("DELETE FROM manifest_rows WHERE item = ?", (item,))
                continue
            head.acc ^= self._element(item, head.counter, tag)
            conn.execute(
                "INSERT INTO manifest_rows (item, ver, tag) VALUES (?, ?, ?) "
                "ON CONFLICT(item) DO UPDATE SET ver = excluded.ver, tag = excluded.tag",
                (item, head.counter, tag),
            )
        self.write_head(conn, head)

    def rebuild(self, conn: sqlite3.Connection, floor: int = 0) -> Head:
        """List the rows as they are now (a new vault, an upgrade, or damage the caregiver accepted)."""
        old = None
        with contextlib.suppress(TamperedData):
            old = self.read_head(conn)
        counter = max(floor, old.counter if old else 0) + 1
        actual = actual_items(conn)
        conn.execute("DELETE FROM manifest_rows")
        conn.executemany(
            "INSERT INTO manifest_rows (item, ver, tag) VALUES (?, ?, ?)",
            ((item, counter, tag) for item, tag in actual.items()),
        )
        acc = 0
        for item, tag in actual.items():
            acc ^= self._element(item, counter, tag)
        head = Head(counter, acc)
        self.write_head(conn, head)
        return head

    def check(self, conn: sqlite3.Connection) -> ManifestCheck:
        result = ManifestCheck()
        head = self.read_head(conn)
        listed = {
            str(item): (int(ver), str(tag))
            for item, ver, tag in conn.execute("SELECT item, ver, tag FROM manifest_rows")
        }
        if head is None:
            result.absent = True
            return result
        result.counter = head.counter
        acc = 0
        for item, (ver, tag) in listed.items():
            acc ^= self._element(item, ver, tag)
            if ver > head.counter:
                result.altered = True
        result.altered = result.altered or acc != head.acc
        actual = actual_items(conn)
        for item, (_, tag) in listed.items():
            now = actual.get(item)
            if now is None:
                result.missing.append(item)
            elif now != tag:
                result.changed.append(item)
        result.extra = [item for item in actual if item not in listed]
        return result

    # ------------------------------------------------------------- the high-water mark beside the file

    def _seen_aad(self) -> bytes:
        return crypto.aad("manifest", "seen", self._vault_id)

    def read_seen(self, folder: Path) -> int:
        """The highest counter this computer has seen the vault at (0: none kept, or unreadable)."""
        try:
            blob = (folder / SEEN_NAME).read_bytes()
            value = crypto.unseal_json(self._cipher, blob, self._seen_aad(), "manifest high-water mark")
            return int(value["counter"])
        except (OSError, TamperedData, KeyError, TypeError, ValueError):
            return 0

    def write_seen(self, folder: Path, counter: int) -> None:
        """Keep ``counter`` as the high-water mark, never lowering it; best effort (a read-only folder
        only loses this one check)."""
        if counter <= self.read_seen(folder):
            return
        target = folder / SEEN_NAME
        partial = folder / (SEEN_NAME + ".partial")
        try:
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(crypto.seal_json(self._cipher, {"counter": counter}, self._seen_aad()))
            os.replace(partial, target)
        except OSError:
            pass

    def reset_seen(self, folder: Path) -> None:
        with contextlib.suppress(OSError):
            (folder / SEEN_NAME).unlink(missing_ok=True)


def actual_items(conn: sqlite3.Connection) -> dict[str, str]:
    items: dict[str, str] = {}
    for query in _ACTUAL:
        for item, tag in conn.execute(query):
            items[str(item)] = str(tag or "")
    return items
