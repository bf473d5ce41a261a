"""Dashboard sessions over real HTTP: the cookie alone opens nothing (it must come with the session's
address secret), our own links and redirects carry that secret, `GET /unlock` never logs anyone out,
locking is a checked POST, and passphrase guessing is throttled."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer, unused_port
from bridge_helpers import PASSPHRASE, make_config
from dashboard_client import DashboardClient

from bridge.server import init_app
from bridge.server.sessions import COOKIE
from bridge.server.state import STATE

MEMBER = "Synthetic Replaymember"
PAGES = ["/", "/members", "/captures", "/settings", "/export"]


@pytest.fixture
async def dash(tmp_path: Path) -> AsyncIterator[tuple[DashboardClient, TestServer]]:
    port = unused_port()
    app = init_app(make_config(tmp_path / "vault", port))
    family = app[STATE].family
    assert family is not None
    family.create_member(name=MEMBER, dob="1950-02-03")
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        client = DashboardClient(session, port)
        await client.login(PASSPHRASE)
        yield client, server
    await server.close()


def _host(client: DashboardClient) -> dict[str, str]:
    return {"Host": f"127.0.0.1:{client.port}"}


def _session_cookie(client: DashboardClient) -> str:
    values = [c.value for c in client.session.cookie_jar if c.key == COOKIE]
    assert len(values) == 1
    return values[0]


async def replay(client: DashboardClient, server: TestServer, cookie_header: str) -> tuple[int, int]:
    """Everything a program holding only the dashboard's Cookie header might try: read each page at
    its plain path and at guessed prefixes, then post the pairing-code and add-member forms with a
    scraped (or guessed) CSRF token and the headers a browser would send. Returns (attempts,
    successes): a success is a page that shows a member, or a change."""
    state = server.app[STATE]
    family = state.family
    assert family is not None
    members_before = len(family.list_members())
    attempts = successes = 0
    prefixes = ["", "/s", "/s/", "/s/x", "/s/" + "A" * 32, "/s/%2e%2e", "/s//"]
    csrf = "guess"
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as thief:
        headers = {**_host(client), "Cookie": cookie_header}
        for prefix in prefixes:
            for page in PAGES:
                attempts += 1
                async with thief.get(
                    client.origin + prefix + page, headers=headers, allow_redirects=False
                ) as r:
                    body = await r.text()
                    m = re.search(r'name="csrf" value="([^"]+)"', body)
                    csrf = m.group(1) if m else csrf
                    successes += MEMBER in body or r.status == 200
                    if r.status == 303:
                        assert r.headers["Location"] in {"/unlock", "/setup"}
            post = {**headers, "Origin": client.origin, "Sec-Fetch-Site": "same-origin"}
            for path, data in (("/settings/pair", {}), ("/members", {"name": "Synthetic Intruder"})):
                attempts += 1
                async with thief.post(
                    client.origin + prefix + path,
                    data={"csrf": csrf, **data},
                    headers=post,
                    allow_redirects=False,
                ) as r:
                    body = await r.text()
                    successes += r.status < 300 or re.search(r"\b\d{6}\b", body) is not None
    successes += len(family.list_members()) != members_before
    return attempts, successes


async def test_the_cookie_alone_opens_nothing(dash: tuple[DashboardClient, TestServer]) -> None:
    client, server = dash
    status, page = await client.get("/members")
    assert status == 200 and MEMBER in page  # the real session works
    cookie = _session_cookie(client)
    pairing_store = _pairing_store(server)
    attempts, successes = await replay(client, server, f"{COOKIE}={cookie}")
    assert attempts == 49 and successes == 0
    assert _pairing_store(server) == pairing_store  # no pairing code was made
    status, page = await client.get("/members")
    assert status == 200 and MEMBER in page  # and still works


def _pairing_store(server: TestServer) -> dict[str, bytes]:
    folder = server.app[STATE].config.vault_dir
    return {p.name: p.read_bytes() for p in sorted(folder.glob("clients*.json"))}


async def test_the_address_secret_alone_opens_nothing(dash: tuple[DashboardClient, TestServer]) -> None:
    """A leaked address (browser history, a screen share) without the cookie opens nothing either."""
    client, _ = dash
    async with (
        aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as stranger,
        stranger.get(client.url("/members"), headers=_host(client), allow_redirects=False) as r,
    ):
        assert r.status == 303 and r.headers["Location"] == "/unlock"
        assert MEMBER not in await r.text()


async def test_the_cookie_is_scoped_to_the_session_prefix(tmp_path: Path) -> None:
    port = unused_port()
    server = TestServer(init_app(make_config(tmp_path / "v", port)), host="127.0.0.1", port=port)
    await server.start_server()
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
            client = DashboardClient(session, port)
            await client.get("/unlock")
            status, _, location = await client.post("/unlock", {"passphrase": PASSPHRASE})
            assert status == 303
            prefix = location.rstrip("/")
            assert re.fullmatch(r"/s/[\w-]{32}", prefix)
            cookies = {c.key: c for c in session.cookie_jar}
            assert cookies[COOKIE]["path"] == prefix  # the browser sends it nowhere else
            assert cookies[COOKIE]["httponly"] and cookies[COOKIE]["samesite"] == "Strict"
            assert cookies["kinchart_form"]["path"] == "/unlock"
    finally:
        await server.close()


async def test_links_forms_and_redirects_carry_the_prefix(dash: tuple[DashboardClient, TestServer]) -> None:
    client, _ = dash
    for page in PAGES:
        status, body = await client.get(page)
        assert status == 200
        own = re.findall(r'\b(?:href|action|src)="(/[^"]*)"', body)
        assert own, page
        outside = [u for u in own if not u.startswith((client.prefix + "/", "/static/"))]
        assert outside == [], (page, outside)
    status, _, location = await client.post("/members", {"name": "Synthetic Second"})
    assert status == 303 and location == client.prefix + "/members"


async def test_a_wrong_or_missing_prefix_goes_to_unlock_without_the_secret(
    dash: tuple[DashboardClient, TestServer],
) -> None:
    client, _ = dash
    secret = client.prefix.rsplit("/", 1)[1]
    for url in (client.origin + "/members", client.origin + "/s/" + "B" * 32 + "/members"):
        async with client.session.get(url, headers=_host(client), allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"] == "/unlock"
            assert secret not in await r.text() and secret not in str(r.headers)


async def test_get_unlock_never_logs_the_caregiver_out(dash: tuple[DashboardClient, TestServer]) -> None:
    """Any page can make the browser GET /unlock (a link, an <img>): the session survives, both when
    the caregiver's own browser does it and when strangers start hundreds of form sessions."""
    client, _ = dash
    for _ in range(3):
        async with client.session.get(client.origin + "/unlock", headers=_host(client)) as r:
            assert r.status == 200
    async with aiohttp.ClientSession() as stranger:
        for _ in range(250):
            async with stranger.get(client.origin + "/unlock", headers=_host(client)) as r:
                assert r.status == 200
    status, page = await client.get("/members")
    assert status == 200 and MEMBER in page


