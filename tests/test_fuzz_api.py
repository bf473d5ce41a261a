"""Issue 8, API fuzzing: hypothesis throws random JSON shapes and values, random bytes, random content
types and random headers at the capture API of a real app (aiohttp TestServer on loopback, a real
encrypted vault). The status is always one of 200, 201, 400, 413, 415 (or the guards' 401/403/404
where the headers say so); never a 500, never a hang; every error is the API's JSON error shape."""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import api_client
import pytest
from aiohttp.test_utils import TestServer, unused_port
from bridge_helpers import CLIENT, EXT_ORIGIN, make_config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.server import init_app
from bridge.server.pairing import Pairing
from bridge.server.state import STATE

OK = {200, 201, 400, 413, 415}


class Server:
    """The real app on a background event loop, so that hypothesis (synchronous) can drive it."""

    def __init__(self, vault_dir: Path) -> None:
        self.port = unused_port()
        self.vault_dir = vault_dir
        self.loop = asyncio.new_event_loop()
        self.app = init_app(make_config(vault_dir, self.port, max_body=2 * 1024 * 1024))
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = TestServer(self.app, host="127.0.0.1", port=self.port)
        asyncio.run_coroutine_threadsafe(self.server.start_server(), self.loop).result(30)
        self.base = f"http://127.0.0.1:{self.port}"
        self.client = api_client.pair(self.base, Pairing(vault_dir).new_code(), EXT_ORIGIN)

    def signed(
        self, path: str, raw: bytes, content_type: str | None = None, seal: bool = True
    ) -> tuple[int, Any]:
        """`raw` as the body of a request signed on a fresh nonce: sealed (the bridge decodes exactly these
        bytes), or sent as they are in place of a sealed body; the Content-Type replaced if given."""
        signed = self.client.prepare(self.base, "POST", path, raw if seal else None)
        if not seal:
            signed = self.client.sign("POST", path, signed.client_nonce, signed.server_nonce, raw, seal=False)
        headers = {**signed.headers, **({"Content-Type": content_type} if content_type is not None else {})}
        status, ctype, answer = api_client.send(self.base, "POST", path, signed.body, headers, 60)
        return status, self.client.open(signed, status, ctype, answer)

    def send(
        self, path: str, data: bytes | None, headers: dict[str, str], method: str = "POST"
    ) -> tuple[int, Any]:
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", data=data, headers=headers, method=method
        )
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                raw = r.read()
                return r.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                return exc.code, json.loads(raw)
            except ValueError:
                return exc.code, raw[:300]

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    s = Server(tmp_path_factory.mktemp("fuzz") / "vault")
    yield s
    s.close()


def assert_answer(status: int, body: Any, allowed: set[int] = OK) -> None:
    assert status in allowed, (status, body)
    if status >= 400:
        assert isinstance(body, dict) and isinstance(body.get("error"), str) and body.get("message"), (
            status,
            body,
        )
    else:
        assert isinstance(body, dict) and len(body["capture_id"]) == 64, body


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=50),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=20),
)
json_values = st.recursive(
    scalars,
    lambda c: st.lists(c, max_size=5) | st.dictionaries(st.text(max_size=10), c, max_size=5),
    max_leaves=30,
)
urls = st.one_of(
    st.sampled_from(
        [
            "https://mychart.lakesidehealth.example/MyChart/app/test-results/details",
            "https://portal.unknown.example/x",
            "",
            "not a url",
            "http://[::1",
            "javascript:x",
            "https://a.example:99999/",
            "file:///etc/passwd",
            "https://ü.example/ä?b=%ZZ",
            "x" * 9000,
        ]
    ),
    st.text(max_size=100),
)
frame = st.fixed_dictionaries(
    {},
    optional={
        "url": st.one_of(urls, json_values),
        "html": st.one_of(
            st.text(max_size=500),
            json_values,
            st.sampled_from(
                [
                    "<p>Potassium 4.1 mmol/L</p>",
                    "<table><tr><td>x</td></tr></table>",
                    "\x00" * 10,
                    "<div>" * 3000,
                ]
            ),
        ),
    },
)
capture_like = st.fixed_dictionaries(
    {},
    optional={
        "url": st.one_of(urls, json_values),
        "title": st.one_of(st.none(), st.text(max_size=50), json_values, st.just("t" * 5000)),
        "captured_at": st.one_of(
            st.none(), st.sampled_from(["2026-01-01T00:00:00Z", "yesterday", "", "x" * 100]), json_values
        ),
        "frames": st.one_of(
            st.lists(frame, max_size=4), json_values, st.lists(frame, min_size=65, max_size=70)
        ),
        "extension_version": st.one_of(st.none(), st.text(max_size=10), json_values),
        "extra": json_values,
    },
)


