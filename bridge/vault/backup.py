"""Backups: SQLite's online backup API, page for page, so the copy is exactly as encrypted as the
vault. Copies are written under a ``.partial`` name, fsynced, then renamed: a backup either exists
complete or not at all, and never overwrites anything."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

from . import kdf, storage
from .errors import VaultError, VaultExists, VaultNotFound
from .paths import db_file


def _target(dest: Path) -> Path:
    target = db_file(dest) if dest.is_dir() else dest
    if target.exists():
        raise VaultExists(f"{target} already exists; a backup never overwrites a file.")
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    return target


def _install(copy: sqlite3.Connection, target: Path) -> None:
    partial = target.with_name(target.name + ".partial")
    for leftover in (partial, Path(f"{partial}-journal")):
        leftover.unlink(missing_ok=True)  # from an interrupted run; encrypted pages only
    try:
        storage.copy_database(copy, partial)
        if target.exists():
            raise VaultExists(f"{target} already exists; a backup never overwrites a file.")
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    storage.fsync_dir(target.parent)


def backup_to(conn: sqlite3.Connection, dest: Path) -> Path:
    target = _target(dest)
    _install(conn, target)
    return target


def _verify(conn: sqlite3.Connection, source: Path) -> None:
    storage.check_application_id(conn, source)
    header = storage.read_header(conn, source)
    kdf.load_stored(header.kdf)
    result = conn.execute("PRAGMA integrity_check").fetchall()
    if result != [("ok",)]:
        raise storage.damaged(source, "integrity check failed")


def restore_to(backup: Path, path: Path) -> None:
    source = db_file(backup) if backup.is_dir() else backup
    if not source.is_file():
        raise VaultNotFound(f"There is no backup at {backup}.")
    target = db_file(path)
    if target.exists():
        raise VaultExists(f"A vault already exists at {path}; restore into an empty place instead.")
    storage.check_header(source)
    try:
        src = storage.connect(source, mode="ro")
    except sqlite3.Error as exc:
        raise storage.damaged(source, str(exc)) from exc
    try:
        _verify(src, source)
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        _install(src, target)
    except sqlite3.DatabaseError as exc:
        raise storage.damaged(source, str(exc)) from exc
    finally:
        with contextlib.suppress(sqlite3.Error):
            src.close()
    if not target.exists():  # pragma: no cover - defensive
        raise VaultError(f"The backup could not be restored to {path}.")
