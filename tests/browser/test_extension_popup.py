"""The extension in a real headless Chromium, without a bridge: loading, status, capture, waiting."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
from api_client import SEALED, ApiClient, b64u
from capture_helper import EXTENSION_DIR, capture_session, serialize_function_source
from conftest import ExtensionBrowser, PortalServer, extension_copy, launch_extension
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

pytestmark = pytest.mark.browser

TOP = "http://portal.frames.example/record/overview"
SAME = "http://portal.frames.example/record/panel"
OTHER = "http://records.frames.example/record/results"


def pending(eb: ExtensionBrowser) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = eb.session_storage().get("pending", [])
    return items


def test_loads_with_the_pinned_id(extension: ExtensionBrowser) -> None:
    assert extension.extension_id == (EXTENSION_DIR / "EXTENSION_ID.txt").read_text().strip()
    assert extension.worker.url.endswith("/background.js")


def test_popup_says_bridge_not_running(extension: ExtensionBrowser) -> None:
    _, tab_id = extension.open_tab(TOP)
    popup = extension.open_popup(tab_id)
    status = popup.locator("#status")
    assert status.get_attribute("data-state") == "bridge_not_running"
    assert "not running" in status.inner_text()
    assert "start Kinchart" in status.inner_text()
    save = popup.get_by_role("button", name="Save to family record")
    assert save.is_visible() and save.is_enabled()
    # Keyboard first: the main action is reachable with Tab.
    popup.keyboard.press("Tab")
    assert popup.evaluate("document.activeElement.id") == "save"


def test_capture_needs_the_caregivers_click(extension: ExtensionBrowser) -> None:
    """No blanket access: without the toolbar click (activeTab) the page cannot be read."""
    _, tab_id = extension.open_tab(TOP)
    result = extension.sw("id => self.kinchart.saveTab(id)", tab_id)
    assert result["ok"] is False and result["queued"] is False
    assert result["code"] == "no_access"
    assert pending(extension) == []


def test_service_worker_capture_top_first_with_same_host_frame(extension: ExtensionBrowser) -> None:
    page, tab_id = extension.open_tab(TOP)
    page.frame_locator("#same").locator("#panel").wait_for()
    extension.click_action(page)
    result = extension.sw("id => self.kinchart.saveTab(id)", tab_id)

    # The bridge is not running: nothing is reported as saved, the capture waits in memory.
    assert result["ok"] is False
    assert result["queued"] is True
    assert result["code"] == "bridge_not_running"
    assert "Start Kinchart" in result["message"]
    assert any("records.frames.example" in n and "could not be read" in n for n in result["notes"])

    [item] = pending(extension)
    capture = item["capture"]
    assert capture["url"] == TOP
    assert capture["title"] == "Frames test: overview"
    assert capture["extension_version"] == "0.1.0"
    assert capture["captured_at"].endswith("Z")
    urls = [f["url"] for f in capture["frames"]]
    assert urls == [TOP, SAME], "top document first; the frame from another host is skipped"
    top_html = capture["frames"][0]["html"]
    assert top_html.startswith("<!DOCTYPE html>\n<html")
    assert "yes, after load" in top_html, "the DOM as rendered, after the page's scripts ran"
    assert "Same-host panel content" in capture["frames"][1]["html"]

    # The tests' helper runs the same function source: it gives the same serialization of the same DOM.
    helper_doc = page.evaluate(f"({serialize_function_source()})()")
    assert helper_doc["html"] == top_html

    # Medical content never reaches persistent storage.
    local = extension.local_storage()
    assert set(local) <= {"port", "client_id", "key"}
    badge = extension.badge()
    assert badge["text"] == "1"
    assert "waiting" in badge["title"]


def test_frame_from_another_host_is_captured_once_allowed(
    playwright_driver: Any, chromium_path: str | None, portal_server: PortalServer, tmp_path: Path
) -> None:
    """With a host permission for the record host (what "Allow and save again" grants), its frame is included."""
    ext_dir = extension_copy(tmp_path, extra_host_permissions=["http://records.frames.example/*"])
    with launch_extension(playwright_driver, chromium_path, ext_dir, portal_server.port) as eb:
        assert eb.extension_id == (EXTENSION_DIR / "EXTENSION_ID.txt").read_text().strip()
        page, tab_id = eb.open_tab(TOP)
        page.frame_locator("#other").locator("#results").wait_for()
        eb.click_action(page)
        result = eb.sw("id => self.kinchart.saveTab(id)", tab_id)
        assert result["queued"] is True
        assert not any("could not be read" in n for n in result["notes"])
        [item] = pending(eb)
        frames = item["capture"]["frames"]
        assert frames[0]["url"] == TOP
        assert sorted(f["url"] for f in frames[1:]) == sorted([SAME, OTHER])
        other = next(f for f in frames if f["url"] == OTHER)
        assert "Hemoglobin" in other["html"]
        assert 'data-frame-script="ran"' in other["html"]


def test_popup_save_without_bridge_says_so_and_keeps_it_waiting(extension: ExtensionBrowser) -> None:
    page, tab_id = extension.open_tab(TOP)
    extension.click_action(page)
    popup = extension.open_popup(tab_id)
    popup.get_by_role("button", name="Save to family record").click()
    result = popup.locator("#result")
    result.wait_for(state="visible")
    assert result.get_attribute("data-kind") == "waiting"
    text = result.inner_text()
    assert text.startswith("Not saved yet: Kinchart is not running")
    assert "memory" in text and "not on disk" in text
    assert "Saved" not in text.split("\n")[0]
    assert popup.locator("#waiting").inner_text() == "1 page is waiting to be sent to Kinchart."
    assert len(pending(extension)) == 1
    assert popup.evaluate("document.activeElement.id") == "result"


def test_page_too_large_is_refused_before_sending(
    extension: ExtensionBrowser, portal_server: PortalServer
) -> None:
    page, tab_id = extension.open_tab("http://portal.huge.example/records/everything")
    extension.click_action(page)
    result = extension.sw("id => self.kinchart.saveTab(id)", tab_id)
    assert result["ok"] is False and result["queued"] is False
    assert result["code"] == "too_large"
    assert "too large" in result["message"]
    assert pending(extension) == []
    assert extension.badge(tab_id)["text"] == "!"


def test_options_page_sets_the_port(extension: ExtensionBrowser) -> None:
    options = extension.open_options()
    options.get_by_label("Port Kinchart listens on (on 127.0.0.1)").fill("47999")
    options.get_by_role("button", name="Save port").click()
    options.locator("#port-ok").wait_for(state="visible")
    assert extension.local_storage()["port"] == 47999
    options.get_by_label("Port Kinchart listens on (on 127.0.0.1)").fill("99999")
    options.get_by_role("button", name="Save port").click()
    err = options.locator("#port-error")
    err.wait_for(state="visible")
    assert extension.local_storage()["port"] == 47999
    assert json.dumps(extension.local_storage()).count("html") == 0


def test_capture_helper_serializes_fixture_pages(playwright_driver: Any) -> None:
    """capture_helper (what the parser tests use) loads a page and serializes it, frames included."""
    pages = Path(__file__).resolve().parent / "pages"
    with capture_session(playwright_driver) as cap:
        doc = cap.serialize_file(
            pages / "unknown_portal.html", url="http://www.citypharmacy.example/account/prescriptions/history"
        )
        assert doc["url"] == "http://www.citypharmacy.example/account/prescriptions/history"
        assert doc["title"] == "Prescription history - City Pharmacy"
        assert doc["html"].startswith('<!DOCTYPE html>\n<html lang="en">')
        assert "Atorvastatin 20 mg" in doc["html"]
        doc = cap.serialize_html(
            "<!DOCTYPE html><title>x</title><p id=a></p><script>a.textContent='set'</script>"
        )
        assert '<p id="a">set</p>' in doc["html"]


def test_keyboard_shortcut_saves_like_the_button(extension: ExtensionBrowser) -> None:
    """The command is registered with its shortcut; its handler saves the tab (headless Chromium cannot
    press a browser shortcut, so the handler is called as the browser would call it)."""
    commands = {c["name"]: c for c in extension.sw("chrome.commands.getAll()")}
    assert commands["save-to-family-record"]["shortcut"] == "Alt+Shift+K"
    page, tab_id = extension.open_tab(TOP)
    extension.click_action(page)  # a shortcut grants activeTab like a click does
    result = extension.sw("id => self.kinchart.onCommand('save-to-family-record', {id})", tab_id)
    assert result["queued"] is True and result["code"] == "bridge_not_running"
    assert len(pending(extension)) == 1
    assert extension.badge()["text"] == "1"
    assert extension.sw("id => self.kinchart.onCommand('something-else', {id})", tab_id) is None


class FakeBridge:
    """Speaks the bridge's protocol (docs/api.md) with a pairing key the test gives the extension, and
    answers captures with a reply chosen by the test: sealed as the bridge would, or (`reply_mode`) sent
    unsealed or sealed for another status, as a program without the key or a replay would."""

    def __init__(self) -> None:
        import http.server
        import threading

        self.capture_reply: tuple[int, Any] = (201, {})
        self.reply_mode = "sealed"
        self.posts: list[dict[str, Any]] = []
        self.client = ApiClient("fake-client", os.urandom(32))
        issued: dict[str, str] = {}
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _send(self, status: int, data: bytes, ctype: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("X-Kinchart-Bridge", "0.1.0")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._send(
                    200, json.dumps({"name": "kinchart", "version": "0.1.0", "locked": False}).encode()
                )

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                c = fake.client
                if self.path == "/api/hello":
                    cn = json.loads(raw)["client_nonce"]
                    sn = b64u(os.urandom(32))
                    issued[sn] = cn
                    proof = c._mac("kinchart/hello/v1", c.client_id, cn, sn, "0")
                    answer = {"server_nonce": sn, "proof": proof, "locked": False, "version": "0.1.0"}
                    self._send(200, json.dumps(answer).encode())
                    return
                sn = self.headers["X-Kinchart-Nonce"]
                cn = issued.pop(sn)
                want = c._mac(
                    "kinchart/request/v1", "POST", self.path, c.client_id, sn, hashlib.sha256(raw).hexdigest()
                )
                assert want == self.headers["X-Kinchart-Mac"], "the extension's signature is wrong"
                aad = "\n".join(("kinchart/request-body/v1", "POST", self.path, c.client_id, sn)).encode()
                plain = AESGCM(c.seal_key).decrypt(raw[:12], raw[12:], aad) if raw else b"null"
                fake.posts.append(
                    {"path": self.path, "headers": dict(self.headers), "raw": raw, "body": json.loads(plain)}
                )
                status, body = fake.capture_reply
                data = json.dumps(body).encode()
                if fake.reply_mode == "plain":
                    self._send(status, data)
                    return
                sealed_for = status if fake.reply_mode == "sealed" else 200
                aad = "\n".join(("kinchart/response/v1", c.client_id, cn, sn, str(sealed_for))).encode()
                iv = os.urandom(12)
                self._send(status, iv + AESGCM(c.seal_key).encrypt(iv, data, aad), SEALED)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fake_bridge(extension: ExtensionBrowser) -> Any:
    fake = FakeBridge()
    extension.set_port(fake.port)
    extension.sw(
        "([id, key]) => chrome.storage.local.set({client_id: id, key})",
        [fake.client.client_id, b64u(fake.client.key)],
    )
    yield fake
    fake.close()


def test_an_answer_that_is_not_a_receipt_is_not_a_save(
    extension: ExtensionBrowser, fake_bridge: FakeBridge
) -> None:
    fake_bridge.capture_reply = (201, {"ok": True})
    page, tab_id = extension.open_tab(TOP)
    extension.click_action(page)
    result = extension.sw("id => self.kinchart.saveTab(id)", tab_id)
    assert result["ok"] is False and result["queued"] is False
    assert "not with a receipt" in result["message"]
    assert extension.badge(tab_id)["text"] == "!"
    # What was sent: the API's capture shape, sealed and signed, the client header, the extension's Origin,
    # and neither the key nor the page in clear.
    [post] = fake_bridge.posts
    assert post["path"] == "/api/captures"
    assert post["headers"]["X-Kinchart-Client"] == "extension/0.1.0"
    assert "Authorization" not in post["headers"]
    assert post["headers"]["Content-Type"] == SEALED
    assert post["headers"]["X-Kinchart-Client-Id"] == fake_bridge.client.client_id
    assert post["headers"]["Origin"] == f"chrome-extension://{extension.extension_id}"
    assert set(post["body"]) == {"url", "title", "captured_at", "frames", "extension_version"}
    assert b"Frames test" not in post["raw"] and b"<html" not in post["raw"].lower()
    assert b64u(fake_bridge.client.key).encode() not in post["raw"] + json.dumps(post["headers"]).encode()


@pytest.mark.parametrize("mode", ["plain", "sealed_for_another_status"])
def test_a_receipt_not_sealed_for_this_request_is_not_a_save(
    extension: ExtensionBrowser, fake_bridge: FakeBridge, mode: str
) -> None:
    """Even after a hello that checks out, a receipt sent in clear, or sealed for another answer (a replay),
    is never taken for a save: the page is kept waiting and the caregiver is told."""
    fake_bridge.reply_mode = mode
    fake_bridge.capture_reply = (201, {"capture_id": "0" * 64, "summary": "Saved 1 result for Francis"})
    page, tab_id = extension.open_tab(TOP)
    extension.click_action(page)
    result = extension.sw("id => self.kinchart.saveTab(id)", tab_id)
    assert result["ok"] is False and result["queued"] is True, result
    assert result["code"] == "not_verified"
    assert len(pending(extension)) == 1
    assert extension.badge(tab_id)["text"] != "?"


@pytest.mark.parametrize(
    ("status", "error", "expected"),
    [
        (413, "too_large", "This page is too large to save."),
        (423, "locked", "Kinchart is locked. Unlock it in the Kinchart dashboard, then try again."),
        (400, "bad_capture", "Kinchart could not read what the extension sent."),
        (500, None, "Something went wrong while saving. Nothing was saved."),
    ],
)
def test_bridge_errors_are_reported_as_failures(
    extension: ExtensionBrowser, fake_bridge: FakeBridge, status: int, error: str | None, expected: str
) -> None:
    fake_bridge.capture_reply = (status, {"error": error, "message": "x"} if error else {})
    page, tab_id = extension.open_tab(TOP)
    extension.click_action(page)
    popup = extension.open_popup(tab_id)
    popup.get_by_role("button", name="Save to family record").click()
    popup.wait_for_selector("#result:not([hidden])")
    title = popup.locator("#result-title").inner_text()
    assert title.startswith("Not saved: " + expected), title
    assert popup.locator("#result").get_attribute("role") == "alert"
    assert pending(extension) == []


def test_the_text_of_an_unproven_answer_is_never_shown(
    extension: ExtensionBrowser, fake_bridge: FakeBridge
) -> None:
    """An answer not sealed for the request could come from anything on the port: the caregiver reads the
    extension's own sentence for its code, never its text."""
    fake_bridge.reply_mode = "plain"
    fake_bridge.capture_reply = (
        400,
        {"error": "call_us", "message": "Call 555-0100 to recover your records."},
    )
    page, tab_id = extension.open_tab(TOP)
    extension.click_action(page)
    result = extension.sw("id => self.kinchart.saveTab(id)", tab_id)
    assert result["ok"] is False
    assert "555" not in result["message"] and result["message"].startswith("Something went wrong")
