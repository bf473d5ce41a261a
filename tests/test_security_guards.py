"""Issue 8, the network guards, over real HTTP on loopback against the real app and a real encrypted vault.

Every route is taken from the app's own router (so a route added tomorrow is covered tomorrow) and
attacked with full credentials from the wrong Host (DNS rebinding), from web origins, with tokens in
the URL, without the client header (fingerprinting), and via path tricks. After each attack the vault,
the family, the paired clients and the lock state are compared with a snapshot: nothing may change.
See SECURITY.md for the threat model.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer, unused_port
from api_client import ApiClient, apair
from bridge_helpers import CLIENT, EXT_ORIGIN, PASSPHRASE, capture, make_config
from golden import fixtures

from bridge.config import ServerConfig
from bridge.server import init_app
from bridge.server.guards import TOKEN_PARAMS
from bridge.server.pairing import Pairing
from bridge.server.state import STATE

PLACEHOLDER = re.compile(r"\{(\w+)\}")


def _router_routes() -> list[tuple[str, str]]:
    """(method, path template) of every route the app registers; HEAD twins are kept (they are routes too)."""
    app = init_app(ServerConfig(vault_dir=Path(tempfile.gettempdir()) / "kinchart-no-vault-here", port=1))
    found = []
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        template = info.get("formatter") or info.get("path") or (info.get("prefix", "") + "/kinchart.css")
        if "directory" in info:  # the static resource: a real file under it
            template = info["prefix"] + "/kinchart.css"
        found.append((route.method, template))
    return sorted(set(found))


ROUTES = _router_routes()
API_ROUTES = [(m, p) for m, p in ROUTES if p.startswith("/api/")]
POST_PAGES = [(m, p) for m, p in ROUTES if m == "POST" and not p.startswith("/api/")]


def test_the_route_list_is_the_whole_router() -> None:
    # Guard against the enumeration silently finding nothing (then every test below would pass vacuously).
    assert len(ROUTES) >= 40
    assert ("POST", "/api/captures") in ROUTES and ("GET", "/settings") in ROUTES
    assert ("GET", "/static/kinchart.css") in ROUTES
    assert {m for m, _ in ROUTES} >= {"GET", "HEAD", "POST"}


@dataclass
class World:
    server: TestServer
    session: aiohttp.ClientSession
    vault_dir: Path
    client: ApiClient
    csrf: str
    ids: dict[str, str]

    @property
    def port(self) -> int:
        return int(self.server.port or 0)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def path(self, template: str) -> str:
        return PLACEHOLDER.sub(lambda m: self.ids[m.group(1)], template)

    async def send(
        self,
        method: str,
        path: str,
        *,
        host: str | None = None,
        headers: dict[str, str] | None = None,
        data: Any = None,
        json_body: Any = None,
        content_type: str | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        h = {"Host": host if host is not None else f"127.0.0.1:{self.port}", **(headers or {})}
        if content_type:
            h["Content-Type"] = content_type
        async with self.session.request(
            method, self.base + path, headers=h, data=data, json=json_body, allow_redirects=False
        ) as r:
            return r.status, dict(r.headers), await r.read()

    def snapshot(self) -> dict[str, Any]:
        state = self.server.app[STATE]
        vault, family = state.vault, state.family
        assert vault is not None and family is not None
        return {
            "unlocked": state.unlocked,
            "captures": {r.id: r.meta for r in vault.list_captures()},
            "members": sorted((m.id, m.name, m.dob, m.relationship) for m in family.list_members()),
            "accounts": sorted(repr(a) for a in family.list_accounts()),
            "settings": vault.get_doc("settings", "dashboard"),
            "idle_lock": state.idle_lock_minutes,
            "clients.json": (self.vault_dir / "clients.json").read_bytes(),
        }

    def stale_signature(self) -> dict[str, str]:
        """The headers of a signed request, on a nonce the bridge never issued."""
        return {
            "X-Kinchart-Client-Id": self.client.client_id,
            "X-Kinchart-Nonce": "A" * 43,
            "X-Kinchart-Mac": "B" * 43,
        }

    async def full_credentials(self, host: str, method: str, template: str) -> dict[str, Any]:
        """Everything a legitimate caller would send: a request signed and sealed with the pairing key on a
        fresh nonce, the client header, the paired origin, the session cookie, the CSRF token."""
        if template.startswith("/api/"):
            if template == "/api/hello":
                _, body = self.client.hello_request()
                return {
                    "headers": self.client.base_headers(),
                    "data": body,
                    "content_type": "application/json",
                }
            if template in {"/api/pair", "/api/ping"}:
                code = {"code": "000000"} if method == "POST" else None
                return {"headers": self.client.base_headers(), "json_body": code}
            client_nonce, server_nonce = await self.client.ahello(
                self.session, self.base, f"127.0.0.1:{self.port}"
            )
            payload: Any = (
                {"member_id": self.ids["member_id"]} if "assign" in template else capture("<p>x</p>")
            )
            if method not in {"POST", "PUT", "PATCH", "DELETE"} or template == "/api/members":
                payload = None
            signed = self.client.sign(method, self.path(template), client_nonce, server_nonce, payload)
            return {"headers": signed.headers, "data": signed.body}
        headers = {"Origin": f"http://{host}", "Sec-Fetch-Site": "same-origin"}
        data = (
            {
                "csrf": self.csrf,
                "name": "Rebound",
                "passphrase": PASSPHRASE,
                "again": PASSPHRASE,
                "minutes": "1",
                "member_id": self.ids["member_id"],
                "keep": self.ids["member_id"],
                "drop": self.ids["member_id"],
            }
            if method == "POST"
            else None
        )
        return {"headers": headers, "data": data}


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    port = unused_port()
    vault_dir = tmp_path / "vault"
    app = init_app(make_config(vault_dir, port))
    state = app[STATE]
    assert state.vault is not None and state.family is not None
    fx = fixtures()[0]
    url = fx.spec()["url"]
    receipt = __import__("bridge.ingest", fromlist=["ingest"]).ingest(
        state.vault,
        {
            "url": url,
            "title": "t",
            "captured_at": "2026-11-20T10:00:00Z",
            "frames": [{"url": url, "html": fx.html()}],
            "extension_version": "test",
        },
        state.family,
    )
    member = state.family.create_member(name="Synthetic Member", dob="1950-01-01")
    state.family.assign(receipt.capture_id, member.id)
    entry = state.family.timeline(limit=1).entries[0]
    accounts = state.family.list_accounts()
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        code = Pairing(vault_dir).new_code()
        api = await apair(
            session, f"http://127.0.0.1:{port}", code, EXT_ORIGIN, "ext", host=f"127.0.0.1:{port}"
        )
        assert Pairing(vault_dir).client_key(api.client_id) is not None
        # A dashboard session, logged in with the passphrase like the caregiver.
        h = {"Host": f"127.0.0.1:{port}"}
        async with session.get(f"http://127.0.0.1:{port}/unlock", headers=h) as r:
            csrf = re.search(r'name="csrf" value="([^"]+)"', await r.text()).group(1)  # type: ignore[union-attr]
        async with session.post(
            f"http://127.0.0.1:{port}/unlock",
            data={"csrf": csrf, "passphrase": PASSPHRASE},
            headers={**h, "Origin": f"http://127.0.0.1:{port}", "Sec-Fetch-Site": "same-origin"},
            allow_redirects=False,
        ) as r:
            assert r.status == 303
            prefix = r.headers["Location"].rstrip("/")  # the session's address prefix: /s/<secret>
        async with session.get(f"http://127.0.0.1:{port}{prefix}/settings", headers=h) as r:
            assert r.status == 200
            csrf = re.search(r'name="csrf" value="([^"]+)"', await r.text()).group(1)  # type: ignore[union-attr]
        ids = {
            "capture_id": receipt.capture_id,
            "member_id": member.id,
            "entry_id": entry.id,
            "client_id": api.client_id,
            "account_id": accounts[0].id if accounts else "0" * 32,
            "session_secret": prefix.rsplit("/", 1)[1],
        }
        yield World(server, session, vault_dir, api, csrf, ids)
    await server.close()


WRONG_HOSTS = [
    "evil.example",
    "evil.example:{port}",
    "127.0.0.1",
    "localhost",
    "127.0.0.1:{other}",
    "localhost:{other}",
    "127.0.0.1:{port}.evil.example",
    "evil.example.127.0.0.1:{port}",
    "[::1]:{port}",
    "0.0.0.0:{port}",
    "127.0.0.2:{port}",
    "127.1:{port}",
    "2130706433:{port}",
    "localhost.:{port}",
    "127.0.0.1:{port}:{port}",
    "127.0.0.1:0{port}",
    "127.0.0.1:{port}\\evil",
    "127.0.0.1:{port}@evil.example",
]


async def test_every_route_refuses_a_foreign_host_even_with_full_credentials(world: World) -> None:
    """DNS rebinding: every route (GET and HEAD included) answers 421 to any Host but its own, and acts not."""
    before = world.snapshot()
    failures: list[str] = []
    attempts = 0
    for method, template in ROUTES:
        path = world.path(template)
        for pattern in WRONG_HOSTS:
            host = pattern.format(port=world.port, other=world.port + 1)
            status, _, _ = await world.send(
                method, path, host=host, **await world.full_credentials(host, method, template)
            )
            attempts += 1
            if status != 421:
                failures.append(f"{method} {path} Host={host!r} -> {status}")
        # The control: with its own Host and no credentials, the same route is reached (not 421).
        status, _, _ = await world.send(method, path)
        if status == 421:
            failures.append(f"{method} {path} refused its own Host")
    assert not failures, "\n".join(failures)
    assert attempts >= 40 * len(WRONG_HOSTS)
    assert world.snapshot() == before


async def test_no_response_anywhere_carries_cors_headers(world: World) -> None:
    before = world.snapshot()
    seen = 0
    for method, template in ROUTES:
        path = world.path(template)
        for origin in ("https://evil.example", "null", f"http://127.0.0.1:{world.port}", EXT_ORIGIN):
            for extra in ({}, CLIENT, {**CLIENT, **world.stale_signature()}):
                for verb in (method, "OPTIONS"):
                    headers = {
                        **extra,
                        "Origin": origin,
                        "Access-Control-Request-Method": "POST",
                        "Access-Control-Request-Headers": "content-type,authorization,x-kinchart-client",
                    }
                    status, got, _ = await world.send(verb, path, headers=headers)
                    seen += 1
                    cors = [h for h in got if h.lower().startswith("access-control-")]
                    assert not cors, f"{verb} {path} Origin={origin}: {cors}"
                    if verb == "OPTIONS":
                        assert status >= 400, f"a preflight to {path} was answered {status}"
    assert seen > 500
    assert world.snapshot() == before


async def test_every_api_route_refuses_web_origins(world: World) -> None:
    before = world.snapshot()
    for method, template in API_ROUTES:
        if method == "HEAD":
            continue
        for origin in (
            "https://evil.example",
            "http://evil.example",
            "null",
            f"http://127.0.0.1:{world.port}",
            f"http://localhost:{world.port}",
            "file://",
            "https://chrome-extension.evil.example",
            "http://chrome-extension://x",
        ):
            creds = await world.full_credentials(f"127.0.0.1:{world.port}", method, template)
            creds["headers"]["Origin"] = origin
            status, _headers, body = await world.send(method, world.path(template), **creds)
            assert status == 403, f"{method} {template} from {origin} -> {status}"
            assert json.loads(body)["error"] == "forbidden_origin"
            assert b"key" not in body.lower()
    assert world.snapshot() == before


async def test_a_signed_request_from_another_extension_or_without_origin_is_refused(world: World) -> None:
    """Every API route but ping refuses a caller without the paired extension's Origin, even with a valid
    signature on a fresh nonce: before keys, a stolen token read /api/members without any Origin."""
    before = world.snapshot()
    for origin in (
        "chrome-extension://ponmlkjihgfedcbaponmlkjihgfedcba",
        "moz-extension://0f0f0f0f-0000-4000-8000-0f0f0f0f0f0f",
        EXT_ORIGIN + ".evil",
        EXT_ORIGIN.upper(),
        None,
    ):
        for method, template in API_ROUTES:
            if (method, template) in {("GET", "/api/ping"), ("HEAD", "/api/ping"), ("POST", "/api/pair")}:
                continue
            creds = await world.full_credentials(f"127.0.0.1:{world.port}", method, template)
            if origin is None:
                creds["headers"].pop("Origin")
            else:
                creds["headers"]["Origin"] = origin
            status, _, raw = await world.send(method, world.path(template), **creds)
            assert status == 403, f"{method} {template} from {origin} -> {status}"
            if method != "HEAD":
                assert json.loads(raw)["error"] in {"forbidden_origin", "no_origin"}
    assert world.snapshot() == before


@pytest.mark.parametrize("param", sorted(TOKEN_PARAMS | {"Token", "ACCESS_TOKEN"}))
async def test_a_token_in_the_query_string_is_refused(world: World, param: str) -> None:
    before = world.snapshot()
    for method, template in API_ROUTES:
        if method == "HEAD":
            continue
        creds = await world.full_credentials(f"127.0.0.1:{world.port}", method, template)
        status, _, body = await world.send(method, f"{world.path(template)}?{param}={'x' * 43}", **creds)
        assert status == 400, f"{method} {template}?{param}= -> {status}"
        assert json.loads(body)["error"] == "token_in_url"
    assert world.snapshot() == before


def _comparable(status: int, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
    return status, {k.lower(): v for k, v in headers.items() if k.lower() != "date"}, body


async def test_without_the_client_header_nothing_says_kinchart_runs_here(world: World) -> None:
    """The 404 for /api/ping without the header is byte-identical (but for Date) to an unknown path's."""
    unknown = _comparable(*await world.send("GET", "/no-such-page-at-all"))
    assert unknown[0] == 404
    ping = _comparable(*await world.send("GET", "/api/ping"))
    assert ping == unknown, f"\nping:    {ping}\nunknown: {unknown}"
    # And the same for every API route, every method, with or without other credentials.
    for method, template in API_ROUTES:
        for verb in {method, "GET", "POST", "OPTIONS", "PUT", "DELETE"}:
            for extra in (
                {},
                {"Origin": EXT_ORIGIN, **world.stale_signature()},
                {"Origin": "https://evil.example"},
            ):
                got = _comparable(*await world.send(verb, world.path(template), headers=extra))
                other = _comparable(*await world.send(verb, "/no-such-page-at-all", headers=extra))
                assert got == other, f"{verb} {template} {extra}"
                assert b"kinchart" not in got[2].lower() and not any(
                    "kinchart" in k or "kinchart" in v.lower() for k, v in got[1].items()
                )
    # An empty or blank client header is no header.
    for value in ("", " "):
        got = _comparable(*await world.send("GET", "/api/ping", headers={"X-Kinchart-Client": value}))
        assert got == unknown, repr(value)


