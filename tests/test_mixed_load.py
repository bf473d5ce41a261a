"""The bridge keeps answering under ordinary mixed use: captures being saved while the dashboard is open,
the extension lists members, an export downloads and a reparse runs, all at once, against a real
`kinchart serve` process over loopback HTTP.

A lock-order inversion (a capture being filed held the vault's lock and waited for the family's, while
a dashboard page held the family's on the event loop and waited for the vault's) froze the whole bridge
in 3 of 3 runs of one saver and one dashboard tab. Every request here has a deadline: a freeze fails the
test instead of hanging it."""

from __future__ import annotations

import asyncio
import json
import random
import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import FIXTURES
from dashboard_client import DashboardClient
from live_bridge import PASSPHRASE, LiveBridge

pytestmark = pytest.mark.slow

REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=60)
SAVERS, SAVES_EACH = 4, 12
BROWSERS, PAGES_EACH = 3, 15


def _pages() -> list[tuple[str, str]]:
    """(url, html) of every fixture page with an expected parse: the four vendors and the generic one."""
    found = []
    for expected in sorted(FIXTURES.glob("*/*.expected.json")):
        html = expected.with_name(expected.name.replace(".expected.json", ".html"))
        if html.exists():
            found.append((json.loads(expected.read_text())["url"], html.read_text()))
    return found


def _capture(url: str, html: str, n: int) -> dict[str, Any]:
    # each save a distinct capture (a comment changes its content id), so every one is stored and filed
    return {
        "url": url,
        "title": "Page",
        "captured_at": "2026-11-02T03:04:05Z",
        "frames": [{"url": url, "html": f"{html}<!-- save {n} -->"}],
        "extension_version": "test",
    }


async def test_saves_dashboard_members_export_and_reparse_together_all_finish(tmp_path: Path) -> None:
    bridge = LiveBridge(tmp_path).start()
    try:
        client = bridge.pair()
        pages = _pages()
        assert len(pages) > 50
        rng = random.Random(13)
        outcomes: dict[str, list[int]] = {}

        def note(what: str, status: int) -> None:
            outcomes.setdefault(what, []).append(status)

        async with aiohttp.ClientSession(timeout=REQUEST_TIMEOUT) as http:

            async def saver(k: int) -> None:
                for i in range(SAVES_EACH):
                    url, html = rng.choice(pages)
                    status, _ = await client.acall(
                        http, bridge.base, "POST", "/api/captures", _capture(url, html, k * 1000 + i)
                    )
                    note("save", status)

            async def extension_lists_members() -> None:
                for _ in range(20):
                    status, _ = await client.acall(http, bridge.base, "POST", "/api/members")
                    note("members", status)
                    await asyncio.sleep(0.05)

            async def browser(k: int) -> None:
                async with aiohttp.ClientSession(
                    timeout=REQUEST_TIMEOUT, cookie_jar=aiohttp.CookieJar(unsafe=True)
                ) as own:  # its own cookie jar (unsafe: cookies for an IP address)
                    tab = DashboardClient(own, bridge.port)
                    await tab.login(PASSPHRASE)
                    for i in range(PAGES_EACH):
                        path = ["/", "/members", "/captures", "/settings", "/export"][(k + i) % 5]
                        status, _ = await tab.get(path)
                        note("page", status)
                    if k == 0:
                        status, _, _ = await tab.post("/reparse", {})
                        note("reparse", status)
                    if k == 1:
                        await tab.post("/members", {"name": "Synthetic Ada Testperson"})
                        _, listing = await tab.get("/members")
                        member_id = re.findall(r'href="(?:/s/[\w-]+)?/members/([0-9a-f-]{36})"', listing)[0]
                        await tab.get("/export")
                        status, body, _ = await tab.post(
                            "/export", {"format": "json", "understood": "yes", "member": member_id}
                        )
                        note("export", status)
                        assert status == 200 and '"entries"' in body[:2000], body[:300]

            jobs = [saver(k) for k in range(SAVERS)]
            jobs += [browser(k) for k in range(BROWSERS)]
            jobs.append(extension_lists_members())
            await asyncio.wait_for(asyncio.gather(*jobs), timeout=240)

            # and afterwards it still answers at once
            async with http.get(bridge.base + "/api/ping", headers={"X-Kinchart-Client": "test/1"}) as r:
                assert r.status == 200

        assert set(outcomes["save"]) <= {200, 201}, outcomes["save"]
        assert len(outcomes["save"]) == SAVERS * SAVES_EACH
        assert set(outcomes["members"]) == {200}
        assert set(outcomes["page"]) == {200}
        assert outcomes["reparse"] == [200]
        assert outcomes["export"] == [200]
    finally:
        bridge.stop()