good_urls = st.sampled_from(
    [
        "https://mychart.lakesidehealth.example/MyChart/app/test-results/details?eorderid=x",
        "https://98213-1.portal.athenahealth.com/test-results/lab/5501234",
        "https://portal.unknown.example/letters/1",
        "https://a.example/%ZZ?q=\u00fc#f",
    ]
)
html_ish = st.one_of(
    st.text(max_size=400),
    st.lists(
        st.sampled_from(
            [
                "<p>",
                "</p>",
                "<table>",
                "<tr>",
                "<td>",
                "Potassium",
                "4.1",
                "mmol/L",
                "3.5-5.0",
                "H",
                "<div class='x'>",
                "</div>",
                "\x00",
                "\ud800",
                "&#0;",
                "Name: Zoë",
                "01/02/2025",
                "<iframe src='x'>",
                "<script>x</script>",
            ]
        ),
        max_size=60,
    ).map("".join),
)
valid_ish = st.fixed_dictionaries(
    {
        "url": good_urls,
        "frames": st.lists(
            st.fixed_dictionaries({"html": html_ish}, optional={"url": good_urls}), min_size=1, max_size=3
        ),
    },
    optional={
        "title": st.one_of(st.none(), st.text(max_size=40)),
        "captured_at": st.one_of(st.none(), st.text(max_size=30)),
        "extension_version": st.text(max_size=10),
        "unknown_field": json_values,
    },
)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
@given(body=st.one_of(valid_ish, capture_like, json_values))
def test_random_json_never_breaks_the_capture_api(server: Server, body: Any) -> None:
    status, answer = server.signed("/api/captures", json.dumps(body).encode())
    assert_answer(status, answer)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    raw=st.one_of(
        st.binary(max_size=2000),
        st.text(max_size=500).map(lambda t: t.encode("utf-8", "surrogatepass")),
        st.binary(min_size=1, max_size=50).map(
            lambda b: b'{"url": "https://x.example", "frames": [{"html": "' + b + b'"}]}'
        ),
    ),
    content_type=st.sampled_from(
        [
            "application/json",
            "application/json; charset=utf-8",
            "application/json; charset=latin-1",
            "text/plain",
            "",
            "multipart/form-data",
            "application/x-www-form-urlencoded",
            "APPLICATION/JSON",
            "application/jsonx",
            api_client.SEALED,
            api_client.SEALED + "; charset=utf-8",
        ]
    ),
    sealed=st.booleans(),
)
def test_random_bytes_and_content_types_never_break_the_capture_api(
    server: Server, raw: bytes, content_type: str, sealed: bool
) -> None:
    status, answer = server.signed("/api/captures", raw, content_type, seal=sealed)
    assert_answer(status, answer)
    if not sealed and raw and status != 415:  # bytes that are not a seal never reach the handler
        assert answer["error"] == "bad_seal", answer


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    path=st.sampled_from(
        [
            "/api/captures",
            "/api/pair",
            "/api/members",
            "/api/ping",
            "/api/captures/x/assign",
            "/api/captures/" + "a" * 64 + "/assign",
        ]
    ),
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]),
    body=json_values,
    header_set=st.lists(
        st.sampled_from(["client", "auth", "bad_auth", "origin", "web_origin", "json", "sealed"]), unique=True
    ),
)
def test_random_requests_to_every_api_route_get_a_deliberate_answer(
    server: Server, path: str, method: str, body: Any, header_set: list[str]
) -> None:
    headers: dict[str, str] = {}
    if "client" in header_set:
        headers.update(CLIENT)
    signed = None
    if "auth" in header_set:
        signed = server.client.prepare(server.base, method, path, body)
        headers.update(
            {
                k: v
                for k, v in signed.headers.items()
                if k.startswith("X-Kinchart-") and k != "X-Kinchart-Client"
            }
        )
    if "bad_auth" in header_set:
        headers.update(
            {
                "X-Kinchart-Client-Id": server.client.client_id,
                "X-Kinchart-Nonce": "x" * 43,
                "X-Kinchart-Mac": "y" * 43,
            }
        )
    if "sealed" in header_set:
        headers["Content-Type"] = api_client.SEALED
    if "origin" in header_set:
        headers["Origin"] = EXT_ORIGIN
    if "web_origin" in header_set:
        headers["Origin"] = "https://evil.example"
    if "json" in header_set:
        headers["Content-Type"] = "application/json"
    data = json.dumps(body).encode() if method in {"POST", "PUT", "PATCH", "DELETE"} else None
    if signed is not None and data is not None:
        data = signed.body
    status, ctype, raw = api_client.send(server.base, method, path, data, headers, 60)
    answer: Any = raw
    if ctype == api_client.SEALED:
        assert signed is not None, "only a verified request gets a sealed answer"
        answer = server.client.open(signed, status, ctype, raw)
    assert status < 500, (method, path, header_set, status, answer)
    if "client" not in header_set:
        assert status == 404 and answer == b"404: Not Found"


def test_after_the_fuzzing_the_vault_is_whole(server: Server) -> None:
    state = server.app[STATE]
    assert state.vault is not None
    state.vault.check()  # every blob decrypts and authenticates
    for row in state.vault.list_captures():
        assert row.meta.get("parser"), row.id  # every stored capture finished its parse