@pytest.mark.parametrize(
    "path",
    [
        "/%61pi/ping",
        "/api/%70ing",
        "//api/ping",
        "/static/../api/ping",
        "/API/ping",
        "/api/ping/",
        "/api//ping",
        "/./api/ping",
        "/api/ping%00",
        "/api/ping;x",
        "/api/./ping",
        "/x/../api/ping",
        "/%2Fapi/ping",
        "/api%2Fping",
    ],
)
async def test_path_tricks_never_reach_the_api_without_the_header(world: World, path: str) -> None:
    status, headers, body = await world.send("GET", path)
    assert b"kinchart" not in body.lower()
    assert "X-Kinchart-Bridge" not in headers
    assert status in {400, 404}


async def test_pairing_never_hands_a_key_to_a_caller_without_the_code(world: World) -> None:
    pairing = Pairing(world.vault_dir)
    code = pairing.new_code()
    clients_before = len(pairing.clients())
    tries = [
        ({**CLIENT, "Origin": EXT_ORIGIN}, {"code": None}),
        ({**CLIENT, "Origin": EXT_ORIGIN}, {"code": 123456}),
        ({**CLIENT, "Origin": EXT_ORIGIN}, {"code": int(code)}),
        ({**CLIENT, "Origin": EXT_ORIGIN}, {"code": ""}),
        ({**CLIENT, "Origin": EXT_ORIGIN}, {"code": [code]}),
        ({**CLIENT, "Origin": EXT_ORIGIN}, {}),
        ({**CLIENT, "Origin": EXT_ORIGIN}, [code]),
    ]
    for headers, body in tries:
        status, _, raw = await world.send("POST", "/api/pair", headers=headers, json_body=body)
        assert status in {400, 403, 429} and b'key"' not in raw, (body, status, raw)
    # The right code from a web page, without an Origin, without the client header, or from the wrong
    # Host, or compressed: no key.
    for headers, host in [
        ({**CLIENT, "Origin": "https://evil.example"}, None),
        (CLIENT, None),
        ({"Origin": EXT_ORIGIN}, None),
        ({**CLIENT, "Origin": EXT_ORIGIN}, "evil.example"),
        ({**CLIENT, "Origin": EXT_ORIGIN, "Content-Encoding": "identity, gzip"}, None),
    ]:
        status, _, raw = await world.send(
            "POST", "/api/pair", headers=headers, host=host, json_body={"code": code}
        )
        assert status in {403, 404, 415, 421} and b'key"' not in raw, (headers, status)
    # As a form or text/plain (what a web page can send without a preflight): 415, no token.
    for ctype, data in [
        ("application/x-www-form-urlencoded", f"code={code}"),
        ("text/plain", json.dumps({"code": code})),
        (
            "multipart/form-data; boundary=x",
            f"--x\r\nContent-Disposition: form-data; name=code\r\n\r\n{code}\r\n--x--",
        ),
    ]:
        status, _, raw = await world.send(
            "POST", "/api/pair", headers={**CLIENT, "Origin": EXT_ORIGIN, "Content-Type": ctype}, data=data
        )
        assert status == 415 and b'key"' not in raw
    assert len(Pairing(world.vault_dir).clients()) == clients_before
    # The code still works for the real extension afterwards (fewer than 5 wrong codes were typed).
    status, _, raw = await world.send(
        "POST",
        "/api/pair",
        headers={**CLIENT, "Origin": EXT_ORIGIN},
        json_body={"code": code, "client_name": "real"},
    )
    assert status == 201 and json.loads(raw)["key"]
    # Single use: the same code, again, by anyone, gets no second key.
    for origin in (EXT_ORIGIN, "chrome-extension://ponmlkjihgfedcbaponmlkjihgfedcba"):
        status, _, raw = await world.send(
            "POST",
            "/api/pair",
            headers={**CLIENT, "Origin": origin},
            json_body={"code": code, "client_name": "again"},
        )
        assert status == 403 and b'key"' not in raw
    assert len(Pairing(world.vault_dir).clients()) == clients_before + 1


