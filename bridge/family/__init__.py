"""The family record: members, filing captures under them, portal accounts, one merged timeline.

`Family(vault)` is the one entry point; the modules beside it each own one concern and are pure
where they can be (tests drive them with plain dicts):

- members.py     members and their vouched-for identities
- filing.py      which member a capture's patient is (never a silent guess)
- accounts.py    portal accounts, proxy access and expiry, staleness
- dedupe.py      natural keys, merging, supersession history
- index.py       the in-memory index built once per unlock, updated incrementally
- timeline.py    the one query behind the dashboard and every export
- trends.py, meds.py, messages.py, appointments.py   the views over the timeline

Privacy: all state is in encrypted vault documents keyed by uuids and hashes; the index and its
search text live only in memory.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import json
import logging
import threading
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any, TypeVar, cast

from . import index_cache
from .accounts import ACCESS_LEVELS, Account, Expiry, Stale, account_id, derive_accounts, host_of
from .accounts import expiring as _expiring
from .accounts import stale as _stale
from .appointments import Clash, Upcoming, candidates, upcoming
from .dedupe import RecordItem, instant, make_item, share_strings
from .filing import Candidate, Filing, capture_patient_key, decide, patient_of
from .index import TimelineIndex
from .meds import MedGroup, MedItem, reconcile
from .members import Members, UnknownMember, add_identity, identities, member_from_doc
from .messages import Thread, awaiting_reply
from .models import Entry, Member, Provenance, ReparseReport, TimelinePage, TimelineQuery, Version
from .normalize import digest
from .store import ACCOUNTS, ASSIGNMENTS, PATIENT_KEYS, VaultLike
from .timeline import query as _query
from .trends import Series, TrendPoint
from .trends import trends as _trends

__all__ = [
    "ACCESS_LEVELS",
    "Account",
    "AssignResult",
    "Candidate",
    "Clash",
    "Entry",
    "Expiry",
    "Family",
    "Filing",
    "LockOrderError",
    "MedGroup",
    "MedItem",
    "Member",
    "Provenance",
    "ReparseReport",
    "Series",
    "Stale",
    "Thread",
    "TimelinePage",
    "TimelineQuery",
    "TrendPoint",
    "UnassignedCapture",
    "UnknownMember",
    "Upcoming",
    "Version",
]

SNAPSHOT = "timeline_snapshot"  # 16 documents keyed "0".."f": entry id -> fingerprint (for reparse)

log = logging.getLogger(__name__)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """For building an index (or loading one from the cache). The build allocates a few objects per
    record and frees almost none: the cyclic collector would rescan the growing index again and again
    (about 40% of the build at 100,000 records), so it is paused meanwhile. After it, what was built
    is moved out of the collector's generations (gc.freeze): it holds no reference cycles, so
    refcounting still frees it when it is dropped, and no later collection walks its million objects
    again (the first one after the build alone took ~0.5 s at 100,000 records)."""
    paused = gc.isenabled()
    if paused:
        gc.collect()  # so that what gets frozen is the index, not garbage cycles waiting
    gc.disable()
    try:
        yield
        gc.freeze()
    finally:
        if paused:
            gc.enable()


@contextlib.contextmanager
def _collector_off() -> Iterator[None]:
    """For decoding a large cache into short-lived objects: paused like `_collector_paused`, but what
    was made is left to the collector (it is dropped right after)."""
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


class _Build:
    """A full index build running in the background while a cached (partial) index answers."""

    def __init__(self, source: VaultLike) -> None:
        self.done = threading.Event()
        self.index: TimelineIndex | None = None
        self.metas: dict[str, dict[str, Any]] | None = None  # the capture metas it was built with
        self.source = source  # the connection it reads through

    def stop(self) -> None:
        """Stop decrypting for an index nobody will use (the vault was locked): the build fails at its
        next read of the vault."""
        lock = getattr(self.source, "lock", None)
        if lock is not None:
            lock()


@dataclass
class _CacheBase:
    """An index cache current when changes without an index began, and what they changed since."""

    blob: bytes
    stamp: str
    external: int  # the vault's external version then: another process writing voids the base
    changed: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class AssignResult:
    capture_id: str
    member_id: str
    filed: list[str] = field(default_factory=list)  # other unassigned captures of that patient, now filed
    moved: list[str] = field(default_factory=list)  # captures of that patient moved from another member


@dataclass(frozen=True)
class UnassignedCapture:
    capture_id: str
    patient: dict[str, Any] | None
    organization: str | None
    portal_host: str
    page_kind: str | None
    captured_at: str | None
    candidates: list[Candidate]


def _str(v: Any) -> str | None:
    return v if isinstance(v, str) else None


_PROV_FIELDS = ("url", "vendor", "organization", "parser", "parser_version", "page_kind", "captured_at")


def _prov_fields(meta: dict[str, Any]) -> dict[str, str | None]:
    return {k: _str(meta.get(k)) for k in _PROV_FIELDS}


def _provenance(capture_id: str, record_id: int, meta: dict[str, Any]) -> Provenance:
    return Provenance(capture_id=capture_id, record_id=record_id, **_prov_fields(meta))


def fingerprint(e: Entry) -> str:
    body = {"r": e.record, "h": [h.record for h in e.history], "c": sorted({s.capture_id for s in e.sources})}
    return digest(json.dumps(body, sort_keys=True, ensure_ascii=False, default=str), size=16)


_F = TypeVar("_F", bound=Callable[..., Any])
_V = TypeVar("_V")


class LockOrderError(RuntimeError):
    """The family's lock was asked for by a thread inside a vault transaction (see `Family.exclusive`)."""


