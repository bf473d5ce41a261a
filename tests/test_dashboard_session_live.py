"""Against a real `kinchart serve`: the bridge keeps answering while a passphrase is being tried (the
key derivation runs in a worker thread), and half-open or slow sockets cannot make it unreachable."""

from __future__ import annotations

import contextlib
import http.cookiejar
import re
import resource
import socket
import statistics
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from live_bridge import PASSPHRASE, LiveBridge

from bridge.server.connections import BODY_TIMEOUT, HEAD_TIMEOUT
from bridge.vault import Vault
from bridge.vault.kdf import KdfParams

# About 0.6 s per derivation on the project's machine: long enough that a blocked event loop shows.
SLOW_KDF = KdfParams("argon2id", memory_cost=128 * 1024, iterations=3, lanes=1)


@pytest.fixture
def slow_kdf_bridge(tmp_path: Path) -> Iterator[LiveBridge]:
    Vault.create(tmp_path / "vault", PASSPHRASE, kdf=SLOW_KDF).close()
    bridge = LiveBridge(tmp_path).start()
    try:
        yield bridge
    finally:
        bridge.stop()


@pytest.fixture
def bridge(tmp_path: Path) -> Iterator[LiveBridge]:
    bridge = LiveBridge(tmp_path).start()
    try:
        yield bridge
    finally:
        bridge.stop()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def unlock_once(bridge: LiveBridge) -> float:
    """Type the passphrase into the unlock form, like the caregiver; returns the seconds it took."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)
    with opener.open(bridge.base + "/unlock", timeout=30) as r:
        csrf = re.search(r'name="csrf" value="([^"]+)"', r.read().decode())
    assert csrf is not None
    form = urllib.parse.urlencode({"csrf": csrf.group(1), "passphrase": PASSPHRASE}).encode()
    req = urllib.request.Request(
        bridge.base + "/unlock", data=form, headers={"Origin": bridge.base, "Sec-Fetch-Site": "same-origin"}
    )
    started = time.monotonic()
    try:
        opener.open(req, timeout=30)
    except urllib.error.HTTPError as exc:  # the 303 to the dashboard, not followed
        assert exc.code == 303, exc.code
    return time.monotonic() - started


def ping_seconds(bridge: LiveBridge, timeout: float = 10) -> float:
    started = time.monotonic()
    status, _ = bridge.request("GET", "/api/ping", timeout=timeout)
    assert status == 200
    return time.monotonic() - started


def test_ping_stays_fast_while_a_passphrase_is_tried(slow_kdf_bridge: LiveBridge) -> None:
    bridge = slow_kdf_bridge
    unlock_times: list[float] = []
    done = threading.Event()

    def unlock_again_and_again() -> None:
        try:
            for _ in range(6):
                unlock_times.append(unlock_once(bridge))
        finally:
            done.set()

    worker = threading.Thread(target=unlock_again_and_again)
    worker.start()
    pings: list[float] = []
    while not done.is_set():
        pings.append(ping_seconds(bridge))
        time.sleep(0.02)
    worker.join()
    p50 = statistics.median(pings)
    print(
        f"unlock p50 {statistics.median(unlock_times):.3f} s; ping during it p50 {p50:.3f} s, n={len(pings)}"
    )
    assert statistics.median(unlock_times) > 0.3  # the derivation really was slow
    assert p50 < 0.1 and len(pings) >= 20


def test_half_open_sockets_do_not_make_the_bridge_unreachable(bridge: LiveBridge) -> None:
    """1,100 sockets that never finish a request, with the bridge held to a 1,024-file limit (a common
    default): the bridge still answers, quickly, and keeps the number it holds open bounded."""
    assert bridge.proc is not None
    resource.prlimit(bridge.proc.pid, resource.RLIMIT_NOFILE, (1024, 1024))
    sockets: list[socket.socket] = []
    try:
        for i in range(1100):
            s = socket.create_connection(("127.0.0.1", bridge.port), timeout=10)
            if i % 2:  # half send the start of a request head and stop there (slowloris)
                s.sendall(b"GET /api/ping HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            sockets.append(s)
        times = [ping_seconds(bridge, timeout=5) for _ in range(20)]
        print(
            f"half-open sockets: {len(sockets)}; ping p50 {statistics.median(times):.3f} s, max {max(times):.3f} s"
        )
        assert statistics.median(times) < 0.5 and max(times) < 5
        held = len(list(Path(f"/proc/{bridge.proc.pid}/fd").iterdir()))
        assert held < 1024 - 32, held
    finally:
        for s in sockets:
            s.close()
    assert ping_seconds(bridge) < 1


def _closed_by_peer(s: socket.socket, within: float) -> bool:
    """Whether the bridge closes the connection within `within` seconds (reading whatever it sends)."""
    deadline = time.monotonic() + within
    while (left := deadline - time.monotonic()) > 0:
        s.settimeout(left)
        try:
            if s.recv(65536) == b"":
                return True
        except TimeoutError:
            return False
        except ConnectionResetError:
            return True
    return False


def test_idle_and_slow_connections_are_closed(bridge: LiveBridge) -> None:
    """A connection that sends nothing, one that trickles a request head, and one that sends a head but
    trickles its body are each closed by the bridge, not held for as long as the sender likes."""
    idle = socket.create_connection(("127.0.0.1", bridge.port))
    slow_head = socket.create_connection(("127.0.0.1", bridge.port))
    slow_head.sendall(b"GET /api/ping HTTP/1.1\r\n")
    slow_body = socket.create_connection(("127.0.0.1", bridge.port))
    slow_body.sendall(
        # /api/pair reads its body before anything else
        f"POST /api/pair HTTP/1.1\r\nHost: 127.0.0.1:{bridge.port}\r\nX-Kinchart-Client: t/1\r\n"
        "Origin: chrome-extension://abcdefghijklmnopabcdefghijklmnop\r\n"
        "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{".encode()
    )
    started = time.monotonic()
    try:
        for _ in range(3):  # a header line or a byte now and then does not keep them open
            time.sleep(HEAD_TIMEOUT / 4)
            with contextlib.suppress(OSError):
                slow_head.sendall(b"X-Slow: 1\r\n")
            with contextlib.suppress(OSError):
                slow_body.sendall(b" ")
        assert _closed_by_peer(idle, HEAD_TIMEOUT + 5)
        assert _closed_by_peer(slow_head, HEAD_TIMEOUT + 5)
        assert _closed_by_peer(slow_body, BODY_TIMEOUT + 5)
        assert time.monotonic() - started < BODY_TIMEOUT + 10
    finally:
        for s in (idle, slow_head, slow_body):
            s.close()
    assert ping_seconds(bridge) < 1