async def test_lockout_survives_correct_guesses_and_a_new_code_resets_it(world: World) -> None:
    pairing = Pairing(world.vault_dir)
    code = pairing.new_code()
    wrong = [f"{(int(code) + i) % 1_000_000:06d}" for i in range(1, 40)]
    statuses = []
    for guess in wrong:
        status, _, raw = await world.send(
            "POST", "/api/pair", headers={**CLIENT, "Origin": EXT_ORIGIN}, json_body={"code": guess}
        )
        statuses.append(status)
        assert b'key"' not in raw
    assert statuses[:4] == [403] * 4 and set(statuses[4:]) == {429}
    status, _, _ = await world.send(
        "POST", "/api/pair", headers={**CLIENT, "Origin": EXT_ORIGIN}, json_body={"code": code}
    )
    assert status == 429
    fresh = pairing.new_code()
    status, _, _ = await world.send(
        "POST", "/api/pair", headers={**CLIENT, "Origin": EXT_ORIGIN}, json_body={"code": fresh}
    )
    assert status == 201


async def test_a_revoked_key_stops_on_every_route_at_once(world: World) -> None:
    status, _ = await world.client.acall(world.session, world.base, "POST", "/api/members")
    assert status == 200
    # Signed before the revocation, sent after it: refused too.
    early = await world.client.aprepare(world.session, world.base, "POST", "/api/members")
    Pairing(world.vault_dir).revoke(world.client.client_id)
    before = world.snapshot()
    for method, template in API_ROUTES:
        if (method, template) in {("GET", "/api/ping"), ("HEAD", "/api/ping"), ("POST", "/api/pair")}:
            continue
        if template == "/api/hello":
            creds = await world.full_credentials(f"127.0.0.1:{world.port}", method, template)
        else:  # signed as the extension would, with a nonce it could no longer get
            creds = {
                "headers": {
                    **world.client.base_headers(),
                    **world.stale_signature(),
                    "Content-Type": "application/vnd.kinchart.sealed",
                },
                "data": b"",
            }
        status, _, _ = await world.send(method, world.path(template), **creds)
        assert status == 401, f"{method} {template} -> {status}"
    status, _, _ = await world.send("POST", early.path, headers=early.headers, data=early.body)
    assert status == 401
    assert world.snapshot() == before


