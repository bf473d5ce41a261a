"""Crash safety: a bulk import of 1,000 captures through the HTTP API, the bridge killed with SIGKILL
at 20 random moments. After every restart each acknowledged capture is present and decrypts, the
database passes `PRAGMA integrity_check`, and resuming the import makes no duplicates."""

from __future__ import annotations

import random
import sqlite3
import threading
from pathlib import Path

import pytest
from live_bridge import PASSPHRASE, LiveBridge

from bridge.vault import Vault

N_CAPTURES = 1000
N_KILLS = 20


def synthetic_capture(i: int) -> dict[str, object]:
    url = f"https://portal.unknown.example/letters/{i}"
    html = f"<html><body><main><h1>Letter {i}</h1><p>Synthetic note number {i} about a routine visit.</p></main></body></html>"
    return {"url": url, "title": f"Letter {i}", "frames": [{"url": url, "html": html}]}


def check_vault(vault_dir: Path, acked: dict[int, str]) -> int:
    with sqlite3.connect(vault_dir / "kinchart.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    vault = Vault.open(vault_dir)
    try:
        vault.unlock(PASSPHRASE)
        stored = {row.id for row in vault.list_captures()}
        for i, capture_id in acked.items():
            assert capture_id in stored, f"acknowledged capture {i} lost"
            assert vault.get_capture(capture_id)["url"].endswith(f"/{i}")
        return len(stored)
    finally:
        vault.close()


@pytest.mark.slow
def test_sigkill_during_bulk_import_loses_nothing(tmp_path: Path) -> None:
    rng = random.Random(20261125)
    bridge = LiveBridge(tmp_path).start()
    token = bridge.pair()
    acked: dict[int, str] = {}
    kills = 0
    i = 0
    try:
        while i < N_CAPTURES:
            killer = None
            if kills < N_KILLS:
                delay = rng.uniform(0.01, 0.25)
                killer = threading.Timer(delay, bridge.kill)
                killer.start()
            try:
                while i < N_CAPTURES:
                    status, receipt = bridge.request(
                        "POST", "/api/captures", synthetic_capture(i), token=token
                    )
                    assert status in (200, 201), receipt
                    acked[i] = receipt["capture_id"]
                    i += 1
                    if killer is not None and not killer.is_alive():
                        break
            except OSError:
                pass  # the bridge died mid-request: this capture was not acknowledged
            if killer is not None:
                killer.join()
                if bridge.proc is not None and bridge.proc.poll() is not None:
                    kills += 1
                    count = check_vault(bridge.vault_dir, acked)
                    assert count in (len(acked), len(acked) + 1)  # at most the one in flight
                    bridge.start()
        assert kills == N_KILLS
    finally:
        bridge.stop()
    assert check_vault(bridge.vault_dir, acked) == N_CAPTURES  # resumed without duplicates
    assert len(set(acked.values())) == N_CAPTURES
