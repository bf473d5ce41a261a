"""Reparse is one service (bridge.reparse) behind `kinchart reparse` and the dashboard's button, and a
large reparse does not stall the bridge: the extension's saves keep being acknowledged while it runs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer, unused_port
from api_client import ApiClient, apair
from bridge_helpers import PASSPHRASE, capture, make_config
from dashboard_client import DashboardClient

from bridge.family import Family
from bridge.ingest import ingest
from bridge.reparse import reparse
from bridge.server import init_app
from bridge.server.pairing import Pairing
from bridge.server.state import STATE
from bridge.vault import KdfParams, Vault

PAGES = 40  # enough that parsing them all takes far longer than one save


def _page(i: int) -> dict[str, object]:
    rows = "".join(
        f"<tr><td>2025-{1 + j % 12:02d}-{1 + j % 28:02d}</td><td>Synthetic note {i}.{j}</td></tr>"
        for j in range(1500)
    )
    return capture(f"<main><h1>Notes {i}</h1><table>{rows}</table></main>", url=f"https://p.example/n/{i}")


def test_the_service_rebuilds_records_and_reports_the_timeline(tmp_path: Path) -> None:
    vault = Vault.create(tmp_path / "vault", PASSPHRASE, KdfParams.fast())
    try:
        family = Family(vault)
        for i in range(3):
            ingest(vault, capture(f"<main><h1>Letter {i}</h1><p>Synthetic.</p></main>"), family)
        done: list[None] = []
        outcome = reparse(vault, family, progress=lambda: done.append(None))
        assert len(done) == 3
        assert outcome.counts == {"captures": 3, "changed": 0, "unchanged": 3, "failed": 0, "damaged": 0}
        assert (outcome.timeline.added, outcome.timeline.removed, outcome.timeline.changed) == (0, 0, 0)
    finally:
        vault.close()


@pytest.fixture
async def bridge(
    tmp_path: Path,
) -> AsyncIterator[tuple[DashboardClient, ApiClient, aiohttp.ClientSession, str]]:
    folder = tmp_path / "vault"
    vault = Vault.create(folder, PASSPHRASE, KdfParams.fast())
    family = Family(vault)
    for i in range(PAGES):
        ingest(vault, _page(i), family)
    vault.close()
    port = unused_port()
    app = init_app(make_config(folder, port))
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    base = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        dashboard = DashboardClient(session, port)
        await dashboard.login(PASSPHRASE)
        await dashboard.get("/captures")  # the family model is built, the CSRF token read
        assert app[STATE].vault is not None
        api = await apair(session, base, Pairing(folder).new_code())
        yield dashboard, api, session, base
    await server.close()


async def test_saves_are_acknowledged_while_a_large_reparse_runs(
    bridge: tuple[DashboardClient, ApiClient, aiohttp.ClientSession, str],
) -> None:
    dashboard, api, session, base = bridge
    started = time.monotonic()
    running = asyncio.ensure_future(dashboard.post("/reparse", {}, follow=False))
    await asyncio.sleep(0.3)  # the reparse is under way in its worker thread
    took: list[float] = []
    for i in range(3):
        sent = time.monotonic()
        status, body = await api.acall(
            session,
            base,
            "POST",
            "/api/captures",
            capture(f"<main><h1>New letter {i}</h1><p>Synthetic.</p></main>", url=f"https://p.example/l/{i}"),
            timeout=aiohttp.ClientTimeout(total=30),
        )
        took.append(time.monotonic() - sent)
        assert status == 201, body
    # (with the reparse on the event loop, the saves were only answered once it had ended)
    assert not running.done(), "the saves were answered only after the reparse"
    status, page, _ = await asyncio.wait_for(running, 120)
    reparse_took = time.monotonic() - started
    assert status == 200
    assert f"Reparsed {PAGES} saved pages" in page  # the dashboard's report, worded as before
    # each save was answered between two captures of the reparse, not after all of them
    assert max(took) < reparse_took / 2, (took, reparse_took)
