"""Issue 13, item 2: a program other than the paired bridge, listening on the bridge's port while Kinchart is
stopped and answering exactly like Kinchart (its ping answer and headers copied byte for byte from the real
bridge, and a real hello answer replayed), gets neither the pairing key nor any page content, and the popup
never claims a save. The real extension in headless Chromium, a real `kinchart serve`, a Python impostor.

Also: a browser paired with a bearer token (before keys) is told to pair again, and sends nothing."""

from __future__ import annotations

import http.server
import json
import os
import threading
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from api_client import ApiClient, b64u, unb64u
from conftest import Bridge, ExtensionBrowser, PortalServer

pytestmark = pytest.mark.browser

MYCHART = ("epic_mychart", "test_result_cbc_classic")
PATIENT = "O'Brien"  # the fixture's (synthetic) patient, in the page the caregiver saves
SAVES = 3


def _raw(
    port: int, method: str, path: str, body: bytes | None, headers: dict[str, str]
) -> tuple[int, list[tuple[str, str]], bytes]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, headers=headers, method=method)
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.status, list(resp.headers.items()), resp.read()


class Impostor:
    """Answers on a port like Kinchart: the real bridge's ping answer (status, every header, body), a real
    hello answer (replayed, or with a forged proof), and a plausible receipt to anything else. Records
    every request it receives."""

    def __init__(
        self,
        port: int,
        ping: tuple[int, list[tuple[str, str]], bytes],
        hello: tuple[int, list[tuple[str, str]], bytes],
        mode: str,
    ) -> None:
        self.received: list[dict[str, Any]] = []
        impostor = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
                self.send_response(status)
                for name, value in headers:
                    if name.lower() not in {"content-length", "date", "server"}:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _record(self) -> bytes:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                impostor.received.append(
                    {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
                )
                return body

            def do_GET(self) -> None:
                self._record()
                self._answer(*ping)

            def do_POST(self) -> None:
                body = self._record()
                status, headers, answer = hello
                if self.path == "/api/hello" and mode == "forged_proof":
                    sent = json.loads(body)
                    forged = json.loads(answer) | {
                        "server_nonce": b64u(os.urandom(32)),
                        "proof": b64u(os.urandom(32)),
                    }
                    assert set(sent) == {"client_id", "client_nonce"}
                    answer = json.dumps(forged).encode()
                elif self.path != "/api/hello":
                    status, answer = (
                        201,
                        json.dumps(
                            {
                                "capture_id": "0" * 64,
                                "summary": "Saved 1 result for Francis",
                                "counts": {"test_result": 1},
                            }
                        ).encode(),
                    )
                self._answer(status, headers, answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _pair(eb: ExtensionBrowser, bridge: Bridge) -> None:
    eb.set_port(bridge.port)
    popup = eb.open_popup(None)
    popup.get_by_label("Pairing code").fill(bridge.pair_code())
    popup.get_by_role("button", name="Pair").click()
    popup.wait_for_selector("#status[data-state='connected']")


@pytest.fixture
def paired(extension: ExtensionBrowser, bridge: Bridge) -> Iterator[ExtensionBrowser]:
    _pair(extension, bridge)
    yield extension


@pytest.mark.parametrize("mode", ["replayed_hello", "forged_proof"])
def test_an_impostor_on_the_port_learns_nothing_and_no_save_is_claimed(
    paired: ExtensionBrowser, bridge: Bridge, portal_server: PortalServer, mode: str
) -> None:
    local = paired.local_storage()
    origin = f"chrome-extension://{paired.extension_id}"
    client = ApiClient(local["client_id"], unb64u(local["key"]), origin, "extension/0.1.0")
    # What the impostor copies from the real bridge: its ping answer and a real hello answer (as any local
    # program could record them, e.g. by asking for them itself while Kinchart ran).
    ping = _raw(bridge.port, "GET", "/api/ping", None, {"X-Kinchart-Client": "extension/0.1.0"})
    _, hello_body = client.hello_request()
    hello = _raw(
        bridge.port,
        "POST",
        "/api/hello",
        hello_body,
        {"X-Kinchart-Client": "extension/0.1.0", "Origin": origin, "Content-Type": "application/json"},
    )
    assert hello[0] == 200 and json.loads(hello[2])["proof"]
    bridge.stop()
    impostor = Impostor(bridge.port, ping, hello, mode)
    try:
        url = portal_server.add_fixture(*MYCHART)
        page, tab_id = paired.open_tab(url)
        assert PATIENT in page.content()
        paired.click_action(page)
        popup = paired.open_popup(tab_id)
        status = popup.locator("#status")
        assert status.get_attribute("data-state") == "not_verified"
        assert "not your paired Kinchart" in status.inner_text()
        results = []
        popup.get_by_role("button", name="Save to family record").click()
        popup.wait_for_selector("#result:not([hidden])")
        popup.wait_for_selector("#save:enabled")
        title = popup.locator("#result-title").inner_text()
        assert title.startswith("Not saved yet: The program answering on Kinchart's port could not prove"), (
            title
        )
        assert popup.locator("#result").get_attribute("data-kind") == "waiting"
        results.append(paired.session_storage()["last"])
        for _ in range(SAVES - 1):
            paired.click_action(page)
            results.append(paired.sw("id => self.kinchart.saveTab(id)", tab_id))
        results.append(paired.sw("self.kinchart.deliverPending()"))
        claimed = [r for r in results if r.get("ok") or r.get("delivered")]
        assert claimed == [], claimed
        assert paired.badge(tab_id)["text"] != "?" and "Saved" not in paired.badge(tab_id)["title"]
    finally:
        impostor.close()

    received = impostor.received
    assert received, "the impostor was asked (so the test really reached it)"
    # Only the harmless ping and the hello challenge reached it: no page, no member request, no key.
    assert {(r["method"], r["path"]) for r in received} <= {("GET", "/api/ping"), ("POST", "/api/hello")}
    everything = b"".join(r["body"] + json.dumps(r["headers"]).encode() for r in received)
    key = unb64u(local["key"])
    for secret in (local["key"].encode(), key, key.hex().encode(), b64u(key).encode()):
        assert secret not in everything
    assert PATIENT.encode() not in everything and b"<html" not in everything.lower()
    assert not any("Authorization" in r["headers"] for r in received)
    for r in received:
        if r["path"] == "/api/hello":
            assert set(json.loads(r["body"])) == {"client_id", "client_nonce"}
    hellos = sum(r["path"] == "/api/hello" for r in received)
    print(
        f"impostor ({mode}): {SAVES} saves + 1 delivery tried, {hellos} hellos answered, 0 saves claimed, "
        f"0 page bytes and 0 key bytes received"
    )

    # The page was kept in memory only, and the real bridge gets it once it is back.
    assert len(paired.session_storage()["pending"]) == SAVES
    bridge.start()
    delivered = paired.sw("self.kinchart.deliverPending()")
    assert delivered["delivered"] == SAVES and delivered["waiting"] == 0


def test_a_browser_paired_with_a_bearer_token_is_told_to_pair_again(
    extension: ExtensionBrowser, bridge: Bridge, portal_server: PortalServer
) -> None:
    extension.set_port(bridge.port)
    extension.sw("chrome.storage.local.set({token: 'an-old-bearer-token'})")
    page, tab_id = extension.open_tab(portal_server.add_fixture(*MYCHART))
    extension.click_action(page)
    popup = extension.open_popup(tab_id)
    status = popup.locator("#status")
    assert status.get_attribute("data-state") == "pair_again"
    assert "pair this browser again" in status.inner_text()
    assert popup.locator("#pairing").is_visible()
    popup.get_by_role("button", name="Save to family record").click()
    popup.wait_for_selector("#result:not([hidden])")
    assert popup.locator("#result-title").inner_text().startswith("Not saved: Kinchart was updated")
    popup.get_by_label("Pairing code").fill(bridge.pair_code())
    popup.get_by_role("button", name="Pair").click()
    popup.wait_for_selector("#status[data-state='connected']")
    assert set(extension.local_storage()) == {"port", "client_id", "key"}
