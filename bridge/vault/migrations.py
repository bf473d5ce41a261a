"""The vault's SQLite schema, as ``sqlite_utils.Migrations`` (applied on every open).

Plaintext columns hold only: random or keyed-hash identifiers (capture ids are an HMAC of the
content under a key derived from the data key; before ``m004`` they were plain SHA-256, rewritten at
the first unlock after it), record ids and which capture they belong to, document collection names,
keyed hashes of document keys, encrypted blobs, the manifest's item names, versions and nonces, the
KDF parameters and the wrapped key. No names, values, kinds of care, dates of care or free text. (sqlite-utils' own
``_sqlite_migrations`` table records when each migration ran: a date of software upgrade, not care.)

Append new migrations at the end; never edit or reorder applied ones. A migration here may only
change the schema: it runs before unlock, without the data key.
"""

from __future__ import annotations

import sqlite3

from sqlite_utils import Database, Migrations

from .errors import VaultError

#: ``PRAGMA application_id`` of a Kinchart vault ("KCHT"), set at creation and checked on open.
APPLICATION_ID = 0x4B434854

MIGRATIONS = Migrations("kinchart.vault")


@MIGRATIONS(name="m001_initial")
def m001_initial(db: Database) -> None:
    db.execute("""
        CREATE TABLE vault (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            vault_id TEXT NOT NULL,        -- random uuid hex
            kdf TEXT NOT NULL,             -- KDF parameters + salt, JSON (authenticated by the wrap)
            wrapped_key BLOB NOT NULL      -- data key sealed under the passphrase's key
        )""")
    db.execute("""
        CREATE TABLE captures (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,       -- SHA-256 of url + frames
            body BLOB NOT NULL,            -- sealed zlib(canonical JSON of the whole capture)
            info BLOB NOT NULL             -- sealed JSON {stored_at, size, meta}
        )""")
    # Records are stored per capture, as one sealed batch (replace_records swaps the whole set):
    # one decryption and one JSON parse per capture, not per record, so iterating 100,000 records
    # stays well under a second. ``records`` is a plaintext index (id allocation, kinds) only; what
    # is read back always comes from the authenticated batch.
    db.execute("""
        CREATE TABLE records (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            capture_seq INTEGER NOT NULL REFERENCES captures(seq),
            kind TEXT NOT NULL             -- record-contract category, e.g. lab_result
        )""")
    db.execute("""
        CREATE TABLE record_sets (
            capture_seq INTEGER PRIMARY KEY REFERENCES captures(seq),
            first_id INTEGER NOT NULL,     -- ids of the set are first_id, first_id + 1, ...
            data BLOB NOT NULL             -- sealed JSON {"first": first_id, "records": [...]}
        )""")


@MIGRATIONS(name="m002_records_by_capture")
def m002_records_by_capture(db: Database) -> None:
    db.execute("CREATE INDEX records_by_capture ON records(capture_seq)")
    db.execute("CREATE INDEX record_sets_by_first_id ON record_sets(first_id)")


@MIGRATIONS(name="m003_docs")
def m003_docs(db: Database) -> None:
    db.execute("""
        CREATE TABLE docs (
            collection TEXT NOT NULL,      -- e.g. members, accounts, settings
            key_mac TEXT NOT NULL,         -- HMAC of the caller's key (the key itself is sealed)
            value BLOB NOT NULL,           -- sealed JSON {"key": ..., "value": {...}}
            PRIMARY KEY (collection, key_mac)
        ) WITHOUT ROWID""")


@MIGRATIONS(name="m004_manifest")
def m004_manifest(db: Database) -> None:
    # The manifest (see manifest.py) is filled at the first unlock, which also rewraps the data key
    # binding ``format`` = 2; until then ``format`` 1 says the vault has none yet.
    db.execute("ALTER TABLE vault ADD COLUMN format INTEGER NOT NULL DEFAULT 1")
    db.execute("""
        CREATE TABLE manifest (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            head BLOB NOT NULL             -- sealed JSON {counter, acc}
        )""")
    db.execute("""
        CREATE TABLE manifest_rows (
            item TEXT PRIMARY KEY,         -- capture:<id>, records:<capture id>, doc:<collection>:<key_mac>
            ver INTEGER NOT NULL,          -- the manifest counter at the item's last write
            tag TEXT NOT NULL              -- the nonces of the item's current blobs, in hex
        ) WITHOUT ROWID""")
    # A record's kind is in its sealed set already; the plaintext copy only told a reader of the file
    # what kinds of care each capture holds. Freed pages are zeroed, so the old values do not linger.
    db.execute("PRAGMA secure_delete = ON")
    db.execute("ALTER TABLE records DROP COLUMN kind")


def known_names() -> list[str]:
    return [m.name for m in MIGRATIONS._migrations]


def _database(conn: sqlite3.Connection) -> Database:
    return Database(conn, recursive_triggers=False, execute_plugins=False)


def applied_names(conn: sqlite3.Connection) -> list[str]:
    return [m.name for m in MIGRATIONS.applied(_database(conn))]


def migrate(conn: sqlite3.Connection, stop_before: str | None = None) -> list[str]:
    """Apply pending migrations; return their names. Refuses a schema from a newer Kinchart."""
    db = _database(conn)
    done = [m.name for m in MIGRATIONS.applied(db)]
    unknown = sorted(set(done) - set(known_names()))
    if unknown:
        raise VaultError("This vault was written by a newer version of Kinchart; update Kinchart to open it.")
    pending = [m.name for m in MIGRATIONS.pending(db)]
    if not pending:
        return []
    MIGRATIONS.apply(db, stop_before=stop_before)
    return [name for name in pending if name in set(applied_names(conn))]
