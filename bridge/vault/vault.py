"""The vault: one encrypted SQLite file holding captures, the records parsed from them and small
documents (members, portal accounts, settings, paired clients).

Key hierarchy: passphrase → Argon2id (:mod:`.kdf`) → key-encryption key → unwraps a random 256-bit
data key → AES-256-GCM per blob (:mod:`.crypto`), each bound to its table, column and row.

Durability: WAL with ``synchronous=FULL``; every public write is its own transaction, committed (and
fsynced) before the method returns — unless it runs inside :meth:`Vault.transaction`, in which case
it is durable when the outermost ``with`` block exits.

Thread safety: one connection per :class:`Vault`, guarded by a re-entrant lock; safe to call from
several threads (e.g. an aiohttp executor). A :meth:`transaction` holds the lock for its duration.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import itertools
import json
import logging
import os
import re
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, ParamSpec, TypeVar

import orjson
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from . import crypto, kdf, storage
from .capture import CanonicalCapture
from .errors import (
    InvalidInput,
    TamperedData,
    UnknownCapture,
    VaultError,
    VaultExists,
    VaultLocked,
    VaultNotFound,
)
from .integrity import IntegrityReport, Problem, item_problem, manifest_problems
from .kdf import KdfParams
from .manifest import Manifest, ManifestCheck, capture_item, doc_item, nonce, records_item
from .migrations import APPLICATION_ID, migrate
from .paths import DB_NAME, db_file
from .upgrade import rekey_capture_ids

log = logging.getLogger(__name__)

_P = ParamSpec("_P")
_T = TypeVar("_T")

#: A record's plaintext ``kind`` and a document collection: a short category name, never free text.
_CATEGORY = re.compile(r"[a-z][a-z0-9_]{0,63}\Z")
_CAPTURE_ID = re.compile(r"[0-9a-f]{64}\Z")
# Level 6: within 0.1 point of level 9 on portal pages (23.4% vs 23.3%) at a quarter of the time for a
# 2 MB page; the capture is compressed before it is acknowledged, so this is on the save path.
CAPTURE_ZLIB_LEVEL = 6
#: A capture whose canonical JSON is this large is stored in a worker thread beside the caller's work
#: (`Vault.put_capture_while`). Below it, handing the store to another thread and back (each of whose
#: returns from C code waits for the GIL) costs what it saves: measured on portal pages, the crossover
#: is at about 60 KB; the fixture pages (15 KB median) ingest a few percent slower beside, a 180 KB page
#: about a third faster.
STORE_BESIDE_ABOVE = 64 * 1024
_JSON_CHUNK = 1000  # record sets decoded per json.loads by iter_record_sets
#: The newest file format this code reads: 2 has the row manifest and keyed capture ids.
FILE_FORMAT = 2


@dataclass
class CaptureRow:
    """One stored capture, as listed (the page itself: :meth:`Vault.get_capture`)."""

    id: str
    seq: int
    stored_at: str  # ISO 8601 UTC, when the vault stored it (encrypted at rest)
    size: int  # bytes of the capture's canonical JSON (uncompressed)
    meta: dict[str, Any]  # decrypted, as last set by set_capture_meta ({} before)
    stored_size: int = 0  # bytes on disk (compressed + encrypted)


@dataclass(slots=True)
class RecordRow:
    """One record derived from a capture; ``data`` is the whole record dict as it was stored."""

    id: int
    capture_id: str
    kind: str
    data: dict[str, Any] = field(default_factory=dict)


def _db_errors(method: Callable[_P, _T]) -> Callable[_P, _T]:
    """Turn SQLite failures (corruption, I/O, locked file) into a :class:`VaultError`."""

    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        try:
            return method(*args, **kwargs)
        except sqlite3.DatabaseError as exc:
            raise VaultError(f"The vault database could not be read or written ({exc}).") from exc
        except OSError as exc:
            where = f" {exc.filename}" if exc.filename else ""
            raise VaultError(f"The vault could not use{where}: {exc.strerror or exc}.") from exc

    wrapper.__name__ = method.__name__
    wrapper.__doc__ = method.__doc__
    wrapper.__qualname__ = method.__qualname__
    return wrapper


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _category(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _CATEGORY.match(value):
        # The value is not echoed: it might be a name, and error messages end up in logs.
        raise InvalidInput(f"A {what} must be a short lowercase name like 'lab_result'.")
    return value


def _doc_key(value: Any) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= 1000 or "\0" in value:
        raise InvalidInput("A document key must be non-empty text (at most 1,000 characters).")
    return value


def _capture_id(value: Any) -> str:
    if not isinstance(value, str) or not _CAPTURE_ID.match(value):
        raise UnknownCapture("No such capture is stored.")
    return value


def _record_set_aad(capture_id: str, first_id: int) -> bytes:
    return crypto.aad("record_sets", "data", capture_id, first_id)


_U = TypeVar("_U")
_store_pool: concurrent.futures.ThreadPoolExecutor | None = None
_store_pool_lock = threading.Lock()


def _beside(job: Callable[[], _T], work: Callable[[], _U]) -> tuple[_T, _U]:
    """``(job(), work())``, with `job` run in a worker thread while `work` runs in this one. `job` is always
    run to its end, even when `work` raises; its error is raised in preference to `work`'s. A job the
    (small) pool has not started by the time `work` is done is run here instead, so a thread never waits
    on a job queued behind others (jobs that take the vault's lock are started only by threads that do
    not hold it)."""
    global _store_pool
    with _store_pool_lock:
        if _store_pool is None:
            _store_pool = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="kinchart-store")
        pool = _store_pool
    started = threading.Event()

    def run() -> _T:
        started.set()
        return job()

    future = pool.submit(run)
    # Let the worker start before `work` holds the GIL: a thread that waits for the GIL gets it only
    # when the holder releases it or after the switch interval (5 ms), however short its own Python part.
    started.wait(0.005)
    try:
        done = work()
    except BaseException:
        _finish(future, job)
        raise
    return _finish(future, job), done


def _finish(future: concurrent.futures.Future[_T], job: Callable[[], _T]) -> _T:
    if future.cancel():  # not started: the pool is busy with other jobs
        return job()
    return future.result()


class Vault:
    """An encrypted vault directory (``path``), holding ``kinchart.db``.

    Get one with :meth:`create` (new, unlocked), :meth:`open` (existing, locked) or :meth:`restore`.
    Use it as a context manager to close it.
    """

    path: Path

    def __init__(self, path: Path, conn: sqlite3.Connection, header: storage.Header) -> None:
        """Internal: use :meth:`create`, :meth:`open` or :meth:`restore`."""
        self.path = path
        self._conn_: sqlite3.Connection | None = conn
        self._header = header
        self._cipher: AESGCM | None = None
        self._mac_key: bytes | None = None
        self._id_key: bytes | None = None
        self._manifest: Manifest | None = None
        self._lock = threading.RLock()
        self._depth = 0
        # Items found damaged by a read since the unlock, by manifest item: reported, never returned.
        self._damage: dict[str, Problem] = {}
        self._unlock_report = IntegrityReport()
        columns = {r[1] for r in conn.execute("PRAGMA table_info(records)")}
        self._records_have_kind = "kind" in columns  # only in vaults before m004, until they migrate

    # ----------------------------------------------------------------- lifecycle

    @staticmethod
    def exists(path: Path) -> bool:
        """Whether ``path`` holds a vault file (it may still be damaged; :meth:`open` checks)."""
        return db_file(Path(path)).exists()

    @property
    def db_path(self) -> Path:
        return db_file(self.path)

    @classmethod
    @_db_errors
    def create(
        cls, path: Path, passphrase: str, kdf: KdfParams | None = None, *, _stop_before: str | None = None
    ) -> Vault:
        """Make a new vault at ``path`` (created with mode 0700 if needed) and return it unlocked.

        Refuses (:class:`VaultExists`) if a vault file is already there. ``kdf`` defaults to
        :func:`kdf.default_params` (calibrated to ~0.5 s, or fast under ``KINCHART_KDF=fast``).
        The file is built under a temporary name and renamed into place, so a crash never leaves a
        half-made vault; that temporary file holds only key material sealed by the passphrase.
        """
        path = Path(path)
        params = kdf or _default_params()  # (``kdf`` the argument shadows the module here)
        params.validate()
        passphrase_ok = _passphrase_bytes(passphrase)
        if cls.exists(path):
            raise VaultExists(f"A vault already exists at {path}; it was not touched.")
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        target = db_file(path)
        temp = path / (DB_NAME + ".creating")
        for leftover in (temp, *(Path(f"{temp}{s}") for s in ("-wal", "-shm", "-journal"))):
            leftover.unlink(missing_ok=True)  # a crashed create: sealed key material only

        salt = _new_salt()
        stored = _dump_stored(params, salt)
        vault_id = uuid.uuid4().hex
        data_key = crypto.new_data_key()
        kek = _derive(passphrase_ok, salt, params)

        conn = storage.connect(temp, mode="rwc")
        try:
            os.chmod(temp, 0o600)
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            storage.configure(conn)
            migrate(conn, stop_before=_stop_before)
            if "format" in {r[1] for r in conn.execute("PRAGMA table_info(vault)")}:
                wrapped = crypto.wrap_data_key(kek, data_key, vault_id, stored, FILE_FORMAT)
                conn.execute("BEGIN IMMEDIATE")
                conn.execute(
                    "INSERT INTO vault (id, vault_id, kdf, wrapped_key, format) VALUES (1, ?, ?, ?, ?)",
                    (vault_id, stored, wrapped, FILE_FORMAT),
                )
                _manifest_for(data_key, vault_id).rebuild(conn)
                conn.execute("COMMIT")
            else:  # an older schema, made for upgrade tests: as that version wrote it
                wrapped = crypto.wrap_data_key(kek, data_key, vault_id, stored, 1)
                conn.execute(
                    "INSERT INTO vault (id, vault_id, kdf, wrapped_key) VALUES (1, ?, ?, ?)",
                    (vault_id, stored, wrapped),
                )
        finally:
            conn.close()  # last connection: checkpoints and removes -wal/-shm
        storage.fsync_file(temp)
        if cls.exists(path):  # lost a race with another creator
            temp.unlink(missing_ok=True)
            raise VaultExists(f"A vault already exists at {path}; it was not touched.")
        os.replace(temp, target)
        storage.fsync_dir(path)
        vault = cls._open_file(path, migrate_schema=_stop_before is None)
        vault._set_data_key(data_key)
        return vault

    @classmethod
    @_db_errors
    def open(cls, path: Path) -> Vault:
        """Open the vault at ``path``, locked. Applies pending schema migrations.

        Raises :class:`VaultNotFound` if there is no vault file, :class:`VaultError` if the file is
        damaged or not a vault (the file is never modified or replaced in that case), and
        :class:`TamperedData` if its key parameters are out of range.
        """
        return cls._open_file(Path(path), migrate_schema=True)

    @classmethod
    def _open_file(cls, path: Path, *, migrate_schema: bool) -> Vault:
        db = db_file(path)
        if not db.is_file():
            raise VaultNotFound(f"There is no Kinchart vault at {path}.")
        storage.check_header(db)
        try:
            conn = storage.connect(db, mode="rw")
        except sqlite3.Error as exc:
            raise storage.damaged(db, str(exc)) from exc
        try:
            storage.check_application_id(conn, db)
            header = storage.read_header(conn, db)
            storage.configure(conn)
            if migrate_schema and migrate(conn):
                # put the new schema into the main file now, not just the WAL
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            kdf.load_stored(header.kdf)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise storage.damaged(db, str(exc)) from exc
        except BaseException:
            conn.close()
            raise
        return cls(path, conn, header)

    @classmethod
    def open_or_create(cls, path: Path, passphrase: str, kdf: KdfParams | None = None) -> tuple[Vault, bool]:
        """First use made easy: open and unlock the vault at ``path``, or create it if there is no
        vault file there. Returns ``(vault, created)``. A vault file that exists but is damaged
        raises (it is never replaced by a new, empty vault); a wrong passphrase raises
        :class:`WrongPassphrase`."""
        if not cls.exists(path):
            try:
                return cls.create(path, passphrase, kdf), True
            except VaultExists:  # created meanwhile by another process: open it
                pass
        vault = cls.open(path)
        try:
            vault.unlock(passphrase)
        except BaseException:
            vault.close()
            raise
        return vault, False

    @_db_errors
    def unlock(self, passphrase: str) -> None:
        """Derive the key from ``passphrase`` and unwrap the data key.

        :class:`WrongPassphrase` if it does not fit (nothing changes; the vault stays as it was).
        """
        with self._lock:
            header = storage.read_header(self._conn(), self.db_path)
            if header.format > FILE_FORMAT:
                raise VaultError(
                    "This vault was written by a newer version of Kinchart; update Kinchart to open it."
                )
            params, salt = kdf.load_stored(header.kdf)
            kek = kdf.derive(passphrase, salt, params)
            data_key = crypto.unwrap_data_key(
                kek, header.wrapped_key, header.vault_id, header.kdf, header.format
            )
            self._header = header
            self._set_data_key(data_key)
            self._damage.clear()
            if header.format < FILE_FORMAT and self._has_manifest_tables():
                self._upgrade(kek, data_key)
            self._unlock_report = self._verify_manifest()
            if not self._unlock_report.ok:
                # Only the kinds and counts: what is named goes to `kinchart check` and the dashboard.
                log.warning("vault integrity: %s", self._unlock_report.summary())
            self._keep_high_water()

    def _has_manifest_tables(self) -> bool:
        return (
            self._conn().execute("SELECT 1 FROM sqlite_master WHERE name = 'manifest_rows'").fetchone()
            is not None
        )

    def _upgrade(self, kek: bytes, data_key: bytes) -> None:
        """A vault from before ``m004``, unlocked for the first time: keyed capture ids (upgrade.py), a
        manifest of its rows as they are now, and the data key rewrapped to bind format 2, all in one
        transaction (another process may have done it meanwhile: then nothing is done)."""
        cipher, mac_key = self._keys()
        assert self._id_key is not None and self._manifest is not None
        with self._write():
            conn = self._conn()
            header = storage.read_header(conn, self.db_path)
            if header.format >= FILE_FORMAT:
                self._header = header
                return
            mapping = rekey_capture_ids(conn, cipher, mac_key, self._id_key, self._note_damage)
            self._manifest.rebuild(conn)
            wrapped = crypto.wrap_data_key(kek, data_key, header.vault_id, header.kdf, FILE_FORMAT)
            cur = conn.execute(
                "UPDATE vault SET wrapped_key = ?, format = ? WHERE id = 1 AND wrapped_key = ?",
                (wrapped, FILE_FORMAT, header.wrapped_key),
            )
            if cur.rowcount != 1:
                raise VaultError("The vault was changed elsewhere during its upgrade; unlock it again.")
        self._header = storage.Header(header.vault_id, header.kdf, wrapped, FILE_FORMAT)
        if mapping:  # caches name the old ids
            for cache in self.path.glob("*.cache"):
                cache.unlink(missing_ok=True)
        log.info("vault upgraded: %d capture ids are now keyed", len(mapping))

    def lock(self) -> None:
        """Forget the data key. Reading or writing encrypted data then raises :class:`VaultLocked`."""
        with self._lock:
            self._keep_high_water()
            self._forget_keys()

    def _forget_keys(self) -> None:
        self._cipher = None
        self._mac_key = None
        self._id_key = None
        self._manifest = None

    @property
    def unlocked(self) -> bool:
        return self._cipher is not None

    @property
    def kdf_params(self) -> KdfParams:
        """The stored KDF parameters (no secrets)."""
        return kdf.load_stored(self._header.kdf)[0]

    @_db_errors
    def change_passphrase(self, old: str, new: str, kdf_params: KdfParams | None = None) -> None:
        """Rewrap the data key under ``new`` (fresh salt); no blob is re-encrypted.

        ``old`` is checked first: :class:`WrongPassphrase` and nothing changes if it is wrong. The
        cost parameters are ``kdf_params`` if given, else :func:`kdf.default_params`. Afterwards the
        vault is unlocked.
        """
        new_bytes = _passphrase_bytes(new)
        params = kdf_params or _default_params()
        params.validate()
        with self._lock:
            header = storage.read_header(self._conn(), self.db_path)
            old_params, old_salt = kdf.load_stored(header.kdf)
            data_key = crypto.unwrap_data_key(
                kdf.derive(old, old_salt, old_params),
                header.wrapped_key,
                header.vault_id,
                header.kdf,
                header.format,
            )
            salt = _new_salt()
            stored = _dump_stored(params, salt)
            wrapped = crypto.wrap_data_key(
                _derive(new_bytes, salt, params), data_key, header.vault_id, stored, header.format
            )
            with self._write():
                cur = self._conn().execute(
                    "UPDATE vault SET kdf = ?, wrapped_key = ? WHERE id = 1 AND wrapped_key = ?",
                    (stored, wrapped, header.wrapped_key),
                )
                if cur.rowcount != 1:  # another process changed the passphrase meanwhile
                    raise VaultError(
                        "The passphrase was changed elsewhere meanwhile; nothing was changed here."
                    )
            self._header = storage.Header(header.vault_id, stored, wrapped, header.format)
            self._set_data_key(data_key)

    def close(self) -> None:
        """Lock and close the database (idempotent)."""
        with self._lock:
            if self._conn_ is not None:
                self._keep_high_water()
            self._forget_keys()
            if self._conn_ is not None:
                self._conn_.close()
                self._conn_ = None

    def __enter__(self) -> Vault:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._conn_ is None else ("unlocked" if self.unlocked else "locked")
        return f"<Vault {self.path} {state}>"

    # ----------------------------------------------------------------- internals

    def _conn(self) -> sqlite3.Connection:
        if self._conn_ is None:
            raise VaultError("The vault is closed.")
        return self._conn_

    def _set_data_key(self, data_key: bytes) -> None:
        self._mac_key = crypto.derive_subkey(data_key, "document keys")
        self._id_key = crypto.derive_subkey(data_key, "capture ids")
        self._manifest = _manifest_for(data_key, self._header.vault_id)
        self._cipher = AESGCM(data_key)

    def _keys(self) -> tuple[AESGCM, bytes]:
        with self._lock:
            cipher, mac_key = self._key(), self._mac_key
        assert mac_key is not None  # always set together with the cipher
        return cipher, mac_key

    def _key(self) -> AESGCM:
        cipher = self._cipher
        if cipher is None:
            self._conn()
            raise VaultLocked("The vault is locked; unlock it with its passphrase first.")
        return cipher

    # ----------------------------------------------------------------- integrity

    def _note_damage(self, item: str) -> None:
        with self._lock:
            if item not in self._damage:
                problem = item_problem("damaged", item)
                self._damage[item] = problem
                log.warning(
                    "vault: %s (%s) failed its integrity check and was skipped", problem.what, problem.table
                )

    def _touch(self, changes: dict[str, str | None]) -> None:
        """Record a write in the manifest; called inside the write's own transaction."""
        if self._header.format < FILE_FORMAT:
            return  # an older schema (upgrade tests): it gets its manifest at its first unlock
        manifest = self._manifest
        if manifest is None:
            raise VaultLocked("The vault is locked; unlock it with its passphrase first.")
        manifest.touch(self._conn(), changes)
        with self._lock:
            for item in changes:
                self._damage.pop(item, None)  # written afresh

    def _manifest_check(self) -> tuple[Manifest, ManifestCheck] | None:
        manifest = self._manifest
        if manifest is None or self._header.format < FILE_FORMAT:
            return None
        with self._lock:
            conn = self._conn()
            if self._depth:
                check = manifest.check(conn)
            else:
                conn.execute("BEGIN")  # one snapshot for the list and the rows
                try:
                    check = manifest.check(conn)
                finally:
                    conn.execute("COMMIT")
        check.seen_counter = manifest.read_seen(self.path)
        return manifest, check

    def _verify_manifest(self) -> IntegrityReport:
        report = IntegrityReport()
        try:
            found = self._manifest_check()
        except TamperedData:
            report.add(
                Problem(
                    "manifest",
                    "",
                    "The vault's manifest itself is damaged: which rows should exist cannot be checked.",
                )
            )
            return report
        if found is None:
            return report
        _, check = found
        authentic = {item: self._authentic(item) for item in check.changed}
        for problem in manifest_problems(check, authentic):
            report.add(problem)
        return report

    def _authentic(self, item: str) -> bool:
        """Whether the item's current blobs authenticate (read, and dropped)."""
        cipher, _ = self._keys()
        kind, _, rest = item.partition(":")
        try:
            with self._lock:
                conn = self._conn()
                if kind == "capture":
                    row = conn.execute("SELECT body, info FROM captures WHERE id = ?", (rest,)).fetchone()
                    crypto.unseal(cipher, row[0], crypto.aad("captures", "body", rest), "capture")
                    crypto.unseal(cipher, row[1], crypto.aad("captures", "info", rest), "capture")
                elif kind == "records":
                    for first, data in conn.execute(
                        "SELECT s.first_id, s.data FROM record_sets s JOIN captures c ON c.seq = s.capture_seq "
                        "WHERE c.id = ?",
                        (rest,),
                    ):
                        crypto.unseal(cipher, data, _record_set_aad(rest, first), "records")
                else:
                    collection, _, key_mac = rest.partition(":")
                    (value,) = conn.execute(
                        "SELECT value FROM docs WHERE collection = ? AND key_mac = ?", (collection, key_mac)
                    ).fetchone()
                    crypto.unseal(cipher, value, crypto.aad("docs", "value", collection, key_mac), "document")
        except (TamperedData, TypeError):
            return False
        return True

    def _keep_high_water(self) -> None:
        """Keep the manifest's counter beside the file (best effort: it only serves a check)."""
        manifest = self._manifest
        if manifest is None or self._conn_ is None or self._header.format < FILE_FORMAT:
            return
        try:
            with self._lock:
                head = manifest.read_head(self._conn())
        except (VaultError, sqlite3.Error):
            return
        if head is not None:
            manifest.write_seen(self.path, head.counter)

    def integrity(self) -> IntegrityReport:
        """What is known to be wrong now, without reading everything: what the unlock's manifest check
        found, and every item a read since then found damaged (those are skipped by the readers that
        list many items, and raise :class:`TamperedData` from those that read one)."""
        report = IntegrityReport(list(self._unlock_report.problems))
        self._add_damage(report)
        return report

    def _add_damage(self, report: IntegrityReport) -> None:
        """Add every item a read found damaged; a damaged item is not also reported as merely older."""
        with self._lock:
            damage = list(self._damage.values())
        for problem in damage:
            report.problems = [p for p in report.problems if p.item != problem.item or p.kind != "older"]
            report.add(problem)

    @_db_errors
    def inspect(self) -> IntegrityReport:
        """Check everything: SQLite's integrity check, the manifest against the rows, and (unlocked)
        every blob, decrypted. Reports each problem by item; raises only if the file cannot be read."""
        report = IntegrityReport()
        with self._lock:
            result = self._conn().execute("PRAGMA integrity_check").fetchall()
        if result != [("ok",)]:
            report.add(
                Problem(
                    "file",
                    "",
                    "The vault file's structure is damaged (SQLite integrity check: "
                    + "; ".join(str(r[0]) for r in result[:3])
                    + ").",
                )
            )
            return report
        if not self.unlocked:
            return report
        for problem in self._verify_manifest().problems:
            report.add(problem)
        with self._lock:
            self._damage.clear()
        cipher = self._key()
        with self._lock:
            ids = [r[0] for r in self._conn().execute("SELECT id FROM captures ORDER BY seq")]
        self.list_captures()
        for capture_id in ids:
            with contextlib.suppress(TamperedData, UnknownCapture):  # noted as damage
                self.get_capture(capture_id)
        for _ in self._decrypt_sets(cipher, self._record_set_rows(), self._note_damage):
            pass
        with self._lock:
            collections = [r[0] for r in self._conn().execute("SELECT DISTINCT collection FROM docs")]
        for collection in collections:
            self.list_docs(collection)
        self._add_damage(report)
        return report

    @_db_errors
    def accept_current_state(self) -> None:
        """List the rows as they are now in the manifest, after the caregiver has seen what was missing,
        older or extra (``kinchart check --accept``). Damaged blobs stay damaged (and reported)."""
        cipher = self._key()
        del cipher
        if self._header.format < FILE_FORMAT or self._manifest is None:
            return
        manifest = self._manifest
        floor = manifest.read_seen(self.path)
        with self._write():
            head = manifest.rebuild(self._conn(), floor)
        manifest.reset_seen(self.path)
        manifest.write_seen(self.path, head.counter)
        self._unlock_report = self._verify_manifest()

    @contextlib.contextmanager
    def _write(self) -> Iterator[None]:
        """A write transaction (BEGIN IMMEDIATE), or a savepoint when nested."""
        with self._lock:
            conn = self._conn()
            if self._depth == 0:
                conn.execute("BEGIN IMMEDIATE")
                self._depth = 1
                try:
                    yield
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
                else:
                    try:
                        conn.execute("COMMIT")
                    except BaseException:
                        if conn.in_transaction:
                            conn.execute("ROLLBACK")
                        raise
                finally:
                    self._depth = 0
            else:
                name = f"kinchart_sp{self._depth}"
                conn.execute(f"SAVEPOINT {name}")
                self._depth += 1
                try:
                    yield
                except BaseException:
                    if conn.in_transaction:
                        conn.execute(f"ROLLBACK TO {name}")
                        conn.execute(f"RELEASE {name}")
                    raise
                else:
                    conn.execute(f"RELEASE {name}")
                finally:
                    self._depth -= 1

    def transaction(self) -> contextlib.AbstractContextManager[None]:
        """Group several writes atomically: all of them are committed (durably) when the outermost
        block exits normally, none if it raises. Nests (inner blocks are savepoints)."""
        return self._wrap_errors(self._write())

    @contextlib.contextmanager
    def _wrap_errors(self, inner: contextlib.AbstractContextManager[None]) -> Iterator[None]:
        try:
            with inner:
                yield
        except sqlite3.DatabaseError as exc:
            raise VaultError(f"The vault database could not be read or written ({exc}).") from exc

    # ----------------------------------------------------------------- captures

    def capture_hash(self, capture: dict[str, Any]) -> str:
        """The capture's id in this vault: HMAC-SHA256, under a key derived from the data key, of the
        canonical JSON of its url and frames (see :mod:`.capture`). Needs the vault unlocked."""
        return CanonicalCapture(capture).capture_id(self._capture_key())

    def _capture_key(self) -> bytes:
        with self._lock:
            self._key()
            key = self._id_key
        assert key is not None  # set together with the cipher
        return key

    @_db_errors
    def put_capture(self, capture: dict[str, Any]) -> tuple[str, bool]:
        """Store a capture immutably; return ``(capture_id, duplicate)``.

        ``duplicate`` is True when the same url + frames were already stored: nothing is written and
        the first copy (with its title, captured_at, meta) is kept. Durable on return (outside a
        :meth:`transaction`). :class:`InvalidInput` for a malformed capture.
        """
        capture_id, duplicate, _ = self.put_capture_while(capture, None)
        return capture_id, duplicate

    def put_capture_while(
        self, capture: dict[str, Any], work: Callable[[], _T] | None
    ) -> tuple[str, bool, _T | None]:
        """:meth:`put_capture`, with ``work()`` done in the calling thread while the capture is stored;
        return ``(capture_id, duplicate, what work returned)``.

        Once the capture's id is known (its hash), storing it is mostly compression, encryption and
        SQLite's durable commit, which release the GIL, so from `STORE_BESIDE_ABOVE` bytes on that runs
        in a worker thread beside ``work`` (the ingest path parses the page meanwhile); a smaller capture
        is stored first, then ``work`` is done. ``work`` is not called for a capture found already stored (None is returned).
        The capture is stored, and committed unless the calling thread is inside a :meth:`transaction`
        (then it is written in that transaction, as by :meth:`put_capture`), before this returns, even
        when ``work`` raises; an error storing it is raised in preference to ``work``'s (``work``'s own
        errors pass through unchanged).
        """
        cipher, id_key = self._key(), self._capture_key()
        canonical = CanonicalCapture(capture)
        capture_id = canonical.capture_id(id_key)
        if self.has_capture(capture_id):
            return capture_id, True, None

        def seal() -> tuple[bytes, bytes]:
            return self._seal_capture(cipher, capture_id, canonical.body)

        if work is None or len(canonical.body) < STORE_BESIDE_ABOVE:
            duplicate = self._insert_capture(capture_id, seal())
            return capture_id, duplicate, work() if work is not None else None
        if self._in_transaction_here():
            # The worker could not take the lock this thread holds: it only seals; the row is written
            # here, as part of the caller's transaction.
            sealed, result = _beside(seal, work)
            return capture_id, self._insert_capture(capture_id, sealed), result
        duplicate, done = _beside(lambda: self._insert_capture(capture_id, seal()), work)
        return capture_id, duplicate, done

    @staticmethod
    def _seal_capture(cipher: AESGCM, capture_id: str, body: bytes) -> tuple[bytes, bytes]:
        """The capture's body and info columns, compressed and encrypted (no lock, no database)."""
        sealed_body = crypto.seal(
            cipher,
            crypto.pack(body, compress=True, level=CAPTURE_ZLIB_LEVEL),
            crypto.aad("captures", "body", capture_id),
        )
        info = {"stored_at": _now(), "size": len(body), "meta": {}}
        return sealed_body, crypto.seal_json(cipher, info, crypto.aad("captures", "info", capture_id))

    @_db_errors
    def _insert_capture(self, capture_id: str, sealed: tuple[bytes, bytes]) -> bool:
        """Write a sealed capture (committed, outside a transaction); True if it was there already."""
        with self._write():
            cur = self._conn().execute(
                "INSERT INTO captures (id, body, info) VALUES (?, ?, ?) ON CONFLICT(id) DO NOTHING",
                (capture_id, *sealed),
            )
            if cur.rowcount == 0:
                return True
            self._touch({capture_item(capture_id): nonce(sealed[1])})  # the info: see manifest._ACTUAL
            return False

    def _in_transaction_here(self) -> bool:
        """Whether the calling thread is inside a :meth:`transaction` (it then holds the lock)."""
        if not self._lock.acquire(blocking=False):
            return False  # another thread holds it
        try:
            return self._depth > 0
        finally:
            self._lock.release()

    @_db_errors
    def has_capture(self, capture_id: str) -> bool:
        """Whether a capture with this id is stored (works while locked; ids are keyed, so without the
        key nobody can make the id of a page to look for)."""
        with self._lock:
            row = self._conn().execute("SELECT 1 FROM captures WHERE id = ?", (capture_id,)).fetchone()
        return row is not None

    @_db_errors
    def get_capture(self, capture_id: str) -> dict[str, Any]:
        """The capture exactly as it was put. :class:`UnknownCapture`, :class:`TamperedData`."""
        cipher, id_key = self._key(), self._capture_key()
        _capture_id(capture_id)
        with self._lock:
            row = self._conn().execute("SELECT body FROM captures WHERE id = ?", (capture_id,)).fetchone()
        if row is None:
            raise UnknownCapture(f"No capture {capture_id} is stored.")
        where = f"capture {capture_id[:12]}"
        try:
            raw = crypto.unpack(
                crypto.unseal(cipher, row[0], crypto.aad("captures", "body", capture_id), where), where
            )
            try:
                capture: dict[str, Any] = json.loads(raw)
                same = CanonicalCapture(capture).capture_id(id_key) == capture_id
            except (ValueError, VaultError):
                same = False
            if not same:
                raise crypto.tampered(where)
        except TamperedData:
            self._note_damage(capture_item(capture_id))
            raise
        return capture

    def _info(self, cipher: AESGCM, capture_id: str) -> dict[str, Any]:
        row = self._conn().execute("SELECT info FROM captures WHERE id = ?", (capture_id,)).fetchone()
        if row is None:
            raise UnknownCapture(f"No capture {capture_id} is stored.")
        try:
            info: dict[str, Any] = crypto.unseal_json(
                cipher, row[0], crypto.aad("captures", "info", capture_id), f"capture {capture_id[:12]} meta"
            )
        except TamperedData:
            self._note_damage(capture_item(capture_id))
            raise
        return info

    @_db_errors
    def get_capture_meta(self, capture_id: str) -> dict[str, Any]:
        """The capture's metadata as last set ({} if never set)."""
        cipher = self._key()
        with self._lock:
            meta: dict[str, Any] = self._info(cipher, capture_id).get("meta", {})
        return meta

    @_db_errors
    def set_capture_meta(self, capture_id: str, meta: dict[str, Any]) -> None:
        """Replace the capture's metadata (encrypted JSON: vendor, page_kind, patient, member_id,
        parser, version, status, error, warnings...). The capture itself never changes."""
        cipher = self._key()
        if not isinstance(meta, dict):
            raise InvalidInput("Capture metadata must be a JSON object.")
        with self._write():
            info = self._info(cipher, capture_id)
            info["meta"] = meta
            sealed = crypto.seal_json(cipher, info, crypto.aad("captures", "info", capture_id))
            self._conn().execute("UPDATE captures SET info = ? WHERE id = ?", (sealed, capture_id))
            self._touch({capture_item(capture_id): nonce(sealed)})

    def update_capture_meta(self, capture_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Merge ``changes`` into the capture's metadata (one transaction); return the new metadata."""
        with self.transaction():
            meta = self.get_capture_meta(capture_id)
            meta.update(changes)
            self.set_capture_meta(capture_id, meta)
        return meta

    @_db_errors
    def list_captures(self) -> list[CaptureRow]:
        """Every capture, oldest first (ordered by ``seq``), with decrypted metadata. A capture whose
        metadata fails its integrity check is left out and reported (:meth:`integrity`)."""
        cipher = self._key()
        with self._lock:
            rows = (
                self._conn()
                .execute("SELECT seq, id, info, length(body) FROM captures ORDER BY seq")
                .fetchall()
            )
        out = []
        for seq, capture_id, _blob, stored_size, info in self._unseal_infos(cipher, rows, self._note_damage):
            out.append(
                CaptureRow(
                    id=capture_id,
                    seq=seq,
                    stored_at=info.get("stored_at", ""),
                    size=info.get("size", 0),
                    meta=info.get("meta", {}),
                    stored_size=stored_size,
                )
            )
        return out

    @staticmethod
    def _unseal_infos(
        cipher: AESGCM, rows: list[tuple[int, str, bytes, int]], damaged: Callable[[str], None]
    ) -> Iterator[tuple[int, str, bytes, int, dict[str, Any]]]:
        """Each row with its decrypted info; the JSON of `_JSON_CHUNK` rows is decoded by one
        ``json.loads`` so the meta keys every capture repeats are shared (see `_decrypt_batches`).
        A row that fails its check is passed to ``damaged`` (by manifest item) and skipped."""
        for start in range(0, len(rows), _JSON_CHUNK):
            part = []
            raws: list[bytes] = []
            for row in rows[start : start + _JSON_CHUNK]:
                capture_id, blob = row[1], row[2]
                where = f"capture {capture_id[:12]} meta"
                associated = crypto.aad("captures", "info", capture_id)
                try:
                    raws.append(crypto.unpack(crypto.unseal(cipher, blob, associated, where), where))
                except TamperedData:
                    damaged(capture_item(capture_id))
                    continue
                part.append(row)
            try:
                infos = orjson.loads(b"[" + b",".join(raws) + b"]")
                if not isinstance(infos, list) or len(infos) != len(part):
                    raise ValueError
            except ValueError:
                infos = None
            for i, (seq, capture_id, blob, stored_size) in enumerate(part):
                if infos is None:
                    try:
                        info = orjson.loads(raws[i])
                    except ValueError:
                        damaged(capture_item(capture_id))
                        continue
                else:
                    info = infos[i]
                if not isinstance(info, dict):
                    damaged(capture_item(capture_id))
                    continue
                yield seq, capture_id, blob, stored_size, info

    @_db_errors
    def external_version(self) -> int:
        """SQLite's data_version: it changes when another connection (another `kinchart` process)
        commits, so a long-running bridge can tell its in-memory views are out of date."""
        with self._lock:
            row = self._conn().execute("PRAGMA data_version").fetchone()
        return int(row[0])

    def capture_count(self) -> int:
        with self._lock:
            (count,) = self._conn().execute("SELECT count(*) FROM captures").fetchone()
        return int(count)

    # ----------------------------------------------------------------- records

    @_db_errors
    def replace_records(self, capture_id: str, records: list[dict[str, Any]]) -> list[int]:
        """Replace every record derived from ``capture_id`` by ``records``, in one transaction.

        Each record is a dict with a ``kind`` (a record-contract category such as ``lab_result``);
        the whole dict is stored encrypted and comes back unchanged
        as :attr:`RecordRow.data`. Returns the new record ids, in order; ids are never reused.
        An empty list removes the capture's records.
        """
        cipher = self._key()
        if not isinstance(records, list):
            raise InvalidInput("Records must be given as a list.")
        kinds = []
        for record in records:
            if not isinstance(record, dict):
                raise InvalidInput("A record must be a JSON object.")
            kinds.append(_category(record.get("kind"), "record kind"))
        with self._write():
            conn = self._conn()
            seq = self._capture_seq(capture_id)
            conn.execute("DELETE FROM records WHERE capture_seq = ?", (seq,))
            conn.execute("DELETE FROM record_sets WHERE capture_seq = ?", (seq,))
            if not records:
                self._touch({records_item(capture_id): None})
                return []
            row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'records'").fetchone()
            (highest,) = conn.execute("SELECT coalesce(max(id), 0) FROM records").fetchone()
            first = max(int(row[0]) if row else 0, int(highest)) + 1
            ids = list(range(first, first + len(records)))
            if self._records_have_kind:
                conn.executemany(
                    "INSERT INTO records (id, capture_seq, kind) VALUES (?, ?, ?)",
                    zip(ids, itertools.repeat(seq), kinds, strict=False),
                )
            else:
                conn.executemany(
                    "INSERT INTO records (id, capture_seq) VALUES (?, ?)", zip(ids, itertools.repeat(seq))
                )
            blob = crypto.seal_json(
                cipher, {"first": first, "records": records}, _record_set_aad(capture_id, first)
            )
            conn.execute(
                "INSERT INTO record_sets (capture_seq, first_id, data) VALUES (?, ?, ?)", (seq, first, blob)
            )
            self._touch({records_item(capture_id): nonce(blob)})
        return ids

    def _capture_seq(self, capture_id: str) -> int:
        row = self._conn().execute("SELECT seq FROM captures WHERE id = ?", (capture_id,)).fetchone()
        if row is None:
            raise UnknownCapture(f"No capture {capture_id} is stored.")
        return int(row[0])

    def _record_set_rows(self, capture_id: str | None = None) -> list[tuple[str, int, bytes]]:
        """The sealed record sets, ``(capture id, first record id, blob)``: every capture's in id order,
        or the one capture's."""
        select = (
            "SELECT c.id, s.first_id, s.data FROM record_sets s JOIN captures c ON c.seq = s.capture_seq "
        )
        with self._lock:
            if capture_id is None:
                return self._conn().execute(select + "ORDER BY s.first_id").fetchall()
            return self._conn().execute(select + "WHERE c.id = ?", (capture_id,)).fetchall()

    @_db_errors
    def iter_records(self) -> Iterator[RecordRow]:
        """Every record, in id order, decrypted one capture's set at a time as iterated.

        The encrypted rows are read at the call (a consistent snapshot); :class:`VaultLocked` is
        raised at the call. A set that fails its integrity check is skipped and reported
        (:meth:`integrity`).
        """
        cipher = self._key()
        rows = self._record_set_rows()
        return self._decrypt_sets(cipher, rows, self._note_damage)

    @_db_errors
    def iter_record_sets(self) -> Iterator[tuple[str, int, list[dict[str, Any]]]]:
        """Every capture's records as one list, ``(capture id, first record id, records)``, in id
        order: what :meth:`iter_records` yields without a row object per record (the family index
        reads every record at each unlock). Same snapshot, checks and errors as :meth:`iter_records`."""
        cipher = self._key()
        rows = self._record_set_rows()
        return self._decrypt_batches(cipher, rows, self._note_damage)

    @_db_errors
    def records_for(self, capture_id: str) -> list[RecordRow]:
        """The records derived from one capture, in id order ([] if none or unknown capture).
        :class:`TamperedData` if they fail their integrity check."""
        cipher = self._key()
        rows = self._record_set_rows(capture_id)
        return list(self._decrypt_sets(cipher, rows, None))

    @_db_errors
    def count_records(self, kind: str | None = None) -> int:
        """How many records are stored (works while locked: the plaintext index of record ids), or how
        many of one ``kind`` (unlocked only: kinds are stored only in the sealed record sets)."""
        if kind is not None:
            return sum(1 for r in self.iter_records() if r.kind == kind)
        with self._lock:
            (count,) = self._conn().execute("SELECT count(*) FROM records").fetchone()
        return int(count)

    @staticmethod
    def _record_batch(batch: Any, first: int, where: str) -> list[dict[str, Any]]:
        try:
            records = batch["records"]
            if batch["first"] != first or not isinstance(records, list):
                raise ValueError
        except (KeyError, TypeError, ValueError):
            raise crypto.tampered(where) from None
        return records

    @staticmethod
    def _decrypt_batches(
        cipher: AESGCM, rows: list[tuple[str, int, bytes]], damaged: Callable[[str], None]
    ) -> Iterator[tuple[str, int, list[dict[str, Any]]]]:
        """Decrypt and check each set; decode the JSON of `_JSON_CHUNK` sets in one ``json.loads``
        (one array of their texts), so the dict keys every record repeats ("kind", "title",
        "occurred_at", ...) are one shared string per chunk instead of one copy per set: a good part
        of the memory a 100,000-record index holds. A chunk that does not decode to exactly its sets
        falls back to decoding set by set (which names the set at fault). A set that fails its check is
        passed to ``damaged`` and skipped."""
        for start in range(0, len(rows), _JSON_CHUNK):
            part = []
            raws: list[bytes] = []
            for row in rows[start : start + _JSON_CHUNK]:
                capture_id, first, blob = row
                where = f"records of capture {capture_id[:12]}"
                try:
                    raws.append(
                        crypto.unpack(
                            crypto.unseal(cipher, blob, _record_set_aad(capture_id, first), where), where
                        )
                    )
                except TamperedData:
                    damaged(records_item(capture_id))
                    continue
                part.append(row)
            try:
                batches = orjson.loads(b"[" + b",".join(raws) + b"]")
                if not isinstance(batches, list) or len(batches) != len(part):
                    raise ValueError
            except ValueError:
                batches = None
            for i, (capture_id, first, _) in enumerate(part):
                where = f"records of capture {capture_id[:12]}"
                try:
                    if batches is None:
                        try:
                            batch = json.loads(raws[i])
                        except ValueError:
                            raise crypto.tampered(where) from None
                    else:
                        batch = batches[i]
                    records = Vault._record_batch(batch, first, where)
                except TamperedData:
                    damaged(records_item(capture_id))
                    continue
                yield capture_id, first, records
            del raws, batches

    @staticmethod
    def _decrypt_sets(
        cipher: AESGCM, rows: list[tuple[str, int, bytes]], damaged: Callable[[str], None] | None
    ) -> Iterator[RecordRow]:
        """Each set's records; a set that fails its check is passed to ``damaged`` and skipped, or (with
        None) raises :class:`TamperedData`."""
        for capture_id, first, blob in rows:
            where = f"records of capture {capture_id[:12]}"
            try:
                batch = crypto.unseal_json(cipher, blob, _record_set_aad(capture_id, first), where)
                records = Vault._record_batch(batch, first, where)
            except TamperedData:
                if damaged is None:
                    raise
                damaged(records_item(capture_id))
                continue
            for offset, record in enumerate(records):
                yield RecordRow(first + offset, capture_id, record["kind"], record)

    # ----------------------------------------------------------------- documents

    def _doc_row(self, collection: str, key: str) -> tuple[AESGCM, str, bytes]:
        """The cipher, the row's keyed key hash and the AAD for a document."""
        cipher, mac_key = self._keys()
        _category(collection, "collection")
        _doc_key(key)
        key_mac = crypto.keyed_id(mac_key, collection, key)
        return cipher, key_mac, crypto.aad("docs", "value", collection, key_mac)

    @_db_errors
    def put_doc(self, collection: str, key: str, value: dict[str, Any]) -> None:
        """Store (insert or replace) an encrypted JSON document under ``(collection, key)``.

        ``collection`` (a short lowercase name such as ``members``) is stored in plaintext. ``key``
        is not: the file holds only a keyed hash of it (HMAC under a key derived from the data key),
        and the key itself is encrypted with the value. So even a key derived from a name and a birth
        date cannot be confirmed by hashing guesses without the passphrase. Still, prefer opaque ids
        (uuids, hashes). Keys are non-empty text without NUL, at most 1,000 characters.
        """
        cipher, key_mac, associated = self._doc_row(collection, key)
        if not isinstance(value, dict):
            raise InvalidInput("A document must be a JSON object.")
        blob = crypto.seal_json(cipher, {"key": key, "value": value}, associated)
        with self._write():
            self._conn().execute(
                "INSERT INTO docs (collection, key_mac, value) VALUES (?, ?, ?) "
                "ON CONFLICT(collection, key_mac) DO UPDATE SET value = excluded.value",
                (collection, key_mac, blob),
            )
            self._touch({doc_item(collection, key_mac): nonce(blob)})

    @staticmethod
    def _open_doc(
        cipher: AESGCM, blob: bytes, associated: bytes, collection: str
    ) -> tuple[str, dict[str, Any]]:
        where = f"{collection} document"
        doc = crypto.unseal_json(cipher, blob, associated, where)
        if (
            not isinstance(doc, dict)
            or not isinstance(doc.get("key"), str)
            or not isinstance(doc.get("value"), dict)
        ):
            raise crypto.tampered(where)
        return doc["key"], doc["value"]

    @_db_errors
    def get_doc(self, collection: str, key: str) -> dict[str, Any] | None:
        """The document, or None if there is none. :class:`TamperedData` (and reported, see
        :meth:`integrity`) if it fails its integrity check."""
        cipher, key_mac, associated = self._doc_row(collection, key)
        with self._lock:
            row = (
                self._conn()
                .execute("SELECT value FROM docs WHERE collection = ? AND key_mac = ?", (collection, key_mac))
                .fetchone()
            )
        if row is None:
            return None
        try:
            stored_key, value = self._open_doc(cipher, row[0], associated, collection)
            if stored_key != key:
                raise crypto.tampered(f"{collection} document")
        except TamperedData:
            self._note_damage(doc_item(collection, key_mac))
            raise
        return value

    @_db_errors
    def list_docs(self, collection: str) -> dict[str, dict[str, Any]]:
        """Every document of a collection, by key (sorted by key). A document that fails its integrity
        check is left out and reported (:meth:`integrity`)."""
        cipher, mac_key = self._keys()
        _category(collection, "collection")
        with self._lock:
            rows = (
                self._conn()
                .execute("SELECT key_mac, value FROM docs WHERE collection = ?", (collection,))
                .fetchall()
            )
        docs = {}
        for key_mac, blob in rows:
            try:
                key, value = self._open_doc(
                    cipher, blob, crypto.aad("docs", "value", collection, key_mac), collection
                )
                if crypto.keyed_id(mac_key, collection, key) != key_mac:
                    raise crypto.tampered(f"{collection} document")
            except TamperedData:
                self._note_damage(doc_item(collection, key_mac))
                continue
            docs[key] = value
        return dict(sorted(docs.items()))

    @_db_errors
    def delete_doc(self, collection: str, key: str) -> None:
        """Delete a document (no error if absent)."""
        _, key_mac, _ = self._doc_row(collection, key)
        with self._write():
            cur = self._conn().execute(
                "DELETE FROM docs WHERE collection = ? AND key_mac = ?", (collection, key_mac)
            )
            if cur.rowcount:
                self._touch({doc_item(collection, key_mac): None})

    # ----------------------------------------------------------------- caches

    @_db_errors
    def content_stamp(self) -> str:
        """What the captures' metadata and the record sets are now, in 32 hex digits: every write of
        either seals its blob afresh with a random nonce, so the stamp (a hash of the rows' ids and
        nonces, read without decrypting anything) changes with any change to them, whoever made it.
        A cache derived from them is current only while the stamp it was made at is."""
        with self._lock:
            conn = self._conn()
            infos = conn.execute(
                "SELECT group_concat(id || hex(substr(info, 2, 12)), ',') "
                "FROM (SELECT id, info FROM captures ORDER BY seq)"
            ).fetchone()[0]
            sets = conn.execute(
                "SELECT group_concat(capture_seq || ':' || first_id || hex(substr(data, 2, 12)), ',') "
                "FROM (SELECT capture_seq, first_id, data FROM record_sets ORDER BY capture_seq)"
            ).fetchone()[0]
        h = hashlib.blake2b(digest_size=16)
        h.update(self._header.vault_id.encode())
        for part in (infos or "", sets or ""):
            h.update(b"\0" + part.encode())
        return h.hexdigest()

    @_db_errors
    def reader(self) -> Vault:
        """This vault again, unlocked with the same key, on a connection of its own: for reading
        everything in a background thread without taking this one's lock (WAL gives it the last
        committed state while this connection writes). Only for reading; close it when done."""
        cipher, mac_key = self._keys()
        conn = storage.connect(self.db_path, mode="rw")
        conn.execute("PRAGMA busy_timeout = 10000")
        other = Vault(self.path, conn, self._header)
        other._cipher, other._mac_key = cipher, mac_key
        other._id_key, other._manifest = self._id_key, self._manifest
        return other

    def cache_path(self, name: str) -> Path:
        return self.path / f"{_category(name, 'cache name')}.cache"

    def write_cache(self, name: str, data: bytes) -> None:
        """Store derived data (e.g. the timeline index) beside the database, sealed with the data key
        and bound to this vault and `name`; replaced atomically. A cache holds nothing the vault does
        not: losing it only costs the time to derive it again."""
        cipher = self._key()
        sealed = crypto.seal(cipher, data, crypto.aad("cache", name, self._header.vault_id))
        target = self.cache_path(name)
        partial = target.with_suffix(".partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(sealed)
        os.replace(partial, target)

    def read_cache(self, name: str) -> bytes | None:
        """A cache written by :meth:`write_cache`, or None if there is none. :class:`TamperedData`
        if it does not decrypt (altered, or another vault's)."""
        cipher = self._key()
        try:
            blob = self.cache_path(name).read_bytes()
        except FileNotFoundError:
            return None
        return crypto.unseal(cipher, blob, crypto.aad("cache", name, self._header.vault_id), f"{name} cache")

    # ----------------------------------------------------------------- backup

    @_db_errors
    def backup(self, dest: Path) -> Path:
        """Write a consistent, still-encrypted copy with SQLite's online backup API; return its path.

        ``dest`` an existing directory → the copy is ``dest/kinchart.db``, so that directory is
        itself a vault (``Vault.open(dest)`` works). Otherwise ``dest`` is the file to write (parent
        directories are created). Never overwrites: :class:`VaultExists` if the target exists. The
        copy is written beside the target as ``<name>.partial`` and renamed when complete and
        fsynced. Works locked or unlocked; the copy opens with the same passphrase.
        """
        from .backup import backup_to

        with self._lock:
            if self._depth:
                raise VaultError("Finish the current transaction before making a backup.")
            return backup_to(self._conn(), Path(dest))

    @classmethod
    @_db_errors
    def restore(cls, backup: Path, path: Path) -> Vault:
        """Restore a backup (a file, or a directory holding ``kinchart.db``) into a new vault at
        ``path`` and return it, locked. Refuses (:class:`VaultExists`) if ``path`` has a vault; the
        backup is checked (SQLite integrity check, vault header) before anything is put in place."""
        from .backup import restore_to

        path = Path(path)
        restore_to(Path(backup), path)
        return cls.open(path)

    @_db_errors
    def check(self) -> None:
        """:meth:`inspect`, raising on any problem: :class:`VaultError` if the file's structure is
        damaged, else :class:`TamperedData` naming every item at fault (never their content)."""
        report = self.inspect()
        if report.ok:
            return
        if any(p.kind == "file" for p in report.problems):
            raise storage.damaged(self.db_path, report.lines()[0])
        raise TamperedData("The vault failed its check: " + " ".join(report.lines()))


def _manifest_for(data_key: bytes, vault_id: str) -> Manifest:
    return Manifest(AESGCM(data_key), crypto.derive_subkey(data_key, "manifest"), vault_id)


def _default_params() -> KdfParams:
    return kdf.default_params()


def _new_salt() -> bytes:
    return kdf.new_salt()


def _dump_stored(params: KdfParams, salt: bytes) -> str:
    return kdf.dump_stored(params, salt)


def _derive(secret: bytes, salt: bytes, params: KdfParams) -> bytes:
    return kdf._derive_raw(secret, salt, params)


def _passphrase_bytes(passphrase: str) -> bytes:
    return kdf.passphrase_bytes(passphrase)


__all__ = ["CaptureRow", "RecordRow", "TamperedData", "Vault"]
