"""Opening SQLite files the vault's way: never creating one by accident, checking it is a vault."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from .errors import VaultError
from .migrations import APPLICATION_ID

SQLITE_MAGIC = b"SQLite format 3\x00"


def damaged(db: Path, detail: str = "") -> VaultError:
    extra = f" ({detail})" if detail else ""
    return VaultError(
        f"The vault file {db} is damaged or is not a Kinchart vault{extra}. "
        "It was left exactly as it is; restore it from a backup."
    )


def check_header(db: Path) -> None:
    """Cheap check before SQLite touches the file: a vault is a non-empty SQLite database."""
    try:
        with db.open("rb") as fh:
            head = fh.read(100)
    except OSError as exc:
        raise VaultError(f"The vault file {db} cannot be read: {exc.strerror}.") from exc
    if len(head) < 100 or not head.startswith(SQLITE_MAGIC):
        raise damaged(db, "not an SQLite database")


def connect(db: Path, mode: str = "rw") -> sqlite3.Connection:
    """Connect with explicit transactions (``isolation_level=None``). ``mode`` is ``rw``, ``ro`` or
    ``rwc``; only creation uses ``rwc``, so opening never makes an empty database in place of one."""
    uri = f"file:{quote(str(db.resolve()))}?mode={mode}"
    return sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)


def configure(conn: sqlite3.Connection) -> None:
    """WAL, fsync on every commit, temp tables and sorts in memory (no temp files), waits on locks."""
    conn.execute("PRAGMA busy_timeout = 10000")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA temp_store = MEMORY")
    conn.execute("PRAGMA foreign_keys = ON")


def check_application_id(conn: sqlite3.Connection, db: Path) -> None:
    (app_id,) = conn.execute("PRAGMA application_id").fetchone()
    if app_id != APPLICATION_ID:
        raise damaged(db, "not a Kinchart vault")


@dataclass(frozen=True)
class Header:
    vault_id: str
    kdf: str
    wrapped_key: bytes
    #: 1: written before the row manifest (no ``format`` column yet, or its default); 2: has one, and
    #: the wrapped key binds this number (see :func:`crypto.wrap_data_key`).
    format: int = 1


def read_header(conn: sqlite3.Connection, db: Path) -> Header:
    try:
        columns = {r[1] for r in conn.execute("PRAGMA table_info(vault)")}
        select = "vault_id, kdf, wrapped_key" + (", format" if "format" in columns else ", 1")
        row = conn.execute(f"SELECT {select} FROM vault WHERE id = 1").fetchone()
    except sqlite3.DatabaseError as exc:
        raise damaged(db, str(exc)) from exc
    if row is None or not isinstance(row[1], str) or not isinstance(row[2], bytes):
        raise damaged(db, "the key record is missing")
    if not isinstance(row[3], int):
        raise damaged(db, "the vault's format is unreadable")
    return Header(str(row[0]), row[1], row[2], row[3])


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not supported everywhere (Windows); best effort
        fsync_file(path)


def copy_database(src: sqlite3.Connection, dest: Path) -> None:
    """SQLite online backup of ``src`` into a new file ``dest`` (consistent, page for page, so still
    encrypted), then fsync; the caller renames it into place. ``dest`` is made 0600 before a byte is
    copied into it (SQLite gives its journal the same mode), so no other user can read it meanwhile."""
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        os.fchmod(fd, 0o600)  # whatever the umask
    finally:
        os.close(fd)
    out = sqlite3.connect(str(dest), isolation_level=None)
    try:
        src.backup(out)
        out.execute("PRAGMA journal_mode = DELETE")  # a plain single file; reopening restores WAL
    finally:
        out.close()
    with contextlib.suppress(OSError):
        os.chmod(dest, 0o600)
    fsync_file(dest)
