"""The timeline index cache (bridge/family/index_cache.py): a vault unlocked from its cache answers
exactly as one built from every record, is used only while it is current, never stops a vault from
opening when it is damaged or foreign, and is written when the bridge locks.

The family is the benchmark's synthetic one (bench/synth.py), scaled down: results seen on several
pages (merged, with history), messages, appointments, medications, five members, four systems."""

from __future__ import annotations

import asyncio
import gc
import importlib.util
import sys
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from bridge_helpers import capture

from bridge.config import ServerConfig
from bridge.family import Family, index_cache
from bridge.ingest import ingest
from bridge.server.state import BridgeState
from bridge.vault import Vault

BENCH = Path(__file__).resolve().parents[1] / "bench"


def _synth() -> ModuleType:
    sys.path.insert(0, str(BENCH))  # synth imports bench/_common.py
    try:
        spec = importlib.util.spec_from_file_location("kinchart_bench_synth", BENCH / "synth.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCH))


SYNTH = _synth()
TODAY = date(2026, 11, 25)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("synth") / "vault"
    SYNTH.build(path, records=3000, captures=600).close()
    return path


@pytest.fixture
def vault(built: Path, tmp_path: Path) -> Iterator[Vault]:
    """A fresh copy of the synthetic vault for each test (the cache file is not in the copy)."""
    copy = tmp_path / "vault"
    copy.mkdir()
    (copy / "kinchart.db").write_bytes((built / "kinchart.db").read_bytes())
    v = Vault.open(copy)
    v.unlock(SYNTH.PASSPHRASE)
    yield v
    v.close()


def answers(f: Family) -> dict[str, Any]:
    """Everything the dashboard and the exports read from the index."""
    members = f.list_members()
    out: dict[str, Any] = {
        "newest": [e.to_dict() for e in f.timeline(limit=50).entries],
        "search": [e.id for e in f.timeline(text="potassium", limit=None).entries],
        "upcoming": f.upcoming_appointments(now=datetime(2020, 1, 1)),
        "unassigned": f.unassigned(),
        "accounts": f.list_accounts(TODAY),
    }
    for m in members:  # (the views are frozen dataclasses: compared field by field, entries included)
        out[m.id] = {
            "page": [e.to_dict() for e in f.timeline(member_ids=[m.id], limit=50, offset=50).entries],
            "trends": f.trends(m.id),
            "meds": f.reconcile_medications(m.id),
            "awaiting": f.awaiting_reply(m.id, today=TODAY),
        }
    out["all"] = [e.to_dict() for e in f.iter_entries()]
    return out


def relock(v: Vault) -> None:
    v.lock()
    v.unlock(SYNTH.PASSPHRASE)


def test_unlock_from_the_cache_answers_as_the_records_do(vault: Vault) -> None:
    first = Family(vault)
    expected = answers(first)
    assert len(expected["all"]) > 2000 and any(e["history"] for e in expected["all"])
    assert first.save_cache() is True
    assert first.save_cache() is False  # already current: not written again
    relock(vault)
    cached = Family(vault)
    cached.list_members()
    page = cached.timeline(limit=50)
    assert cached.from_cache, "the second unlock must read the cache"
    assert [e.to_dict() for e in page.entries] == expected["newest"]
    assert answers(cached) == expected
    cached.wait_full()
    assert not cached.from_cache
    assert answers(cached) == expected


def test_a_cache_made_before_any_change_is_not_used(vault: Vault) -> None:
    family = Family(vault)
    member = family.list_members()[0]
    family.timeline(limit=1)
    family.save_cache()
    # another process (`kinchart import`) adds a capture and files it
    other = Vault.open(vault.path)
    other.unlock(SYNTH.PASSPHRASE)
    other_family = Family(other)
    receipt = ingest(other, capture("<main><p>A synthetic letter about a knee.</p></main>"), other_family)
    other_family.assign(receipt.capture_id, member.id)
    other.close()
    relock(vault)
    fresh = Family(vault)
    hits = fresh.timeline(text="knee", limit=None)
    assert not fresh.from_cache
    assert hits.total == 1
    assert answers(fresh) == answers(Family(vault))


def test_a_change_while_reading_from_the_cache_waits_for_the_full_index(vault: Vault) -> None:
    first = Family(vault)
    first.timeline(limit=1)
    first.save_cache()
    member = first.list_members()[2]
    relock(vault)
    cached = Family(vault)
    cached.timeline(limit=1)
    assert cached.from_cache
    receipt = ingest(vault, capture("<main><p>A synthetic note on an ankle.</p></main>"), cached)
    cached.assign(receipt.capture_id, member.id)
    assert not cached.from_cache
    assert cached.timeline(text="ankle", member_ids=[member.id], limit=None).total == 1
    assert answers(cached) == answers(Family(vault))
    assert cached.save_cache() is True  # the cache follows the change


@pytest.mark.parametrize("damage", ["flipped byte", "truncated", "another vault's", "other code"])
def test_a_damaged_or_foreign_cache_is_ignored(
    vault: Vault, damage: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = Family(vault)
    expected = answers(first)
    first.save_cache()
    path = vault.cache_path(index_cache.NAME)
    blob = path.read_bytes()
    if damage == "flipped byte":
        path.write_bytes(blob[:500] + bytes([blob[500] ^ 1]) + blob[501:])
    elif damage == "truncated":
        path.write_bytes(blob[: len(blob) // 2])
    elif damage == "another vault's":
        SYNTH.build(tmp_path / "other", records=200, captures=40).close()
        other = Vault.open(tmp_path / "other")
        other.unlock(SYNTH.PASSPHRASE)
        other_family = Family(other)
        other_family.timeline(limit=1)
        other_family.save_cache()
        other.close()
        path.write_bytes(other.cache_path(index_cache.NAME).read_bytes())
    else:
        monkeypatch.setattr(index_cache, "code_stamp", lambda: "0" * 32)
    relock(vault)
    fresh = Family(vault)
    assert answers(fresh) == expected
    assert not fresh.from_cache


def test_the_cache_is_sealed(vault: Vault) -> None:
    family = Family(vault)
    family.timeline(limit=1)
    family.save_cache()
    raw = vault.cache_path(index_cache.NAME).read_bytes()
    # (strings of 8 bytes or more: a shorter one turns up in that much ciphertext by chance)
    for name, *_ in SYNTH.MEMBERS:
        assert name.encode() not in raw
    for word in (b"Potassium", b"occurred_at", b"test_result", b"captured_at"):
        assert word not in raw


@pytest.fixture
def state(vault: Vault) -> Iterator[BridgeState]:
    """The running bridge's state over the synthetic vault, unlocked."""
    vault.close()
    bridge = BridgeState(ServerConfig(vault_dir=vault.path, port=1, passphrase=SYNTH.PASSPHRASE))
    yield bridge
    if bridge.vault is not None:
        bridge.vault.close()


def test_locking_the_bridge_writes_the_cache_the_next_unlock_reads(state: BridgeState) -> None:
    assert state.vault is not None
    path = state.vault.path
    family = state.family
    assert family is not None
    before = family.timeline(limit=50)
    asyncio.run(state.lock_keeping_index())
    assert not state.unlocked
    assert (path / "timeline.cache").exists()
    state.unlock(SYNTH.PASSPHRASE)
    family = state.family
    assert family is not None
    assert [e.to_dict() for e in family.timeline(limit=50).entries] == [e.to_dict() for e in before.entries]
    assert family.from_cache
    family.wait_full()


def test_no_cache_is_written_over_a_change_the_bridge_has_not_seen(state: BridgeState) -> None:
    assert state.vault is not None
    path = state.vault.path
    family = state.family
    assert family is not None
    family.timeline(limit=1)
    other = Vault.open(path)
    other.unlock(SYNTH.PASSPHRASE)
    ingest(other, capture("<main><p>A synthetic letter about a wrist.</p></main>"), Family(other))
    other.close()
    asyncio.run(state.lock_keeping_index())  # the in-memory index predates that write
    assert not (path / "timeline.cache").exists()


def test_unlocking_again_and_again_leaves_nothing_behind(vault: Vault) -> None:
    """The partial index and its cache chunks refer to each other; they are frozen out of the
    collector's reach (gc.freeze), so without `release` each unlock would leak them for good."""
    first = Family(vault)
    first.timeline(limit=1)
    first.save_cache()

    def cycle() -> int:
        relock(vault)
        family = Family(vault)
        family.trends(family.list_members()[0].id)  # decodes some chunks, leaves others
        assert family.from_cache
        family.wait_full()
        family.close()
        del family
        gc.collect()
        return gc.get_freeze_count()

    cycle()
    base = cycle()
    for _ in range(3):
        after = cycle()
    assert after - base < 500, (base, after)


def _store_page(v: Vault, copy_of: str, n: int, when: str, change: bool) -> str:
    """A synthetic page of the same patient with the records of capture `copy_of` (so they merge
    with the entries on the timeline), a value changed when `change` (a new version), stored the way
    ingest stores a parsed page."""
    meta = v.get_capture_meta(copy_of)
    records = [dict(r.data) for r in v.records_for(copy_of)]
    if change:
        for r in records:
            r["status"] = "corrected" if r.get("kind") == "test_result" else "resolved"
            r["comments"] = "A synthetic correction."
    url = f"{meta['url']}&again={n}"
    cid, _ = v.put_capture(
        {
            "url": url,
            "title": meta.get("title"),
            "captured_at": when,
            "frames": [{"url": url, "html": f"<main><p>synthetic page {n}</p></main>"}],
            "extension_version": "test",
        }
    )
    v.replace_records(cid, records)
    v.set_capture_meta(cid, {**meta, "url": url, "captured_at": when, "member_id": None, "status": None})
    return cid


def test_an_import_files_without_the_index_and_updates_the_cache_exactly(vault: Vault) -> None:
    first = Family(vault)
    first.timeline(limit=1)
    assert first.save_cache() is True
    filed = [row.id for row in vault.list_captures() if row.meta.get("status") == "filed"]
    relock(vault)
    importer = Family(vault)  # as `kinchart import`: follow the cache, file, keep the cache
    assert importer.follow_cache() is True
    with importer.exclusive(), vault.transaction():
        new = [
            _store_page(vault, filed[0], 1, "2026-11-20T10:00:00Z", change=False),  # more sources
            _store_page(vault, filed[1], 2, "2026-11-21T10:00:00Z", change=True),  # a new version
            _store_page(vault, filed[2], 3, "2015-01-01T10:00:00Z", change=True),  # an older one
        ]
        filings = [importer.file_capture(cid) for cid in new]
        # an existing capture re-parsed with other records (its groups lose and gain entries)
        vault.replace_records(
            filed[3], [dict(r.data, note="synthetic re-read") for r in vault.records_for(filed[3])]
        )
        importer.file_capture(filed[3])
    assert [f.member_id for f in filings] == [vault.get_capture_meta(c)["member_id"] for c in filed[:3]]
    assert not importer.index_in_memory, "filing one page must not build (or load) the timeline index"
    assert importer.save_cache() is True
    assert not importer.index_in_memory
    assert index_cache.stamp_of(vault.read_cache(index_cache.NAME) or b"") == vault.content_stamp()
    relock(vault)
    cached = Family(vault)
    cached.timeline(limit=1)
    assert cached.from_cache, "the updated cache must be current for the next unlock"
    from_cache = answers(cached)
    cached.wait_full()
    assert not cached.from_cache
    assert from_cache == answers(cached)

    def captures_of(e: dict[str, Any]) -> set[str]:
        return {p["capture_id"] for p in e["sources"]} | {
            p["capture_id"] for h in e["history"] for p in h["sources"]
        }

    merged = [e for e in from_cache["all"] if captures_of(e) & set(new) and captures_of(e) - set(new)]
    assert any(e["history"] for e in merged), "the imported pages merge with entries on the timeline"


def test_a_write_by_another_process_during_an_import_voids_the_cache_update(vault: Vault) -> None:
    first = Family(vault)
    first.timeline(limit=1)
    first.save_cache()
    member = first.list_members()[0]
    filed = [row.id for row in vault.list_captures() if row.meta.get("status") == "filed"]
    relock(vault)
    importer = Family(vault)
    assert importer.follow_cache() is True
    with importer.exclusive(), vault.transaction():
        importer.file_capture(_store_page(vault, filed[0], 1, "2026-11-20T10:00:00Z", change=True))
    other = Vault.open(vault.path)
    other.unlock(SYNTH.PASSPHRASE)
    other_family = Family(other)
    receipt = ingest(other, capture("<main><p>A synthetic letter about a wrist.</p></main>"), other_family)
    other_family.assign(receipt.capture_id, member.id)
    other.close()
    assert importer.save_cache() is False
    relock(vault)
    fresh = Family(vault)
    assert fresh.timeline(text="wrist", limit=None).total == 1
    assert not fresh.from_cache