def _locked(method: _F) -> _F:
    """One caller at a time (the server calls from worker threads); re-entrant. Enforces the lock order
    (`Family.exclusive`): a thread that holds the vault's lock may not start taking the family's."""

    @functools.wraps(method)
    def wrapper(self: Family, *args: Any, **kwargs: Any) -> Any:
        if not self._holds_lock() and self._inside_vault_transaction():
            raise LockOrderError(
                f"Family.{method.__name__} called inside a vault transaction: take Family.exclusive() first"
            )
        with self._lock:
            return method(self, *args, **kwargs)

    return cast(_F, wrapper)


class Family:
    """The family model over one unlocked vault (see the module docstring). Entries, records and
    other values it returns are shared with its in-memory index: read them, do not modify them."""

    def __init__(self, vault: VaultLike) -> None:
        self._lock = threading.RLock()
        self.vault = vault
        self.members = Members(vault)
        self._index: TimelineIndex | None = None
        self._metas: dict[str, dict[str, Any]] = {}
        self._metas_version = 0  # bumped whenever _metas changes (the accounts are cached on it)
        self._accounts: tuple[Any, list[Account]] | None = None
        self._waiting: tuple[int, list[str]] | None = None  # (metas version, unfiled capture ids)
        self._views: dict[tuple[Any, ...], tuple[tuple[int, int], Any]] = {}
        self._pending: _Build | None = None  # the full build replacing a partial (cached) index
        self._cache_stamp: str | None = None  # vault content the index cache on disk was made from
        self._built_at = -1  # the vault's external version when the index was read
        # While changes are made with no index in memory (`follow_cache`): the current index cache
        # they will be applied to, and the captures they changed.
        self._cache_base: _CacheBase | None = None

    # ================================================================ locking

    def exclusive(self) -> contextlib.AbstractContextManager[Any]:
        """The family's lock, for a caller that is about to open a vault transaction and call into the
        family inside it (ingest files a capture in the same transaction that stores its records).

        The one lock order, everywhere: **the family's lock before the vault's**. Family methods take
        the vault's lock inside their own; so a thread holding the vault's lock (a transaction) and then
        asking for the family's could deadlock against a dashboard page that holds the family's and
        waits for the vault's. That inversion froze the whole bridge; `_locked` now refuses it loudly
        (LockOrderError) instead of letting it hang."""
        return self._lock

    def _holds_lock(self) -> bool:
        return bool(self._lock._is_owned())  # type: ignore[attr-defined]  # CPython's RLock

    def _inside_vault_transaction(self) -> bool:
        inside = getattr(self.vault, "_in_transaction_here", None)
        return bool(inside()) if inside is not None else False

    # ================================================================ members

    @_locked
    def create_member(
        self, name: str, dob: str | None = None, relationship: str | None = None, notes: str | None = None
    ) -> Member:
        """A new member; name + dob become a vouched-for identity (pages showing exactly that name
        and birth date are filed under this member without asking)."""
        member = self.members.create(name, dob, relationship, notes)
        self._refile_unassigned()
        return member

    @_locked
    def rename_member(self, member_id: str, name: str) -> Member:
        member = self.members.update(member_id, name=name)
        self._refile_unassigned()
        return member

    @_locked
    def update_member(
        self,
        member_id: str,
        *,
        name: str | None = None,
        dob: str | None = None,
        relationship: str | None = None,
        notes: str | None = None,
    ) -> Member:
        member = self.members.update(member_id, name=name, dob=dob, relationship=relationship, notes=notes)
        self._refile_unassigned()
        return member

    @_locked
    def get_member(self, member_id: str) -> Member | None:
        try:
            return self.members.get(member_id)
        except UnknownMember:
            return None

    @_locked
    def list_members(self) -> list[Member]:
        return self.members.list()

    @_locked
    def merge_members(self, keep_id: str, drop_id: str) -> Member:
        """Merge `drop` into `keep`: every capture, remembered answer, identity and account follows."""
        keep_id, drop_id = self.members.resolve(keep_id), self.members.resolve(drop_id)
        self._full()
        moved: list[str] = []
        with self.vault.transaction():
            keep = self.members.absorb(keep_id, drop_id)
            for key, doc in self.vault.list_docs(PATIENT_KEYS).items():
                if doc.get("member_id") == drop_id:
                    self.vault.put_doc(PATIENT_KEYS, key, {**doc, "member_id": keep_id})
            for key, doc in self.vault.list_docs(ASSIGNMENTS).items():
                if doc.get("member_id") == drop_id:
                    self.vault.put_doc(ASSIGNMENTS, key, {**doc, "member_id": keep_id})
            for cid, meta in list(self._metas.items()):
                if meta.get("member_id") == drop_id:
                    self._set_meta(cid, {**meta, "member_id": keep_id})
                    moved.append(cid)
            for key, doc in self.vault.list_docs(ACCOUNTS).items():
                if doc.get("member_id") != drop_id:
                    continue
                new_id = account_id(
                    keep_id,
                    _str(doc.get("organization")),
                    _str(doc.get("vendor")),
                    str(doc.get("portal_host") or ""),
                )
                target = self.vault.get_doc(ACCOUNTS, new_id) or {}
                merged = {**doc, **{k: v for k, v in target.items() if v is not None}, "member_id": keep_id}
                self.vault.put_doc(ACCOUNTS, new_id, merged)
                self.vault.delete_doc(ACCOUNTS, key)
        self._reindex(moved)
        return member_from_doc(keep)

    # ================================================================ filing

    @_locked
    def file_capture(self, capture_id: str) -> Filing:
        """File one stored capture (called by ingest after its records are stored).

        The decision reads the members, the caregiver's answers and the capture's meta, never the
        timeline: with no index in memory yet (`kinchart import`), none is built for it (the index
        cache, if followed, is brought up to date at `save_cache`); an index in use is kept current,
        a partial one by first putting the full build in its place."""
        if self._index is not None:
            self._full()
        elif self._cache_base is not None:
            self._cache_base.changed.add(capture_id)
        meta = self.vault.get_capture_meta(capture_id)
        filing = self._decide(capture_id, meta)
        if filing.member_id:
            key = capture_patient_key(meta)
            if filing.reason == "identity" and key:
                self.vault.put_doc(
                    PATIENT_KEYS,
                    key,
                    {"member_id": filing.member_id, "confirmed": False, "source": "identity"},
                )
            self._set_meta(capture_id, {**meta, "member_id": filing.member_id, "status": "filed"}, meta)
        else:
            self._set_meta(capture_id, {**meta, "member_id": None, "status": "unassigned"}, meta)
        self._reindex([capture_id])
        return filing

    def _decide(self, capture_id: str, meta: dict[str, Any]) -> Filing:
        docs = self.members.all_docs()
        alive = {str(d["id"]) for d in docs}

        def live(member_id: Any) -> str | None:
            if not isinstance(member_id, str):
                return None
            mid = self.members.resolve(member_id)
            return mid if mid in alive else None

        assigned = self.vault.get_doc(ASSIGNMENTS, capture_id)
        key = capture_patient_key(meta)
        remembered = self.vault.get_doc(PATIENT_KEYS, key) if key else None
        return decide(
            capture_id,
            meta,
            docs,
            live((assigned or {}).get("member_id")),
            live((remembered or {}).get("member_id")),
        )

    @_locked
    def assign(self, capture_id: str, member_id: str, *, only_this: bool = False) -> AssignResult:
        """The caregiver says who a capture's patient is. Remembered for that patient key (name + dob
        + organization): every other unassigned capture of it is filed too, and captures of it filed
        under another member move (a correction). `only_this` files this one capture only."""
        member_id = self.members.resolve(member_id)
        doc = self.members.doc(member_id)  # raises UnknownMember
        self._full()
        meta = self.vault.get_capture_meta(capture_id)
        key = capture_patient_key(meta)
        name, dob = patient_of(meta)
        filed: list[str] = []
        moved: list[str] = []
        with self.vault.transaction():
            self.vault.put_doc(
                ASSIGNMENTS, capture_id, {"member_id": member_id, "patient_key": key, "only_this": only_this}
            )
            self._set_meta(capture_id, {**meta, "member_id": member_id, "status": "filed"}, meta)
            if key and not only_this:
                old = self.vault.get_doc(PATIENT_KEYS, key)
                old_member = (
                    self.members.resolve(str(old["member_id"])) if old and old.get("member_id") else None
                )
                self.vault.put_doc(
                    PATIENT_KEYS, key, {"member_id": member_id, "confirmed": True, "source": "caregiver"}
                )
                if add_identity(doc, name, dob, "confirmed", key):
                    self.members.save(doc)
                if old_member and old_member != member_id:
                    self._forget_identity(old_member, key)
                for cid, m in list(self._metas.items()):
                    if cid == capture_id or capture_patient_key(m) != key:
                        continue
                    if m.get("status") != "filed":
                        self._set_meta(cid, {**m, "member_id": member_id, "status": "filed"})
                        filed.append(cid)
                    elif m.get("member_id") != member_id:
                        a = self.vault.get_doc(ASSIGNMENTS, cid)
                        if a and a.get("member_id") not in (None, old_member):
                            continue  # the caregiver filed that one capture individually
                        if a:
                            self.vault.put_doc(ASSIGNMENTS, cid, {**a, "member_id": member_id})
                        self._set_meta(cid, {**m, "member_id": member_id, "status": "filed"})
                        moved.append(cid)
        self._reindex([capture_id, *filed, *moved])
        return AssignResult(capture_id=capture_id, member_id=member_id, filed=filed, moved=moved)

    def _refile_unassigned(self) -> list[str]:
        """After a member gained an identity: file the waiting captures that now match it exactly
        (rule 3 of filing.py); the others keep waiting."""
        if self._index is None:
            self._metas = self._read_metas(self.vault)
            self._metas_version += 1
        elif self._index.partial:
            self._full()
        filed: list[str] = []
        for cid, meta in list(self._metas.items()):
            if meta.get("status") == "filed":
                continue
            f = self._decide(cid, meta)
            if f.member_id:
                key = capture_patient_key(meta)
                if f.reason == "identity" and key:
                    self.vault.put_doc(
                        PATIENT_KEYS,
                        key,
                        {"member_id": f.member_id, "confirmed": False, "source": "identity"},
                    )
                self._set_meta(cid, {**meta, "member_id": f.member_id, "status": "filed"})
                filed.append(cid)
        self._reindex(filed)
        return filed

    def _forget_identity(self, member_id: str, key: str) -> None:
        try:
            doc = self.members.doc(member_id)
        except UnknownMember:
            return
        ids = identities(doc)
        kept = [i for i in ids if not (i.get("patient_key") == key and i.get("source") == "confirmed")]
        if len(kept) != len(ids):
            doc["identities"] = kept
            self.members.save(doc)

    @_locked
    def unassigned(self) -> list[UnassignedCapture]:
        """Captures waiting for "who is this?", oldest first, with their candidates."""
        self._ensure()
        if self._waiting is None or self._waiting[0] != self._metas_version:
            self._waiting = (
                self._metas_version,
                [cid for cid, meta in self._metas.items() if meta.get("status") != "filed"],
            )
        out: list[UnassignedCapture] = []
        for cid in self._waiting[1]:
            meta = self._metas[cid]
            f = self._decide(cid, meta)
            out.append(
                UnassignedCapture(
                    capture_id=cid,
                    patient=meta.get("patient") if isinstance(meta.get("patient"), dict) else None,
                    organization=_str(meta.get("organization")),
                    portal_host=host_of(meta),
                    page_kind=_str(meta.get("page_kind")),
                    captured_at=_str(meta.get("captured_at")),
                    candidates=f.candidates,
                )
            )
        return out

    # ================================================================ accounts

    @_locked
    def list_accounts(self, today: date | None = None) -> list[Account]:
        self._ensure()
        day = today or date.today()
        member_list = self.members.list()
        settings = self.vault.list_docs(ACCOUNTS)
        # derived from every capture's meta: cached until a meta, a setting, a member or the day changes
        key = (
            self._metas_version,
            day,
            tuple(member_list),
            json.dumps(settings, sort_keys=True, default=str),
        )
        if self._accounts is None or self._accounts[0] != key:
            members = {m.id: m for m in member_list}
            self._accounts = (key, derive_accounts(self._metas.items(), settings, members, day))
        return list(self._accounts[1])

    @_locked
    def get_account(self, account_id_: str, today: date | None = None) -> Account | None:
        return next((a for a in self.list_accounts(today) if a.id == account_id_), None)

    @_locked
    def set_proxy(
        self,
        account_id_: str,
        relationship: str | None = None,
        access_level: str | None = None,
        expires_on: str | None = None,
        *,
        clear_expiry: bool = False,
    ) -> Account:
        """Record the caregiver's proxy relationship, access level (full, partial, none) and expiry."""
        acc = self.get_account(account_id_)
        if acc is None:
            raise KeyError(account_id_)
        if access_level is not None and access_level not in ACCESS_LEVELS:
            raise ValueError(f"access level must be one of {', '.join(ACCESS_LEVELS)}")
        if expires_on is not None:
            date.fromisoformat(expires_on)
        doc = self.vault.get_doc(ACCOUNTS, account_id_) or {}
        doc.update(
            {
                "member_id": acc.member_id,
                "portal_host": acc.portal_host,
                "organization": acc.organization,
                "vendor": acc.vendor,
            }
        )
        if relationship is not None:
            doc["relationship"] = relationship
        if access_level is not None:
            doc["access_level"] = access_level
        if expires_on is not None:
            doc["expires_on"] = expires_on
        if clear_expiry:
            doc["expires_on"] = None
        self.vault.put_doc(ACCOUNTS, account_id_, doc)
        out = self.get_account(account_id_)
        assert out is not None
        return out

    @_locked
    def expiring(self, within_days: int = 90, today: date | None = None) -> list[Expiry]:
        today = today or date.today()
        return _expiring(self.list_accounts(today), today, within_days)

    @_locked
    def stale(self, today: date | None = None, older_than_days: int = 30) -> list[Stale]:
        today = today or date.today()
        return _stale(self.list_accounts(today), today, older_than_days)

    # ================================================================ the timeline and its views

    @_locked
    def timeline(self, q: TimelineQuery | None = None, **kwargs: Any) -> TimelinePage:
        """The merged timeline: TimelineQuery or its fields as keywords (ids of merged-away members
        are followed to the member they were merged into)."""
        return _query(self._ensure(), self._resolved(q or TimelineQuery(**kwargs)))

    def _resolved(self, q: TimelineQuery) -> TimelineQuery:
        if q.member_ids is None:
            return q
        return replace(q, member_ids={self.members.resolve(m) for m in q.member_ids})

    @_locked
    def iter_entries(self, q: TimelineQuery | None = None) -> Iterator[Entry]:
        """Every matching entry (exports): the same query without paging."""
        base = q or TimelineQuery()
        # everything at once: the full index (a partial one would decode every entry again)
        page = _query(self._full(), self._resolved(replace(base, offset=0, limit=None)))
        return iter(page.entries)

    @_locked
    def get_entry(self, entry_id: str) -> Entry | None:
        return self._ensure().get(entry_id)

    def _view(
        self, key: tuple[Any, ...], compute: Callable[[TimelineIndex], _V], member: str | None = None
    ) -> _V:
        """A view over the index, computed once per index version, or with `member` once per change
        of that member's entries (lists are copied out)."""
        index = self._ensure()
        stamp = index.stamp(member)
        hit = self._views.get(key)
        if hit is not None and hit[0] == stamp:
            value: _V = hit[1]
        else:
            value = compute(index)
            if len(self._views) > 256:
                self._views.clear()
            self._views[key] = (stamp, value)
        return cast(_V, list(value)) if isinstance(value, list) else value

    @_locked
    def trends(self, member_id: str, min_points: int = 1) -> list[Series]:
        mid = self.members.resolve(member_id)
        return self._view(
            ("trends", mid, min_points),
            lambda ix: _trends(ix.member_entries(mid, ("test_result",)), min_points),
            mid,
        )

    @_locked
    def reconcile_medications(self, member_id: str) -> list[MedGroup]:
        mid = self.members.resolve(member_id)
        return self._view(("meds", mid), lambda ix: reconcile(ix.member_entries(mid, ("medication",))), mid)

    @_locked
    def awaiting_reply(
        self,
        member_id: str | None = None,
        business_days: int = 2,
        today: date | None = None,
        holidays: Collection[date] = (),
    ) -> list[Thread]:
        mid = self.members.resolve(member_id) if member_id else None
        day = today or date.today()
        key = ("awaiting", mid, business_days, day, tuple(sorted(holidays)))
        return self._view(
            key,
            lambda ix: awaiting_reply(ix.member_entries(mid, ("message",)), day, business_days, holidays),
            mid,
        )

    @_locked
    def upcoming_appointments(
        self,
        now: datetime | None = None,
        member_ids: Collection[str] | None = None,
        duration: timedelta = timedelta(minutes=30),
    ) -> list[Upcoming]:
        prepared = self._view(
            ("appointments",), lambda ix: candidates(ix.member_entries(None, ("appointment",)))
        )
        if member_ids is not None:
            wanted = {self.members.resolve(m) for m in member_ids}
            prepared = [r for r in prepared if r[0].member_id in wanted]
        return upcoming((), now or datetime.now(), duration, prepared=prepared)

    # ================================================================ reparse

    @_locked
    def snapshot(self) -> dict[str, str]:
        """Entry id -> fingerprint of the current timeline (the baseline of a reparse report)."""
        return {e.id: fingerprint(e) for e in self._full().entries()}

    @_locked
    def save_snapshot(self, snap: dict[str, str] | None = None) -> None:
        snap = self.snapshot() if snap is None else snap
        buckets: dict[str, dict[str, str]] = {f"{i:x}": {} for i in range(16)}
        for eid, fp in snap.items():
            buckets.setdefault(eid[:1], {})[eid] = fp
        with self.vault.transaction():
            for k, v in buckets.items():
                self.vault.put_doc(SNAPSHOT, k, v)

    @_locked
    def stored_snapshot(self) -> dict[str, str] | None:
        docs = self.vault.list_docs(SNAPSHOT)
        if not docs:
            return None
        out: dict[str, str] = {}
        for v in docs.values():
            out.update({str(k): str(x) for k, x in v.items()})
        return out

    @_locked
    def after_reparse(self, before: dict[str, str] | None = None) -> ReparseReport:
        """Called once records were rebuilt from the captures: re-file every capture (the caregiver's
        answers are kept, per capture and per patient), rebuild the index, report the difference with
        `before` (else the in-memory timeline if one was built, else the snapshot stored by the last
        reparse), and store the new snapshot for the next time."""
        if before is None:
            before = self.snapshot() if self._index is not None else self.stored_snapshot()
        self.refresh()
        self._full()
        report = ReparseReport()
        changed_captures: list[str] = []
        with self.vault.transaction():
            for cid, meta in list(self._metas.items()):
                assigned = self.vault.get_doc(ASSIGNMENTS, cid)
                key = capture_patient_key(meta)
                if assigned and assigned.get("member_id") and key and assigned.get("patient_key") != key:
                    # the parser now reads this page's patient differently: the caregiver's answer
                    # for this capture also answers for the new key
                    mid = self.members.resolve(str(assigned["member_id"]))
                    if not assigned.get("only_this") and not self.vault.get_doc(PATIENT_KEYS, key):
                        self.vault.put_doc(
                            PATIENT_KEYS, key, {"member_id": mid, "confirmed": True, "source": "reparse"}
                        )
                    self.vault.put_doc(ASSIGNMENTS, cid, {**assigned, "patient_key": key})
                f = self._decide(cid, meta)
                status = "filed" if f.member_id else "unassigned"
                if meta.get("member_id") != f.member_id or meta.get("status") != status:
                    self._set_meta(cid, {**meta, "member_id": f.member_id, "status": status})
                    changed_captures.append(cid)
                if f.member_id:
                    report.captures_filed += 1
                else:
                    report.captures_unassigned += 1
        self._reindex(changed_captures)
        after = self.snapshot()
        report.entries_after = len(after)
        if before is not None:
            report.entries_before = len(before)
            report.added_ids = sorted(set(after) - set(before))
            report.removed_ids = sorted(set(before) - set(after))
            report.changed_ids = sorted(k for k in set(after) & set(before) if after[k] != before[k])
        else:
            report.entries_before = -1
            report.added_ids = sorted(after)
        report.added, report.removed, report.changed = (
            len(report.added_ids),
            len(report.removed_ids),
            len(report.changed_ids),
        )
        self.save_snapshot(after)
        return report

    @_locked
    def refresh(self) -> None:
        """Drop the in-memory index; the next read rebuilds it from the vault."""
        if self._index is not None:
            self._index.release()
        self._index = None
        self._pending = None  # a background build still running is left to finish, unused

    def close(self) -> None:
        """The vault is being locked: stop a background build (it reads on its own connection)."""
        job = self._pending
        if job is not None and job.source is not self.vault:
            job.stop()
        index = self._index
        if index is not None:
            index.release()

    # ================================================================ the index

    def _ensure(self) -> TimelineIndex:
        """The index to read: loaded from the index cache when it is current (then partial until the
        background build replaces it), else built from the records."""
        if self._index is None:
            # changes from now on go to the index, not to a followed cache (see follow_cache)
            self._cache_base = None
            if not self._load_cache():
                self._built_at = self._external_version()
                metas = self._read_metas(self.vault)
                self._index = self._index_of(metas, self.vault)
                self._metas = metas
                self._metas_version += 1
        elif self._pending is not None and self._pending.done.is_set():
            self._swap()
        assert self._index is not None
        return self._index

    def _full(self) -> TimelineIndex:
        """The index to change: a partial one is first replaced by the full build (waiting for it)."""
        index = self._ensure()
        if index.partial:
            self._swap()
            index = self._ensure()
        return index

    def _swap(self) -> None:
        """Put the background build in place of the partial index, with the metas it was built with:
        the same as those read with the cache (every change of this family waits for the swap), but
        with their strings shared (`_read_metas`): smaller than the cache's decoded ones."""
        job, self._pending = self._pending, None
        index = metas = None
        if job is not None:
            job.done.wait()
            index, metas = job.index, job.metas
        if index is None or metas is None:
            metas = self._read_metas(self.vault)
            index = self._index_of(metas, self.vault)
        old = self._index
        self._index, self._metas = index, metas
        self._metas_version += 1
        if old is not None:
            old.release()

    def _external_version(self) -> int:
        version = getattr(self.vault, "external_version", None)
        return int(version()) if version is not None else -1

    @staticmethod
    def _read_metas(vault: VaultLike) -> dict[str, dict[str, Any]]:
        memo: dict[str, str] = {}
        metas = {row.id: row.meta for row in vault.list_captures()}
        for meta in metas.values():
            share_strings(meta, memo)
        return metas

    def _index_of(self, metas: dict[str, dict[str, Any]], vault: VaultLike) -> TimelineIndex:
        with _collector_paused():
            index = TimelineIndex()
            index.load(self._all_items(metas, vault))
        return index

    # ================================================================ the index cache

    def _load_cache(self) -> bool:
        """Use the index cache if it is current; start the full build behind it."""
        read = getattr(self.vault, "read_cache", None)
        if read is None:
            return False
        try:
            built_at = self._external_version()
            stamp = self.vault.content_stamp()  # type: ignore[attr-defined]
            blob = read(index_cache.NAME)
            with _collector_paused():
                loaded = index_cache.load(blob, stamp) if blob else None
        except Exception as exc:  # a damaged cache must never keep the vault from opening
            log.warning("index cache not used (%s)", type(exc).__name__)
            return False
        if loaded is None:
            return False
        self._index, self._metas = loaded
        self._metas_version += 1
        self._cache_stamp = stamp
        self._built_at = built_at
        # Read through a connection of its own: a change waiting for this build may hold the
        # vault's lock (ingest files a capture inside its transaction).
        opener = getattr(self.vault, "reader", None)
        source: VaultLike = opener() if opener is not None else self.vault
        job = self._pending = _Build(source)

        def build() -> None:
            try:
                metas = self._read_metas(source)
                job.index = self._index_of(metas, source)
                job.metas = metas
            except Exception as exc:  # e.g. locked meanwhile: the swap then builds in the foreground
                log.warning("background index build failed (%s)", type(exc).__name__)
            finally:
                if source is not self.vault:
                    source.close()  # type: ignore[attr-defined]
                job.done.set()

        threading.Thread(target=build, name="kinchart-index", daemon=True).start()
        return True

    @_locked
    def follow_cache(self) -> bool:
        """Before changes made with no index in memory (`kinchart import`): note the index cache, if
        it is current, so that `save_cache` applies just those changes to it instead of leaving it
        out of date (and the next unlock to build the whole index). Whether there is one to follow."""
        self._cache_base = None
        read = getattr(self.vault, "read_cache", None)
        if read is None or self._index is not None:
            return False
        try:
            external = self._external_version()
            stamp = self.vault.content_stamp()  # type: ignore[attr-defined]
            blob = read(index_cache.NAME)
        except Exception as exc:  # a damaged cache is only not followed
            log.warning("index cache not followed (%s)", type(exc).__name__)
            return False
        if not blob or index_cache.stamp_of(blob) != stamp:
            return False
        self._cache_base = _CacheBase(blob, stamp, external)
        return True

    def _save_followed(self) -> bool | None:
        """`save_cache` with no index in memory: the followed cache with the changes applied (True),
        or nothing to do as it is still current (False), or None: it cannot be updated (none followed,
        or another process wrote meanwhile: what it changed is not known here)."""
        base, self._cache_base = self._cache_base, None
        if base is None or getattr(self.vault, "write_cache", None) is None:
            return None
        if self._external_version() != base.external:
            return None
        stamp: str = self.vault.content_stamp()  # type: ignore[attr-defined]
        if stamp == base.stamp:
            return False
        metas = {cid: self.vault.get_capture_meta(cid) for cid in base.changed}

        def items_of(capture_id: str) -> list[RecordItem]:
            meta = metas.get(capture_id)
            return self._items_for(
                capture_id, self.vault.get_capture_meta(capture_id) if meta is None else meta
            )

        with _collector_off():  # decoding the cache's lists: see _collector_paused
            blob = index_cache.update(base.blob, base.stamp, stamp, metas, items_of)
        if blob is None:
            return None
        self.vault.write_cache(index_cache.NAME, blob)  # type: ignore[attr-defined]
        self._cache_stamp = stamp
        return True

    def _cache_is_current(self) -> bool:
        try:
            blob = self.vault.read_cache(index_cache.NAME)  # type: ignore[attr-defined]
            return bool(blob) and index_cache.stamp_of(blob) == self.vault.content_stamp()  # type: ignore[attr-defined]
        except Exception:  # damaged: not current
            return False

    @_locked
    def save_cache(self, build: bool = False) -> bool:
        """Write the index cache (at lock time: the next unlock reads it instead of every record),
        unless it is already current or the index is not (built, and nothing wrote since). With no
        index in memory, the cache followed since `follow_cache` is updated with what changed; if
        there is none to update, `build` (the command line, after changing the vault) builds the
        index to write the cache, unless the one on disk is current."""
        if self._index is None:
            followed = self._save_followed()
            if followed is not None:
                return followed
            if not build or getattr(self.vault, "write_cache", None) is None or self._cache_is_current():
                return False
            self._full()
        if (
            getattr(self.vault, "write_cache", None) is None
            or self._index is None
            or self._index.partial
            or self._external_version() != self._built_at
        ):
            return False
        stamp: str = self.vault.content_stamp()  # type: ignore[attr-defined]
        if stamp == self._cache_stamp:
            return False
        self.vault.write_cache(index_cache.NAME, index_cache.dump(self._index, self._metas, stamp))  # type: ignore[attr-defined]
        self._cache_stamp = stamp
        return True

    @_locked
    def wait_full(self) -> None:
        """Until the full index is in place (tests, benchmarks, exports of everything)."""
        self._full()

    @property
    def index_in_memory(self) -> bool:
        """Whether a timeline index (partial or full) is in memory or being built for this family."""
        return self._index is not None or self._pending is not None

    @property
    def from_cache(self) -> bool:
        """Whether the index in use was read from the index cache (until the full build replaces it)."""
        return self._index is not None and self._index.partial

    def _filed_member(self, meta: dict[str, Any]) -> str | None:
        mid = meta.get("member_id")
        if meta.get("status") != "filed" or not isinstance(mid, str):
            return None
        return mid

    def _all_items(self, metas: dict[str, dict[str, Any]], vault: VaultLike) -> Iterator[RecordItem]:
        sets = getattr(vault, "iter_record_sets", None)
        if sets is None:  # a vault without batch reads (test doubles)
            yield from self._all_items_by_row(metas, vault)
            return
        ordinals: dict[str, int] = {}
        memo: dict[str, str] = {}
        for cid, first, records in sets():
            meta = metas.get(cid)
            if meta is None:
                continue
            base = ordinals.get(cid, 0)
            ordinals[cid] = base + len(records)
            mid = self._filed_member(meta)
            if mid is None:
                continue
            pf = tuple(_str(meta.get(k)) for k in _PROV_FIELDS)  # provenance fields, once per capture
            at = instant(pf[-1])
            for n, data in enumerate(records, base):
                rid = first + n - base
                share_strings(data, memo)
                kind = data.get("kind")
                yield RecordItem(
                    rid,
                    cid,
                    n,
                    mid,
                    data,
                    Provenance(cid, rid, *pf),
                    kind if isinstance(kind, str) and kind else "document",
                    (at, cid, n),
                )

    def _all_items_by_row(self, metas: dict[str, dict[str, Any]], vault: VaultLike) -> Iterator[RecordItem]:
        ordinals: dict[str, int] = {}
        fields: dict[str, dict[str, str | None]] = {}  # provenance fields, once per capture
        for row in vault.iter_records():
            cid = row.capture_id
            meta = metas.get(cid)
            if meta is None:
                continue
            mid = self._filed_member(meta)
            n = ordinals.get(cid, 0)
            ordinals[cid] = n + 1
            if mid is None:
                continue
            pf = fields.get(cid)
            if pf is None:
                pf = fields[cid] = _prov_fields(meta)
            yield make_item(
                record_id=row.id,
                capture_id=cid,
                ordinal=n,
                member_id=mid,
                data=row.data,
                prov=Provenance(capture_id=cid, record_id=row.id, **pf),
            )

    def _items_for(self, capture_id: str, meta: dict[str, Any] | None = None) -> list[RecordItem]:
        if meta is None:
            meta = self._metas.get(capture_id, {})
        mid = self._filed_member(meta)
        if mid is None:
            return []
        return [
            make_item(
                record_id=r.id,
                capture_id=capture_id,
                ordinal=n,
                member_id=mid,
                data=r.data,
                prov=_provenance(capture_id, r.id, meta),
            )
            for n, r in enumerate(self.vault.records_for(capture_id))
        ]

    def _set_meta(self, capture_id: str, meta: dict[str, Any], current: dict[str, Any] | None = None) -> None:
        """Write a capture's meta (only when it changes) and keep the in-memory copy."""
        if self._index is None and self._cache_base is not None:
            self._cache_base.changed.add(capture_id)
        old = current if current is not None else self._metas.get(capture_id)
        self._metas[capture_id] = meta
        self._metas_version += 1
        if old != meta:
            self.vault.set_capture_meta(capture_id, meta)

    def _reindex(self, capture_ids: list[str]) -> None:
        if self._index is None:
            return
        for cid in dict.fromkeys(capture_ids):
            if cid not in self._metas:
                self._metas[cid] = self.vault.get_capture_meta(cid)
                self._metas_version += 1
            self._index.set_capture(cid, self._items_for(cid))