async def test_dashboard_forms_refuse_cross_site_posts_with_the_session_cookie(world: World) -> None:
    """Even if a browser did send the session cookie, a form POST from another site changes nothing."""
    before = world.snapshot()
    own = f"127.0.0.1:{world.port}"
    variants = [
        {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
        {"Origin": "null", "Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Origin": f"http://{own}", "Sec-Fetch-Site": "cross-site"},
        {"Origin": f"http://{own}", "Sec-Fetch-Site": "same-site"},
        {"Origin": f"http://{own}"},
        {"Origin": f"http://localhost:{world.port}", "Sec-Fetch-Site": "same-origin"},
    ]
    for _, template in POST_PAGES:
        for headers in variants:
            creds = await world.full_credentials(own, "POST", template)
            creds["headers"] = headers
            status, _, _ = await world.send("POST", world.path(template), **creds)
            assert status in {403, 303}, f"{template} {headers} -> {status}"
            # (303 only where the route sends every visitor without a session to /unlock first)
        creds = await world.full_credentials(own, "POST", template)
        creds["data"] = {**creds["data"], "csrf": "not-the-token"}
        status, _, _ = await world.send("POST", world.path(template), **creds)
        assert status in {403, 303}, f"{template} wrong csrf -> {status}"
    assert world.snapshot() == before


async def test_a_session_cookie_alone_does_not_open_the_dashboard(world: World) -> None:
    """A caller that never typed the passphrase (another local user, a local process) gets no records
    from the dashboard, even while the vault is unlocked for the caregiver's own session."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as stranger:
        h = {"Host": f"127.0.0.1:{world.port}"}
        async with stranger.get(f"{world.base}/unlock", headers=h, allow_redirects=False) as r:
            assert r.status == 200
        async with stranger.get(f"{world.base}/members", headers=h, allow_redirects=False) as r:
            body = await r.text()
            assert r.status in {303, 401, 403}, f"/members answered {r.status} without the passphrase"
            assert "Synthetic Member" not in body


async def test_anonymous_sessions_stay_bounded(world: World) -> None:
    """Any page can make the bridge start a session per <img> of /unlock: the number kept is bounded."""
    from bridge.server.sessions import MAX_ANONYMOUS, SESSIONS

    async with aiohttp.ClientSession() as anon:  # no cookie jar use: a fresh session each time
        h = {"Host": f"127.0.0.1:{world.port}"}
        for _ in range(MAX_ANONYMOUS + 50):
            async with anon.get(f"{world.base}/unlock", headers=h, allow_redirects=False) as r:
                assert r.status == 200
    assert len(world.server.app[SESSIONS]._by_id) <= MAX_ANONYMOUS + 5