async def test_lock_is_a_checked_post_and_ends_the_session(dash: tuple[DashboardClient, TestServer]) -> None:
    client, server = dash
    await client.get("/")
    async with client.session.get(client.url("/lock"), headers=_host(client), allow_redirects=False) as r:
        assert r.status == 405
    status, _, _ = await client.post("/lock", {"csrf": "wrong"})
    assert status == 403 and server.app[STATE].unlocked
    status, _, location = await client.post("/lock", {})
    assert status == 303 and location == "/unlock" and not server.app[STATE].unlocked
    assert COOKIE not in {c.key for c in client.session.cookie_jar}  # the browser forgets it
    status, _ = await client.get("/members")  # the old address (the back button) opens nothing
    assert status == 303


async def _unlock(client: DashboardClient, passphrase: str) -> tuple[int, str, dict[str, str]]:
    await client.get("/unlock")
    async with client.session.post(
        client.origin + "/unlock",
        data={"csrf": client.csrf, "passphrase": passphrase},
        headers=client._headers(True),
        allow_redirects=False,
    ) as r:
        return r.status, await r.text(), dict(r.headers)


@pytest.fixture
async def locked(tmp_path: Path) -> AsyncIterator[DashboardClient]:
    port = unused_port()
    server = TestServer(
        init_app(make_config(tmp_path / "v", port, unlocked=False)), host="127.0.0.1", port=port
    )
    await server.start_server()
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield DashboardClient(session, port)
    await server.close()


async def test_wrong_passphrases_make_the_next_guess_wait(locked: DashboardClient) -> None:
    client = locked
    for _ in range(3):
        status, body, _ = await _unlock(client, "wrong passphrase")
        assert status == 403 and "does not open this vault" in body
    # the third failure starts a wait: even the right passphrase is not tried until it is over
    status, body, headers = await _unlock(client, PASSPHRASE)
    assert status == 429 and re.search(r"Wait [12] seconds?, then try again", body), body
    assert headers["Retry-After"] in {"1", "2"}
    await asyncio.sleep(int(headers["Retry-After"]) + 0.2)
    status, _, headers = await _unlock(client, "still wrong")
    assert status == 403
    status, body, headers = await _unlock(client, PASSPHRASE)
    assert status == 429 and headers["Retry-After"] in {"1", "2"}  # the wait doubled
    await asyncio.sleep(int(headers["Retry-After"]) + 0.2)
    status, _, headers = await _unlock(client, PASSPHRASE)
    assert status == 303 and headers["Location"].startswith("/s/")
    # success forgives the past failures
    status, _, _ = await _unlock(client, "wrong again")
    assert status == 403
    status, _, _ = await _unlock(client, PASSPHRASE)
    assert status == 303


async def test_parallel_guesses_are_not_a_way_around_the_wait(locked: DashboardClient) -> None:
    client = locked
    await client.get("/unlock")

    async def guess(n: int) -> int:
        async with client.session.post(
            client.origin + "/unlock",
            data={"csrf": client.csrf, "passphrase": f"wrong guess {n}"},
            headers=client._headers(True),
            allow_redirects=False,
        ) as r:
            return r.status

    statuses = await asyncio.gather(*(guess(n) for n in range(20)))
    assert sorted(statuses) == [403] * 3 + [429] * 17
