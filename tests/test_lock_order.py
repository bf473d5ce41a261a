"""The one lock order (the family's before the vault's) and the event loop kept free of blocking work.

The bridge froze when a capture being filed held the vault's lock and asked for the family's while a
dashboard page, on the event loop, held the family's and asked for the vault's. These tests pin the
two halves of the fix: the inversion is refused at once (never a hang), and a page that has to wait
for the family no longer stops the loop, so the extension's ping and the idle lock still run."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer, unused_port
from bridge_helpers import CLIENT, PASSPHRASE, capture, make_config
from dashboard_client import DashboardClient

from bridge.family import Family, LockOrderError
from bridge.ingest import ingest
from bridge.server import init_app
from bridge.server.state import STATE, BridgeState
from bridge.vault import Vault


@pytest.fixture
def vault(tmp_path: Path) -> Vault:
    return Vault.create(tmp_path / "vault", PASSPHRASE)


def test_family_call_inside_a_vault_transaction_is_refused_not_hung(vault: Vault) -> None:
    family = Family(vault)
    with vault.transaction(), pytest.raises(LockOrderError):
        family.list_members()
    # taking the family's lock first is the documented order, and works
    with family.exclusive(), vault.transaction():
        assert family.list_members() == []


def test_ingest_files_while_another_thread_holds_the_family_and_reads_the_vault(vault: Vault) -> None:
    """The interleaving that deadlocked: a dashboard thread holds the family's lock and then reads the
    vault, while a save is stored and filed. Both must finish."""
    family = Family(vault)
    holding = threading.Event()
    release = threading.Event()
    done: list[str] = []

    def dashboard() -> None:
        with family.exclusive():
            holding.set()
            release.wait(5)
            family.list_members()
            vault.capture_count()
        done.append("page")

    def save() -> None:
        ingest(vault, capture("<main><h1>Letter</h1><p>Synthetic text.</p></main>"), family)
        done.append("save")

    page = threading.Thread(target=dashboard)
    page.start()
    holding.wait(5)
    saver = threading.Thread(target=save)
    saver.start()
    time.sleep(0.2)  # the save is stored and now waits for the family
    release.set()
    page.join(10)
    saver.join(10)
    assert sorted(done) == ["page", "save"]
    assert vault.capture_count() == 1


class Served:
    def __init__(
        self, client: DashboardClient, session: aiohttp.ClientSession, base: str, state: BridgeState
    ):
        self.client, self.session, self.base, self.state = client, session, base, state


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    port = unused_port()
    app = init_app(make_config(tmp_path / "vault", port))
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        client = DashboardClient(session, port)
        await client.login(PASSPHRASE)
        yield Served(client, session, f"http://127.0.0.1:{port}", app[STATE])
    await server.close()


async def test_a_page_waiting_for_the_family_does_not_stop_the_event_loop(served: Served) -> None:
    await served.client.get("/")  # the family model is built
    family = served.state.family
    assert family is not None
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:  # a long filing, say: the family's lock held for a while in another thread
        with family.exclusive():
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(5)
    page = asyncio.ensure_future(served.client.get("/"))
    await asyncio.sleep(0.3)  # the page is now waiting for the family's lock
    started = time.monotonic()
    try:
        async with served.session.get(
            served.base + "/api/ping", headers=CLIENT, timeout=aiohttp.ClientTimeout(total=3)
        ) as r:
            assert r.status == 200
        ping_took = time.monotonic() - started
        assert not page.done()  # the page really is waiting...
    finally:
        release.set()
    status, _ = await asyncio.wait_for(page, 10)  # ...and finishes once the lock is free
    holder.join(5)
    assert status == 200
    assert ping_took < 2, ping_took  # answered while the page waited (before: the loop itself was blocked)


async def test_saves_do_not_keep_the_vault_from_idle_locking(served: Served, tmp_path: Path) -> None:
    """Only the caregiver's own activity counts: a script or a stuck extension posting captures must
    not keep an unattended vault open."""
    from api_client import apair

    from bridge.server.pairing import Pairing

    client = await apair(served.session, served.base, Pairing(tmp_path / "vault").new_code())
    served.state.last_activity = before = time.monotonic() - 3600
    status, body = await client.acall(
        served.session,
        served.base,
        "POST",
        "/api/captures",
        capture("<main><h1>Letter</h1><p>Synthetic.</p></main>"),
    )
    assert status == 201, body
    assert served.state.last_activity == before
