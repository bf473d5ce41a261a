"""Every dashboard page over real HTTP on a vault filled from fixture pages of several systems and members:
the right values on the page, hostile content escaped, and the guards on every form."""

from __future__ import annotations

import html
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer, unused_port
from bridge_helpers import PASSPHRASE, make_config
from dashboard_client import DashboardClient
from golden import fixtures

from bridge.ingest import ingest
from bridge.server import init_app
from bridge.server.state import STATE


@pytest.fixture
async def dash(tmp_path: Path) -> AsyncIterator[tuple[DashboardClient, TestServer]]:
    port = unused_port()
    app = init_app(make_config(tmp_path / "vault", port))
    state = app[STATE]
    assert state.vault is not None and state.family is not None
    for fx in fixtures():
        url = fx.spec()["url"]
        ingest(
            state.vault,
            {
                "url": url,
                "title": fx.id,
                "captured_at": "2026-11-20T10:00:00Z",
                "frames": [{"url": url, "html": fx.html()}],
                "extension_version": "test",
            },
            state.family,
        )
    family = state.family
    for u in family.unassigned():
        name = (u.patient or {}).get("name") or "Unnamed"
        match = next((m for m in family.list_members() if m.name == name), None)
        member_id = (
            match.id if match else family.create_member(name=name, dob=(u.patient or {}).get("dob")).id
        )
        if family.get_member(member_id) and u.capture_id in {x.capture_id for x in family.unassigned()}:
            family.assign(u.capture_id, member_id)
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    # The bridge lives on an IP address; aiohttp's jar keeps such cookies only when told to.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        client = DashboardClient(session, port)
        await client.login(PASSPHRASE)
        yield client, server
    await server.close()


async def test_every_page_renders(dash: tuple[DashboardClient, TestServer]) -> None:
    client, server = dash
    status, home = await client.get("/")
    assert status == 200, home
    family = server.app[STATE].family
    assert family is not None
    members = family.list_members()
    assert len(members) >= 2
    for m in members:
        assert m.name.split()[0] in home or m.name in home
        for path in (
            f"/members/{m.id}",
            f"/members/{m.id}/results",
            f"/members/{m.id}/medications",
            f"/members/{m.id}?kind=message",
            f"/members/{m.id}?q=potassium",
        ):
            status, _ = await client.get(path)
            assert status == 200, path
    for path in ("/members", "/captures", "/settings"):
        status, _ = await client.get(path)
        assert status == 200, path
    page = family.timeline(limit=None)
    assert page.total > 50
    for entry in page.entries[:: max(1, page.total // 40)]:
        status, body = await client.get(f"/entries/{entry.id}")
        assert status == 200
        for s in entry.sources:
            assert f"/captures/{s.capture_id}" in body
            status, _ = await client.get(f"/captures/{s.capture_id}")
            assert status == 200


async def test_lab_value_shown_with_flag(dash: tuple[DashboardClient, TestServer]) -> None:
    client, server = dash
    family = server.app[STATE].family
    assert family is not None
    results = family.timeline(kinds=["test_result"], limit=None).entries
    flagged = next(
        e for e in results if any(c.get("flag") == "high" for c in e.record.get("components") or [])
    )
    comp = next(c for c in flagged.record["components"] if c.get("flag") == "high")
    _, body = await client.get(f"/entries/{flagged.id}")
    text = html.unescape(body)
    assert comp["name"] in text
    assert comp["value"] in text
    assert "High" in body


async def test_forms_need_csrf_origin_and_fetch_site(dash: tuple[DashboardClient, TestServer]) -> None:
    client, _ = dash
    await client.get("/members")
    good = {"csrf": client.csrf, "name": "Synthetic Person"}
    url = client.url("/members")
    host = {"Host": f"127.0.0.1:{client.port}"}
    for headers, data in [
        ({**host, "Origin": client.origin, "Sec-Fetch-Site": "same-origin"}, {**good, "csrf": "wrong"}),
        ({**host, "Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}, good),
        ({**host, "Sec-Fetch-Site": "same-origin"}, good),
        ({**host, "Origin": client.origin, "Sec-Fetch-Site": "cross-site"}, good),
    ]:
        async with client.session.post(url, data=data, headers=headers, allow_redirects=False) as r:
            assert r.status == 403
    status, _, _ = await client.post("/members", {"name": "Synthetic Person"})
    assert status == 303


async def test_security_headers_on_pages(dash: tuple[DashboardClient, TestServer]) -> None:
    client, _ = dash
    async with client.session.get(client.url("/"), headers={"Host": f"127.0.0.1:{client.port}"}) as r:
        csp = r.headers["Content-Security-Policy"]
        assert "script-src" not in csp or "'unsafe" not in csp
        assert "unsafe-" not in csp and "default-src 'none'" in csp
    async with client.session.post(
        client.origin + "/unlock",
        data={"passphrase": PASSPHRASE},
        headers={
            "Host": f"127.0.0.1:{client.port}",
            "Origin": client.origin,
            "Sec-Fetch-Site": "same-origin",
        },
        allow_redirects=False,
    ) as r:
        assert r.status == 403  # no CSRF token


async def test_session_cookie_is_httponly_strict(tmp_path: Path) -> None:
    port = unused_port()
    server = TestServer(init_app(make_config(tmp_path / "v", port)), host="127.0.0.1", port=port)
    await server.start_server()
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/unlock", headers={"Host": f"127.0.0.1:{port}"}) as r,
        ):
            cookie = r.headers["Set-Cookie"]
            assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    finally:
        await server.close()


async def test_raw_capture_downloads_never_render(dash: tuple[DashboardClient, TestServer]) -> None:
    client, server = dash
    vault = server.app[STATE].vault
    assert vault is not None
    capture_id = vault.list_captures()[0].id
    async with client.session.get(
        client.url(f"/captures/{capture_id}/raw"), headers={"Host": f"127.0.0.1:{client.port}"}
    ) as r:
        assert r.headers["Content-Type"].startswith("application/octet-stream")
        assert r.headers["Content-Disposition"].startswith("attachment")
    async with client.session.get(
        client.url(f"/captures/{capture_id}/view"), headers={"Host": f"127.0.0.1:{client.port}"}
    ) as r:
        body = await r.text()
        assert "<script" not in body.lower()
        assert "sandbox" in r.headers["Content-Security-Policy"]


def test_fixture_members_json_is_sane() -> None:
    assert json.loads(json.dumps({"ok": True}))["ok"]
