"""The ingest path stores the raw capture in a worker thread while it parses the page
(`Vault.put_capture_while`): the capture must still be committed before, and whatever happens to, the
parse and the records, the bulk import must keep its batches, and no arrangement of threads, locks and
transactions may deadlock."""

from __future__ import annotations

import concurrent.futures
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import bridge.ingest
import bridge.parsers.budget
from bridge.family import Family
from bridge.ingest import ingest, ingest_many
from bridge.vault import KdfParams, Vault, VaultError
from bridge.vault import vault as vault_module

PASS = "correct horse battery staple"


@pytest.fixture(params=["beside", "sequential"])
def vault(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[Vault]:
    """A vault storing every capture beside the parse, or (as it does small ones) before it."""
    monkeypatch.setattr(vault_module, "STORE_BESIDE_ABOVE", 0 if request.param == "beside" else 2**62)
    v = Vault.create(tmp_path / "vault", PASS, KdfParams.fast())
    yield v
    v.close()


@pytest.fixture
def beside(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Vault]:
    """A vault storing every capture beside the parse."""
    monkeypatch.setattr(vault_module, "STORE_BESIDE_ABOVE", 0)
    v = Vault.create(tmp_path / "vault", PASS, KdfParams.fast())
    yield v
    v.close()


def page(n: int, size: int = 0) -> dict[str, Any]:
    url = f"https://portal.unknown.example/letters/{n}"
    html = f"<html><body><main><h1>Letter {n}</h1><p>A synthetic note.</p>{'<p>filler</p>' * size}</main></body></html>"
    return {"url": url, "title": f"Letter {n}", "frames": [{"url": url, "html": html}]}


def committed(vault: Vault) -> dict[str, dict[str, Any]]:
    """What another connection (another process) sees: only committed data."""
    other = Vault.open(vault.path)
    try:
        other.unlock(PASS)
        return {
            row.id: {"meta": row.meta, "records": other.records_for(row.id)} for row in other.list_captures()
        }
    finally:
        other.close()


def in_time(fn: Any, seconds: float = 30) -> Any:
    """fn() in a thread: a deadlock fails the test instead of hanging it."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(fn).result(timeout=seconds)


class Crash(BaseException):
    """Beyond parse_capture's own last resort (which catches Exception), like a KeyboardInterrupt."""


def test_a_capture_whose_parse_crashes_is_stored_and_committed(
    vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(capture: dict[str, Any]) -> Any:
        raise Crash

    monkeypatch.setattr(bridge.ingest, "parse_capture", crash)
    capture = page(1)
    with pytest.raises(Crash):
        ingest(vault, capture, Family(vault))
    capture_id = vault.capture_hash(capture)
    seen = committed(vault)
    assert list(seen) == [capture_id]
    assert seen[capture_id] == {"meta": {}, "records": []}
    monkeypatch.undo()
    receipt = ingest(vault, capture, Family(vault))  # saved again: its parse is done now
    assert (receipt.capture_id, receipt.duplicate, receipt.parser) == (capture_id, True, "generic")
    assert committed(vault)[capture_id]["meta"]["parser"] == "generic"


def test_a_parser_bug_keeps_the_capture_with_its_error(vault: Vault, monkeypatch: pytest.MonkeyPatch) -> None:
    def bug(page: Any) -> Any:
        raise ZeroDivisionError("synthetic parser bug")

    monkeypatch.setattr(bridge.parsers.budget, "parse_page", bug)
    receipt = ingest(vault, page(2), Family(vault))
    assert receipt.error == "ZeroDivisionError: synthetic parser bug"
    seen = committed(vault)[receipt.capture_id]
    assert seen["meta"]["error"] == receipt.error
    assert [r.kind for r in seen["records"]] == ["document"]


def test_a_capture_whose_records_fail_to_store_is_stored_and_committed(
    vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(self: Vault, capture_id: str, records: list[dict[str, Any]]) -> list[int]:
        raise VaultError("The vault database could not be read or written (database or disk is full).")

    monkeypatch.setattr(Vault, "replace_records", disk_full)
    capture = page(3)
    with pytest.raises(VaultError):
        ingest(vault, capture, Family(vault))
    seen = committed(vault)
    assert seen == {vault.capture_hash(capture): {"meta": {}, "records": []}}
    assert vault.get_capture(vault.capture_hash(capture)) == capture


def test_the_page_is_parsed_while_it_is_stored(beside: Vault, monkeypatch: pytest.MonkeyPatch) -> None:
    vault = beside
    storing, parsed = threading.Event(), threading.Event()
    seal = Vault._seal_capture

    def slow_seal(*args: Any) -> tuple[bytes, bytes]:
        storing.set()
        assert parsed.wait(10), "the parse did not go on while the capture was being stored"
        return seal(*args)

    def parse() -> str:
        assert storing.wait(10), "the capture was not being stored while the page was parsed"
        parsed.set()
        return "parsed"

    monkeypatch.setattr(Vault, "_seal_capture", staticmethod(slow_seal))
    capture_id, duplicate, done = in_time(lambda: vault.put_capture_while(page(4), parse))
    assert (duplicate, done) == (False, "parsed")
    assert capture_id in committed(vault)


def test_an_error_storing_the_capture_wins_over_the_works(
    vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(self: Vault, capture_id: str, sealed: tuple[bytes, bytes]) -> bool:
        raise VaultError("The vault could not use /nowhere: No space left on device.")

    def work() -> None:
        raise RuntimeError("the work failed too")

    monkeypatch.setattr(Vault, "_insert_capture", fail)
    with pytest.raises(VaultError):
        vault.put_capture_while(page(5), work)  # (small captures: stored before the work is done)
    with pytest.raises(VaultError):
        vault.put_capture_while(page(5), lambda: "fine")
    assert committed(vault) == {}


def test_work_is_not_done_for_a_capture_already_stored(vault: Vault) -> None:
    capture_id, duplicate = vault.put_capture(page(6))
    assert duplicate is False
    calls: list[int] = []
    assert vault.put_capture_while(page(6), lambda: calls.append(1)) == (capture_id, True, None)
    assert calls == []


def test_inside_a_transaction_the_capture_is_part_of_it(vault: Vault) -> None:
    def rolled_back() -> None:
        with pytest.raises(RuntimeError), vault.transaction():
            receipt = ingest(vault, page(7), Family(vault))
            assert vault.has_capture(receipt.capture_id)
            raise RuntimeError("the caller's transaction fails")

    in_time(rolled_back)
    assert vault.list_captures() == []
    assert committed(vault) == {}

    def kept() -> str:
        with vault.transaction():
            receipt = ingest(vault, page(8), Family(vault))
            assert committed(vault) == {}  # not before the caller's transaction commits
        return receipt.capture_id

    kept_id = in_time(kept)
    assert list(committed(vault)) == [kept_id]


def test_bulk_import_keeps_its_batches(vault: Vault) -> None:
    statements: list[str] = []
    vault._conn().set_trace_callback(statements.append)
    receipts: list[Any] = []
    in_time(
        lambda: ingest_many(
            vault, [page(n, size=n * 50) for n in range(7)], Family(vault), 3, receipts.append
        )
    )
    vault._conn().set_trace_callback(None)
    assert [s for s in statements if s in ("BEGIN IMMEDIATE", "COMMIT")] == ["BEGIN IMMEDIATE", "COMMIT"] * 3
    assert len(receipts) == 7
    seen = committed(vault)
    assert {r.capture_id for r in receipts} == set(seen)
    assert all(s["meta"]["parser"] == "generic" for s in seen.values())


def test_a_busy_pool_never_makes_a_save_wait_for_it(beside: Vault) -> None:
    """Both store workers held up: the store is done in the saving thread itself, not queued behind."""
    vault = beside
    release = threading.Event()
    vault.put_capture(page(9))  # (the pool exists once a capture has been stored beside work)
    vault.put_capture_while(page(10), lambda: None)
    pool = vault_module._store_pool
    assert pool is not None
    blockers = [pool.submit(release.wait, 30) for _ in range(2)]
    time.sleep(0.1)
    try:
        capture_id, duplicate, done = in_time(lambda: vault.put_capture_while(page(11), lambda: "parsed"), 10)
        assert (duplicate, done) == (False, "parsed")
        assert capture_id in committed(vault)
    finally:
        release.set()
        for b in blockers:
            b.result(timeout=10)


def test_another_threads_transaction_is_waited_for(vault: Vault) -> None:
    """A save from one thread while another holds a transaction: the store waits for it, then commits."""
    inside, finish = threading.Event(), threading.Event()

    def holder() -> None:
        with vault.transaction():
            vault.put_doc("settings", "x", {"y": 1})
            inside.set()
            finish.wait(10)

    t = threading.Thread(target=holder)
    t.start()
    try:
        assert inside.wait(10)
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            saving = pool.submit(lambda: ingest(vault, page(12), Family(vault)))
            time.sleep(0.2)
            assert not saving.done()
            finish.set()
            receipt = saving.result(timeout=30)
    finally:
        finish.set()
        t.join(10)
    assert receipt.capture_id in committed(vault)


def test_capture_rows_are_what_put_capture_always_wrote(vault: Vault) -> None:
    """The same columns, readable by the same code, with the id of the canonical JSON."""
    capture = {**page(13), "captured_at": "2026-11-25T09:00:00Z", "extension_version": "1"}
    capture_id, _ = vault.put_capture(capture)
    assert capture_id == vault.capture_hash(capture)
    assert vault.get_capture(capture_id) == capture
    odd = {"url": "https://portal.unknown.example/odd", "frames": [{"html": "<p>no frame url</p>", "x": 1}]}
    odd_id, _ = vault.put_capture(odd)
    assert odd_id == vault.capture_hash(odd)
    assert vault.get_capture(odd_id) == odd
    with sqlite3.connect(vault.db_path) as conn:
        assert conn.execute("SELECT count(*) FROM captures").fetchone()[0] == 2


def test_small_captures_are_stored_before_the_work_big_ones_beside_it(tmp_path: Path) -> None:
    with Vault.create(tmp_path / "vault", PASS, KdfParams.fast()) as vault:
        threads: list[str] = []
        seal = Vault._seal_capture

        def noting(*args: Any) -> tuple[bytes, bytes]:
            threads.append(threading.current_thread().name)
            return seal(*args)

        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(Vault, "_seal_capture", staticmethod(noting))
            here = threading.current_thread().name
            small = page(20, size=10)
            assert vault.put_capture_while(small, lambda: vault.has_capture(vault.capture_hash(small)))[2]
            big = page(21, size=vault_module.STORE_BESIDE_ABOVE // 10)
            vault.put_capture_while(big, lambda: None)
        assert threads[0] == here
        assert threads[1].startswith("kinchart-store")
