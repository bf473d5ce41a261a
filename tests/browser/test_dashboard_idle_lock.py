"""Idle lock in real headless Chromium (issue 6): an unattended dashboard goes back to /unlock by itself.

The bridge runs in this process (`ThreadBridge`) with an idle lock of 4 seconds (`ServerConfig` takes
minutes as a float; the CLI's `--idle-lock` takes whole minutes). Screenshots: test-artifacts/dashboard-idle/.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import PASSPHRASE, free_port
from dashboard_fixtures import (
    Guard,
    Shots,
    ThreadBridge,
    dashboard_browser,
    module_playwright,
    session_base,
    session_url,
)

from bridge.config import ServerConfig

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def pw(request: pytest.FixtureRequest) -> Iterator[Any]:
    yield from module_playwright(request)


IDLE_SECONDS = 4


@pytest.fixture
def idle_bridge(tmp_path: Path) -> Iterator[ThreadBridge]:
    from bridge.vault import Vault

    Vault.create(tmp_path / "vault", PASSPHRASE).close()
    config = ServerConfig(vault_dir=tmp_path / "vault", port=free_port(), idle_lock_minutes=IDLE_SECONDS / 60)
    bridge = ThreadBridge(config).start()
    try:
        yield bridge
    finally:
        bridge.stop()


def _ping(bridge: ThreadBridge) -> dict[str, Any]:
    req = urllib.request.Request(bridge.base + "/api/ping", headers={"X-Kinchart-Client": "browser-tests/1"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        data: dict[str, Any] = json.loads(resp.read())
        return data


def _unlock(page: Any, base: str) -> str:
    """Log in; returns where the new session's pages are (`base` + its secret prefix)."""
    page.goto(base + "/")
    page.wait_for_url(base + "/unlock")
    page.get_by_label("Passphrase").fill(PASSPHRASE)
    page.get_by_role("button", name="Unlock").click()
    page.wait_for_url(session_url("/"))
    return session_base(page.url)


def test_idle_dashboard_locks_itself(pw: Any, chromium_path: str | None, idle_bridge: ThreadBridge) -> None:
    base = idle_bridge.base
    shot = Shots("dashboard-idle")
    with dashboard_browser(pw) as browser:
        context = browser.new_context()
        guard = Guard(idle_bridge.port)
        guard.attach(context)
        page = context.new_page()
        dash = _unlock(page, base)
        shot(page, "unlocked")

        # Using the dashboard keeps it open, well past the idle time.
        started = time.monotonic()
        while time.monotonic() - started < IDLE_SECONDS + 1.5:
            page.goto(dash + "/members")
            assert page.url == dash + "/members"
            time.sleep(0.5)
        assert _ping(idle_bridge)["locked"] is False

        # Left alone, it locks: the vault, and every session with it.
        deadline = time.monotonic() + IDLE_SECONDS + 10
        while _ping(idle_bridge)["locked"] is False:
            assert time.monotonic() < deadline, "the idle lock never happened"
            time.sleep(0.25)
        page.reload()
        assert page.url == base + "/unlock"
        assert page.get_by_role("button", name="Unlock").is_visible()
        shot(page, "locked-after-idle")
        page.goto(dash + "/members")  # the session ended with the lock: its addresses open nothing
        assert page.url == base + "/unlock"

        # The passphrase opens it again.
        _unlock(page, base)
        assert page.get_by_role("heading", name="Your family at a glance").is_visible()
        assert guard.problems() == []
        context.close()
