"""The capture API and its guards, over real HTTP on loopback with a real encrypted vault."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer, unused_port
from api_client import SEALED, ApiClient, NotVerified, apair
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

    async def pair(self, origin: str | None = EXT_ORIGIN) -> ApiClient:
        code = Pairing(self.vault_dir).new_code()
        return await apair(self.session, self.base, code, origin)

    async def call(self, client: ApiClient, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """A signed and sealed request, as the extension makes it (tests/api_client.py)."""
        return await client.acall(self.session, self.base, method, path, body)


@pytest.fixture
async def bridge(tmp_path: Path) -> AsyncIterator[Bridge]:
    port = unused_port()
    app = init_app(make_config(tmp_path / "vault", port))
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    async with aiohttp.ClientSession() as session:
        yield Bridge(server, session, tmp_path / "vault")
    await server.close()


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
    client = await bridge.pair()
    signed = await client.aprepare(bridge.session, bridge.base, "POST", "/api/captures", capture("<p>x</p>"))
    r = await bridge.request(
        "POST",
        "/api/captures",
        headers={**signed.headers, "Origin": "https://evil.example"},
        data=signed.body,
    )
    assert r.status == 403
    assert not any(h.lower().startswith("access-control-") for h in r.headers)


async def test_capture_needs_a_signature(bridge: Bridge) -> None:
    sealed = {**CLIENT, "Origin": EXT_ORIGIN, "Content-Type": SEALED}
    r = await bridge.request("POST", "/api/captures", headers=sealed, data=b"{}")
    assert r.status == 401
    assert (await r.json())["error"] == "not_paired"
    client = await bridge.pair()
    stranger = ApiClient(client.client_id, os.urandom(32))  # the right id, the wrong key
    with pytest.raises(NotVerified):
        await stranger.acall(bridge.session, bridge.base, "POST", "/api/captures", capture("<p>x</p>"))
    signed = await client.aprepare(bridge.session, bridge.base, "POST", "/api/captures", capture("<p>x</p>"))
    forged = stranger.sign(
        "POST", "/api/captures", signed.client_nonce, signed.server_nonce, capture("<p>y</p>")
    )
    r = await bridge.request("POST", "/api/captures", headers=forged.headers, data=forged.body)
    assert (r.status, (await r.json())["error"]) == (401, "bad_signature")


async def test_a_bearer_token_is_told_to_pair_again(bridge: Bridge) -> None:
    h = {**CLIENT, "Origin": EXT_ORIGIN, "Authorization": "Bearer an-old-token"}
    for path in ("/api/captures", "/api/members"):
        r = await bridge.request("POST", path, headers={**h, "Content-Type": SEALED}, data=b"")
        body = await r.json()
        assert (r.status, body["error"]) == (401, "pair_again")
        assert "Pair this browser again" in body["message"]


async def test_token_in_query_string_is_refused(bridge: Bridge) -> None:
    client = await bridge.pair()
    signed = await client.aprepare(
        bridge.session, bridge.base, "POST", "/api/captures?token=x", capture("<p>x</p>")
    )
    r = await bridge.request("POST", "/api/captures?token=x", headers=signed.headers, data=signed.body)
    assert r.status == 400
    assert (await r.json())["error"] == "token_in_url"


async def test_a_key_from_another_extension_is_refused(bridge: Bridge) -> None:
    client = await bridge.pair()
    client.origin = "chrome-extension://ponmlkjihgfedcbaponmlkjihgfedcba"
    with pytest.raises(NotVerified):  # no hello for another origin ...
        await bridge.call(client, "POST", "/api/captures", capture("<p>x</p>"))
    client.origin = EXT_ORIGIN
    signed = await client.aprepare(bridge.session, bridge.base, "POST", "/api/captures", capture("<p>x</p>"))
    h = {**signed.headers, "Origin": "chrome-extension://ponmlkjihgfedcbaponmlkjihgfedcba"}
    r = await bridge.request("POST", "/api/captures", headers=h, data=signed.body)
    assert r.status == 403  # ... and no signed request from it


async def test_form_encoded_post_is_refused(bridge: Bridge) -> None:
    client = await bridge.pair()
    for ctype, data in [
        ("application/x-www-form-urlencoded", "url=x"),
        ("text/plain", "{}"),
        ("application/json", "{}"),
    ]:
        signed = await client.aprepare(
            bridge.session, bridge.base, "POST", "/api/captures", capture("<p>x</p>")
        )
        r = await bridge.request(
            "POST", "/api/captures", headers={**signed.headers, "Content-Type": ctype}, data=data
        )
        assert r.status == 415, ctype


async def test_oversized_body_gets_413(tmp_path: Path) -> None:
    port = unused_port()
    app = init_app(make_config(tmp_path / "v", port, max_body=10_000))
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as session:
            b = Bridge(server, session, tmp_path / "v")
            client = await b.pair()
            status, body = await b.call(client, "POST", "/api/captures", capture("x" * 20_000))
            assert (status, body["error"]) == (413, "too_large")
    finally:
        await server.close()


async def test_capture_is_stored_once_and_receipt_says_duplicate(bridge: Bridge) -> None:
    client = await bridge.pair()
    body = capture("<main><h1>Letter</h1><p>Your visit went well.</p></main>")
    status, receipt = await bridge.call(client, "POST", "/api/captures", body)
    assert status == 201, receipt
    assert receipt["duplicate"] is False
    assert receipt["vendor"] == "generic"
    assert receipt["counts"] == {"document": 1}
    assert receipt["summary"].startswith("Saved")
    status, again = await bridge.call(client, "POST", "/api/captures", body)
    assert status == 200
    assert again["duplicate"] is True
    assert again["capture_id"] == receipt["capture_id"]


async def test_malformed_bodies_get_clear_errors(bridge: Bridge) -> None:
    client = await bridge.pair()
    for raw, error in [
        (b"{not json", "bad_json"),
        (b"\xff\xfe\x00junk", "bad_json"),
        (json.dumps({"url": "x", "frames": []}).encode(), "bad_capture"),
    ]:
        status, body = await bridge.call(client, "POST", "/api/captures", raw)
        assert (status, body["error"]) == (400, error)


async def test_pairing_code_is_single_use_and_locks_out(bridge: Bridge) -> None:
    pairing = Pairing(bridge.vault_dir)
    code = pairing.new_code()
    h = {**CLIENT, "Origin": EXT_ORIGIN}
    ok = await bridge.request("POST", "/api/pair", headers=h, json={"code": code, "client_name": "a"})
    assert ok.status == 201
    reuse = await bridge.request("POST", "/api/pair", headers=h, json={"code": code, "client_name": "b"})
    assert reuse.status == 403
    assert "key" not in await reuse.json()
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
    h = {**CLIENT, "Origin": EXT_ORIGIN}
    r = await bridge.request("POST", "/api/pair", headers=h, json={"code": code, "client_name": "x"})
    assert (r.status, (await r.json())["error"]) == (403, "code_expired")


async def test_revoked_key_stops_at_once(bridge: Bridge) -> None:
    client = await bridge.pair()
    assert (await bridge.call(client, "POST", "/api/members"))[0] == 200
    Pairing(bridge.vault_dir).revoke(client.client_id)
    with pytest.raises(NotVerified):
        await bridge.call(client, "POST", "/api/captures", capture("<p>x</p>"))


async def test_locked_vault_stores_nothing(tmp_path: Path) -> None:
    port = unused_port()
    app: web.Application = init_app(make_config(tmp_path / "v", port, unlocked=False))
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as session:
            b = Bridge(server, session, tmp_path / "v")
            client = await b.pair()
            ping = await (await b.request("GET", "/api/ping", headers=CLIENT)).json()
            assert ping["locked"] is True
            await client.ahello(session, b.base)  # its proof covers "locked": checked there
            status, body = await b.call(client, "POST", "/api/captures", capture("<p>x</p>"))
            assert (status, body["error"]) == (423, "locked")
    finally:
        await server.close()
