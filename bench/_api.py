"""How the benchmarks speak the bridge's API (docs/api.md): the test suite's client, tests/api_client.py
(pairing key, hello, signed and sealed requests, sealed answers), plus the timings a benchmark needs,
which that client does not keep: the hello's round trip, the signed request's, and the bridge's own
Server-Timing for it.
"""

from __future__ import annotations

import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from _common import REPO

sys.path.insert(0, str(REPO / "tests"))
from api_client import DEFAULT_ORIGIN, ApiClient, NotVerified, pair, send, unb64u

__all__ = [
    "BENCH_CLIENT",
    "DEFAULT_ORIGIN",
    "ApiClient",
    "NotVerified",
    "TimedCall",
    "client_from_storage",
    "pair",
    "send",
    "timed_call",
    "wait_for_ping",
]

BENCH_CLIENT = "bench/1"


@dataclass
class TimedCall:
    status: int
    answer: Any
    hello: float  # POST /api/hello sent until its proof checked, seconds
    post: float  # the signed request sent until its whole (sealed) answer read, seconds
    server: float | None  # the bridge's Server-Timing for the request, seconds (None if it sent none)


def client_from_storage(storage: dict[str, Any], origin: str) -> ApiClient:
    """The pairing the extension keeps in chrome.storage.local (extension/bridge.js: client_id, key)."""
    return ApiClient(storage["client_id"], unb64u(storage["key"]), origin, BENCH_CLIENT)


def timed_call(client: ApiClient, base: str, method: str, path: str, body: Any = None) -> TimedCall:
    """One request as the extension makes it (hello, then the signed and sealed request), timed."""
    t0 = time.perf_counter()
    client_nonce, server_nonce = client.hello(base)
    hello = time.perf_counter() - t0
    signed = client.sign(method, path, client_nonce, server_nonce, body)
    client.sent.clear()  # the client keeps every request it signed (for replay tests); a benchmark must not
    req = urllib.request.Request(base + path, data=signed.body, headers=signed.headers, method=method)
    t1 = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            status, headers, raw = resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as exc:
        status, headers, raw = exc.code, exc.headers, exc.read()
    post = time.perf_counter() - t1
    answer = client.open(signed, status, headers.get_content_type(), raw)
    return TimedCall(status, answer, hello, post, _server_timing(headers.get("Server-Timing")))


def _server_timing(value: str | None) -> float | None:
    """`bridge;dur=12.3` (milliseconds) in seconds."""
    if not value or "dur=" not in value:
        return None
    return float(value.split("dur=", 1)[1].split(";")[0].split(",")[0]) / 1000


def wait_for_ping(base: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            status, _, _ = send(base, "GET", "/api/ping", None, {"X-Kinchart-Client": BENCH_CLIENT}, 1)
            if status == 200:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"no bridge answered at {base} within {seconds:.0f} s")
        time.sleep(0.1)
