"""The capture API and its guards, over real HTTP on loopback with a real encrypted vault."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer, unused_port
from bridge_helpers import CLIENT, EXT_ORIGIN, capture, make_config

from bridge.server import init_app
from bridge.server.pairing import Pairing


class Bridge:
    def __init__(self, server: TestServer, session: aiohttp.ClientSession, vault_dir: Path) -> None:
        self.server, self.session, self.vault_dir = server, session, vault_dir
        self.port = server.port
        self.base = f"http://127.0.0.1:{self.port}"

    async def request(
        self,
        method: str,
        path: str,
        *,
        host: str | None = None,
        headers: dict[str, str] | None = None,
        **kw: Any,
    ) -> aiohttp.ClientResponse:
        h = {"Host": host or f"127.0.0.1:{self.port}", **(headers or {})}
        return await self.session.request(method, self.base + path, headers=h, allow_redirects=False, **kw)

    async def pair(self, origin: str | None = EXT_ORIGIN) -> str:
        code = Pairing(self.vault_dir).new_code()
        headers = {**CLIENT, **({"Origin": origin} if origin else {})}
        r = await self.request(
            "POST", "/api/pair", headers=headers, json={"code": code, "client_name": "test"}
        )
        assert r.status == 201, await r.text()
        token: str = (await r.json())["token"]
        return token


@pytest.fixture
async def bridge(tmp_path: Path) -> AsyncIterator[Bridge]:
    port = unused_port()
    app = init_app(make_config(tmp_path / "vault", port))
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    async with aiohttp.ClientSession() as session:
        yield Bridge(server, session, tmp_path / "vault")
    await server.close()


def auth(token: str, origin: str | None = EXT_ORIGIN) -> dict[str, str]:
    return {**CLIENT, "Authorization": f"Bearer {token}", **({"Origin": origin} if origin else {})}


async def test_ping_identifies_only_to_the_client_header(bridge: Bridge) -> None:
    r = await bridge.request("GET", "/api/ping", headers=CLIENT)
    assert r.status == 200
    assert r.headers["X-Kinchart-Bridge"]
    assert (await r.json())["name"] == "kinchart"
    bare = await bridge.request("GET", "/api/ping")
    assert bare.status == 404
    assert "X-Kinchart-Bridge" not in bare.headers
    assert "kinchart" not in (await bare.text()).lower()


@pytest.mark.parametrize("host", ["evil.example", "evil.example:47213", "127.0.0.1", "localhost:1"])
@pytest.mark.parametrize("path", ["/api/ping", "/", "/settings", "/static/kinchart.css"])
async def test_wrong_host_is_misdirected_on_every_route(bridge: Bridge, host: str, path: str) -> None:
    r = await bridge.request("GET", path, host=host, headers=CLIENT)
    assert r.status == 421


async def test_localhost_host_is_accepted(bridge: Bridge) -> None:
    r = await bridge.request("GET", "/api/ping", host=f"localhost:{bridge.port}", headers=CLIENT)
    assert r.status == 200


async def test_web_origin_is_refused_without_cors(bridge: Bridge) -> None:
    token = await bridge.pair()
    r = await bridge.request(
        "POST", "/api/captures", headers=auth(token, "https://evil.example"), json=capture("<p>x</p>")
    )
    assert r.status == 403
    assert not any(h.lower().startswith("access-control-") for h in r.headers)


async def test_capture_needs_a_token(bridge: Bridge) -> None:
    r = await bridge.request(
        "POST", "/api/captures", headers={**CLIENT, "Origin": EXT_ORIGIN}, json=capture("<p>x</p>")
    )
    assert r.status == 401
    assert (await r.json())["error"] == "not_paired"
    r = await bridge.request(
        "POST", "/api/captures", headers=auth("not-a-real-token"), json=capture("<p>x</p>")
    )
    assert r.status == 401


async def test_token_in_query_string_is_refused(bridge: Bridge) -> None:
    token = await bridge.pair()
    r = await bridge.request(
        "POST",
        f"/api/captures?token={token}",
        headers={**CLIENT, "Origin": EXT_ORIGIN},
        json=capture("<p>x</p>"),
    )
    assert r.status == 400
    assert (await r.json())["error"] == "token_in_url"


async def test_stolen_token_from_another_extension_is_refused(bridge: Bridge) -> None:
    token = await bridge.pair()
    r = await bridge.request(
        "POST",
        "/api/captures",
        headers=auth(token, "chrome-extension://ponmlkjihgfedcbaponmlkjihgfedcba"),
        json=capture("<p>x</p>"),
    )
    assert r.status == 403


async def test_form_encoded_post_is_refused(bridge: Bridge) -> None:
    token = await bridge.pair()
    r = await bridge.request("POST", "/api/captures", headers=auth(token), data={"url": "x"})
    assert r.status == 415
    r = await bridge.request(
        "POST",
        "/api/captures",
        headers={**auth(token), "Content-Type": "text/plain"},
        data=json.dumps(capture("<p>x</p>")),
    )
    assert r.status == 415


async def test_oversized_body_gets_413(tmp_path: Path) -> None:
    port = unused_port()
    app = init_app(make_config(tmp_path / "v", port, max_body=10_000))
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as session:
            b = Bridge(server, session, tmp_path / "v")
            token = await b.pair()
            r = await b.request("POST", "/api/captures", headers=auth(token), json=capture("x" * 20_000))
            assert r.status == 413
            assert (await r.json())["error"] == "too_large"
    finally:
        await server.close()


async def test_capture_is_stored_once_and_receipt_says_duplicate(bridge: Bridge) -> None:
    token = await bridge.pair()
    body = capture("<main><h1>Letter</h1><p>Your visit went well.</p></main>")
    first = await bridge.request("POST", "/api/captures", headers=auth(token), json=body)
    assert first.status == 201, await first.text()
    receipt = await first.json()
    assert receipt["duplicate"] is False
    assert receipt["vendor"] == "generic"
    assert receipt["counts"] == {"document": 1}
    assert receipt["summary"].startswith("Saved")
    second = await bridge.request("POST", "/api/captures", headers=auth(token), json=body)
    assert second.status == 200
    again = await second.json()
    assert again["duplicate"] is True
    assert again["capture_id"] == receipt["capture_id"]


async def test_malformed_bodies_get_clear_errors(bridge: Bridge) -> None:
    token = await bridge.pair()
    h = {**auth(token), "Content-Type": "application/json"}
    r = await bridge.request("POST", "/api/captures", headers=h, data=b"{not json")
    assert (r.status, (await r.json())["error"]) == (400, "bad_json")
    r = await bridge.request("POST", "/api/captures", headers=h, data=b"\xff\xfe\x00junk")
    assert (r.status, (await r.json())["error"]) == (400, "bad_json")
    r = await bridge.request("POST", "/api/captures", headers=h, data=json.dumps({"url": "x", "frames": []}))
    assert (r.status, (await r.json())["error"]) == (400, "bad_capture")


async def test_pairing_code_is_single_use_and_locks_out(bridge: Bridge) -> None:
    pairing = Pairing(bridge.vault_dir)
    code = pairing.new_code()
    h = {**CLIENT, "Origin": EXT_ORIGIN}
    ok = await bridge.request("POST", "/api/pair", headers=h, json={"code": code, "client_name": "a"})
    assert ok.status == 201
    reuse = await bridge.request("POST", "/api/pair", headers=h, json={"code": code, "client_name": "b"})
    assert reuse.status == 403
    assert "token" not in await reuse.json()
    code = pairing.new_code()
    wrong = "000000" if code != "000000" else "111111"
    statuses = []
    for _ in range(5):
        r = await bridge.request("POST", "/api/pair", headers=h, json={"code": wrong, "client_name": "x"})
        statuses.append(r.status)
    assert statuses[-1] == 429
    r = await bridge.request("POST", "/api/pair", headers=h, json={"code": code, "client_name": "x"})
    assert r.status == 429  # even the right code is refused once locked out


async def test_expired_code_is_refused(bridge: Bridge) -> None:
    pairing = Pairing(bridge.vault_dir)
    code = pairing.new_code()
    data = json.loads(pairing.file.read_text())
    data["code"]["expires_at"] = "2000-01-01T00:00:00+00:00"
    pairing.file.write_text(json.dumps(data))
    r = await bridge.request("POST", "/api/pair", headers=CLIENT, json={"code": code, "client_name": "x"})
    assert (r.status, (await r.json())["error"]) == (403, "code_expired")


async def test_revoked_token_stops_at_once(bridge: Bridge) -> None:
    token = await bridge.pair()
    ping = await bridge.request("GET", "/api/ping", headers=auth(token))
    assert (await ping.json())["paired"] is True
    client = Pairing(bridge.vault_dir).client_for_token(token)
    assert client is not None
    Pairing(bridge.vault_dir).revoke(client.id)
    r = await bridge.request("POST", "/api/captures", headers=auth(token), json=capture("<p>x</p>"))
    assert r.status == 401


async def test_locked_vault_stores_nothing(tmp_path: Path) -> None:
    port = unused_port()
    app: web.Application = init_app(make_config(tmp_path / "v", port, unlocked=False))
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as session:
            b = Bridge(server, session, tmp_path / "v")
            token = await b.pair()
            ping = await (await b.request("GET", "/api/ping", headers=auth(token))).json()
            assert ping["locked"] is True and ping["paired"] is True
            r = await b.request("POST", "/api/captures", headers=auth(token), json=capture("<p>x</p>"))
            assert r.status == 423
            assert (await r.json())["error"] == "locked"
    finally:
        await server.close()
