"""Issue 8, cross-site requests in a real headless Chromium against a real `kinchart serve`.

The caregiver is logged in to the dashboard (session cookie in the browser). In another tab they open
an attacker's page on a portal-like host (`--host-resolver-rules` maps *.example to a local server).
That page fires everything a web page can send without a CORS preflight at the bridge: auto-submitted
form POSTs (urlencoded, multipart, and the text/plain "JSON" trick), `no-cors` fetches with credentials,
CORS fetches, and <img>/<script>/<link> loads, at /api/captures, /api/pair, /api/ping, /api/members,
/settings/pair, /members, /lock, /unlock, /setup, /reparse, revoke and assign. Afterwards:

- the vault is unchanged (captures, members, clients.json byte for byte, the lock state);
- the page read nothing (opaque or failed responses only) and no response carried CORS headers;
- the page cannot even tell the bridge from a closed port (load/error events are the same);
- a DNS-rebinding page (its own origin resolving to the bridge) reads only 421s.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_client import pair as api_pair
from conftest import PASSPHRASE, Bridge, free_port

pytestmark = pytest.mark.browser

EXT_ORIGIN = "chrome-extension://abcdefghijklmnopabcdefghijklmnop"

ATTACK_JS = r"""
const B = "http://127.0.0.1:%(port)d";
const CLOSED = "http://127.0.0.1:%(closed)d";
const IDS = %(ids)s;
window.results = {fetch: [], probes: {}, forms: 0, done: false};

function form(action, fields, enctype) {
  const name = "f" + Math.random().toString(36).slice(2);
  const frame = document.createElement("iframe");
  frame.name = name;
  document.body.appendChild(frame);
  const f = document.createElement("form");
  f.method = "POST"; f.action = B + action; f.target = name;
  if (enctype) f.enctype = enctype;
  for (const [k, v] of Object.entries(fields)) {
    const i = document.createElement("input");
    i.type = "hidden"; i.name = k; i.value = v; f.appendChild(i);
  }
  document.body.appendChild(f);
  f.submit();
  window.results.forms++;
}

// text/plain forms send "name=value": a name that is the start of a JSON object makes the body JSON.
function jsonForm(action, obj) {
  const s = JSON.stringify({...obj, pad: ""});
  form(action, {[s.slice(0, -2)]: '"}'}, "text/plain");
}

async function tryFetch(label, url, init) {
  try {
    const r = await fetch(url, init);
    let body = "";
    try { body = await r.text(); } catch (e) { body = "unreadable"; }
    window.results.fetch.push({label, type: r.type, status: r.status, body, headers: [...r.headers.entries()]});
  } catch (e) {
    window.results.fetch.push({label, error: String(e)});
  }
}

function probe(kind, url) {
  return new Promise(resolve => {
    const el = document.createElement(kind === "img" ? "img" : kind === "script" ? "script" : "link");
    if (kind === "css") { el.rel = "stylesheet"; el.href = url; } else { el.src = url; }
    const t = setTimeout(() => resolve("timeout"), 20000);
    el.onload = () => { clearTimeout(t); resolve("load"); };
    el.onerror = () => { clearTimeout(t); resolve("error"); };
    document.body.appendChild(el);
  });
}

async function attack() {
  const capture = {url: "https://evil.example/injected", title: "x", frames: [{url: "https://evil.example/injected", html: "<p>INJECTED BY A WEB PAGE</p>"}]};
  // 1. Forms (the browser sends them without asking anyone).
  jsonForm("/api/captures", capture);
  form("/api/captures", {url: "https://evil.example/x", frames: "x"});
  form("/api/captures", {url: "https://evil.example/x"}, "multipart/form-data");
  for (const code of ["000000", "123456", "111111", "999999", "654321", "000001"]) jsonForm("/api/pair", {code});
  form("/settings/pair", {});
  form("/members", {name: "Pwned Member"});
  form("/members/merge", {keep: IDS.member, drop: IDS.member});
  form("/members/" + IDS.member + "/rename", {name: "Pwned"});
  form("/captures/" + IDS.capture + "/assign", {member_id: "new", new_name: "Pwned"});
  form("/settings/clients/" + IDS.client + "/revoke", {});
  form("/settings/idle-lock", {minutes: "1"});
  form("/reparse", {});
  form("/unlock", {passphrase: "guess guess guess"});
  form("/setup", {passphrase: "attacker passphrase", again: "attacker passphrase"});
  form("/lock", {});
  // 2. no-cors fetches, cookies included: the request goes out, the answer is opaque.
  const nc = {mode: "no-cors", credentials: "include"};
  await tryFetch("nc captures", B + "/api/captures", {...nc, method: "POST", headers: {"Content-Type": "text/plain"}, body: JSON.stringify(capture)});
  await tryFetch("nc pair", B + "/api/pair", {...nc, method: "POST", headers: {"Content-Type": "text/plain"}, body: '{"code":"000000"}'});
  await tryFetch("nc ping", B + "/api/ping", nc);
  await tryFetch("nc members api", B + "/api/members", nc);
  await tryFetch("nc settings", B + "/settings", nc);
  await tryFetch("nc members page", B + "/members", nc);
  await tryFetch("nc capture raw", B + "/captures/" + IDS.capture + "/raw", nc);
  await tryFetch("nc lock", B + "/lock", {...nc, method: "POST", body: new URLSearchParams({csrf: "x"})});
  await tryFetch("nc settings pair", B + "/settings/pair", {...nc, method: "POST", body: new URLSearchParams({})});
  // 3. CORS fetches: need the bridge's permission, which it never gives.
  await tryFetch("cors ping", B + "/api/ping", {});
  await tryFetch("cors ping with client header", B + "/api/ping", {headers: {"X-Kinchart-Client": "extension/0.1.0"}});
  await tryFetch("cors captures json", B + "/api/captures", {method: "POST", headers: {"Content-Type": "application/json", "X-Kinchart-Client": "extension/0.1.0", "X-Kinchart-Client-Id": "guess", "X-Kinchart-Nonce": "guess", "X-Kinchart-Mac": "guess"}, body: JSON.stringify(capture)});
  await tryFetch("cors members page", B + "/members", {credentials: "include"});
  // 4. Subresource loads, and the same at a closed port: the two must be indistinguishable.
  for (const [kind, path] of [["img", "/api/ping"], ["img", "/unlock"], ["img", "/static/kinchart.css"],
                              ["script", "/api/ping"], ["script", "/static/kinchart.css"], ["script", "/unlock"],
                              ["css", "/static/kinchart.css"], ["css", "/api/ping"], ["img", "/lock"]]) {
    const [here, closed] = await Promise.all([probe(kind, B + path), probe(kind, CLOSED + path)]);
    window.results.probes[kind + " " + path] = [here, closed];
  }
  await new Promise(r => setTimeout(r, 1500));  // let the form navigations land
  window.results.done = true;
}
attack();
"""

REBIND_JS = r"""
window.results = {done: false, answers: []};
window.go = async () => {
  const h = {"X-Kinchart-Client": "extension/0.1.0"};
  for (const [method, path, headers, body] of [
      ["GET", "/api/ping", h, null], ["GET", "/api/ping", {}, null], ["GET", "/api/members", h, null],
      ["POST", "/api/captures", {...h, "Content-Type": "application/json"}, JSON.stringify({url: "https://x.example", frames: [{html: "<p>rebound</p>"}]})],
      ["POST", "/api/pair", {...h, "Content-Type": "application/json"}, '{"code":"000000"}'],
      ["GET", "/", {}, null], ["GET", "/unlock", {}, null], ["GET", "/settings", {}, null], ["GET", "/members", {}, null],
      ["GET", "/static/kinchart.css", {}, null], ["POST", "/lock", {}, "csrf=x"]]) {
    try {
      const r = await fetch(path, {method, headers, body, credentials: "include"});
      window.results.answers.push({method, path, status: r.status, body: await r.text()});
    } catch (e) {
      window.results.answers.push({method, path, error: String(e)});
    }
  }
  window.results.done = true;
};
"""


class AttackerServer:
    """The attacker's site: one page, served for every *.example host."""

    def __init__(self, page: str, port: int = 0) -> None:
        body = f"<!doctype html><html><head><title>Totally a portal</title></head><body><script>{page}</script></body></html>"
        data = body.encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        Handler.protocol_version = "HTTP/1.0"  # no keep-alive: the next request opens a new connection
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def vault_state(bridge: Bridge) -> dict[str, Any]:
    from bridge.family import Family
    from bridge.vault import Vault

    with Vault.open(bridge.vault) as vault:
        vault.unlock(PASSPHRASE)
        family = Family(vault)
        return {
            "captures": sorted((r.id, json.dumps(r.meta, sort_keys=True)) for r in vault.list_captures()),
            "members": sorted((m.id, m.name) for m in family.list_members()),
            "settings": vault.get_doc("settings", "dashboard"),
            "clients.json": (bridge.vault / "clients.json").read_bytes()
            if (bridge.vault / "clients.json").exists()
            else None,
            "locked": bridge.ping()["locked"],
        }


@pytest.fixture
def seeded(bridge: Bridge) -> Iterator[tuple[Bridge, dict[str, str]]]:
    """The bridge with a paired extension, one capture and one family member."""
    client = api_pair(f"http://127.0.0.1:{bridge.port}", bridge.pair_code(), EXT_ORIGIN, "ext")
    url = "https://portal.unknown.example/letters/1"
    receipt = bridge.request(
        "POST",
        "/api/captures",
        {
            "url": url,
            "title": "Letter",
            "frames": [
                {"url": url, "html": "<main><p>A synthetic letter for the cross-site test.</p></main>"}
            ],
        },
        client=client,
    )
    filed = bridge.request(
        "POST",
        f"/api/captures/{receipt['capture_id']}/assign",
        {"new_member": {"name": "Synthetic Member"}},
        client=client,
    )
    paired = bridge.clients()[0]
    yield bridge, {"capture": receipt["capture_id"], "member": filed["member"]["id"], "client": paired.id}


def _browser(playwright: Any, executable: str | None, rules: str) -> Any:
    args = ["--disable-quic", "--disable-gpu", f"--host-resolver-rules={rules}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--no-sandbox")
    return playwright.chromium.launch(executable_path=executable, headless=True, args=args)


def _wait_done(page: Any, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if page.evaluate("window.results && window.results.done"):
            got: dict[str, Any] = page.evaluate("window.results")
            return got
        time.sleep(0.2)
    raise AssertionError("the attack page did not finish")


def test_a_web_page_can_store_change_or_read_nothing(
    playwright_driver: Any, chromium_path: str | None, seeded: tuple[Bridge, dict[str, str]]
) -> None:
    bridge, ids = seeded
    closed = free_port()
    attacker = AttackerServer(ATTACK_JS % {"port": bridge.port, "closed": closed, "ids": json.dumps(ids)})
    browser = _browser(playwright_driver, chromium_path, f"MAP *.example 127.0.0.1:{attacker.port}")
    try:
        context = browser.new_context()
        # The caregiver is logged in to the dashboard in this browser.
        dash = context.new_page()
        dash.goto(f"http://127.0.0.1:{bridge.port}/unlock")
        dash.fill("#passphrase", PASSPHRASE)
        dash.click("button[type=submit]")
        dash.wait_for_url(re.compile(rf"^http://127\.0\.0\.1:{bridge.port}/s/[\w-]+/$"))
        home = dash.url  # the session's own address: its secret prefix is in it
        assert any(c["name"] == "kinchart_session" for c in context.cookies())
        before = vault_state(bridge)

        page = context.new_page()
        seen: list[tuple[str, str, int, dict[str, str]]] = []
        failed: list[tuple[str, str, str | None]] = []
        prefix = f"http://127.0.0.1:{bridge.port}/"

        def on_response(r: Any) -> None:
            if r.url.startswith(prefix):
                try:
                    seen.append((r.request.method, r.url, r.status, r.all_headers()))
                except Exception:  # the page closed meanwhile
                    seen.append((r.request.method, r.url, r.status, r.headers))

        page.on("response", on_response)
        page.on(
            "requestfailed",
            lambda r: failed.append((r.method, r.url, r.failure)) if r.url.startswith(prefix) else None,
        )
        page.goto("http://mychart.lakesidehealth.example/MyChart/app/test-results")
        results = _wait_done(page)

        # The attacks really reached the bridge (the browser saw its answers): the test is not vacuous.
        # An answer the browser then hid from the page (Cross-Origin-Resource-Policy, X-Frame-Options) is
        # reported as ERR_BLOCKED_BY_RESPONSE: it, too, reached the bridge and came back.
        must = [
            ("POST", "/api/captures"),
            ("POST", "/api/pair"),
            ("POST", "/settings/pair"),
            ("POST", "/members"),
            ("POST", "/lock"),
            ("POST", "/settings/idle-lock"),
            ("POST", "/unlock"),
            ("POST", "/reparse"),
            ("GET", "/api/ping"),
            ("GET", "/api/members"),
            ("GET", "/settings"),
        ]

        def reached() -> tuple[list[tuple[str, str]], set[tuple[str, str]]]:
            got = [(m, u) for m, u, _, _ in seen] + [
                (m, u) for m, u, why in failed if (why or "").startswith("net::ERR_BLOCKED_BY_RESPONSE")
            ]
            return got, {(m, u.removeprefix(prefix[:-1]).split("?")[0]) for m, u in got}

        deadline = time.monotonic() + 30  # form navigations land in their own time on a busy machine
        while time.monotonic() < deadline and not set(must) <= reached()[1]:
            page.wait_for_timeout(250)
        everything, answered = reached()
        print(
            f"\n{len(everything)} requests reached the bridge ({len(seen)} answers seen, the rest hidden from "
            f"the page); {results['forms']} forms, {len(results['fetch'])} fetches, {len(results['probes'])} probes"
        )
        for m in must:
            assert m in answered, f"{m} never reached the bridge: {sorted(answered)}"
        assert len(everything) >= 50, len(everything)
        methods = {m for m, _ in everything}
        assert {"GET", "POST"} <= methods
        assert results["forms"] >= 20
        posts = [(u, s) for m, u, s, _ in seen if m == "POST"]
        assert not [p for p in posts if 200 <= p[1] < 300], posts  # no state-changing request succeeded
        for _, url, _, headers in seen:
            cors = [h for h in headers if h.lower().startswith("access-control-")]
            assert not cors, (url, cors)

        # The page could read nothing.
        for f in results["fetch"]:
            if "error" in f:
                assert "TypeError" in f["error"] or "Failed to fetch" in f["error"], f
            else:
                assert (
                    f["type"] == "opaque" and f["status"] == 0 and f["body"] == "" and f["headers"] == []
                ), f
        cors_fetches = [f for f in results["fetch"] if f["label"].startswith("cors")]
        assert cors_fetches and all("error" in f for f in cors_fetches), cors_fetches
        # Nor tell the bridge from a closed port.
        for name, (here, at_closed) in results["probes"].items():
            assert here == at_closed, f"{name}: {here} at the bridge, {at_closed} at a closed port"

        # Nothing changed: no capture, no member, no pairing code or client change, still unlocked.
        assert vault_state(bridge) == before
        assert bridge.ping()["locked"] is False
        dash.reload()
        assert dash.url == home  # the caregiver's session survived too
    finally:
        browser.close()
        attacker.close()


def test_a_dns_rebinding_page_reads_only_misdirected(
    playwright_driver: Any, chromium_path: str | None, tmp_path: Path
) -> None:
    """DNS rebinding, step by step: the attacker's server answers on port P and serves its page; then
    its name points at 127.0.0.1 and Kinchart is what listens on P. The page is now same-origin with
    the bridge, so it could read every answer: every answer is 421 and says nothing."""
    bridge = Bridge(tmp_path)
    bridge.init()
    attacker = AttackerServer(REBIND_JS, port=bridge.port)
    browser = _browser(playwright_driver, chromium_path, "MAP *.test 127.0.0.1")
    try:
        page = browser.new_context().new_page()
        page.goto(f"http://rebind.test:{bridge.port}/")
        attacker.close()
        bridge.start()
        before = vault_state(bridge)
        page.evaluate("window.go()")
        results = _wait_done(page)
        assert len(results["answers"]) == 11
        for a in results["answers"]:
            assert a.get("status") == 421, a
            assert "kinchart" not in a["body"].lower()
        assert vault_state(bridge) == before
    finally:
        browser.close()
        bridge.stop()


def test_the_attack_page_is_reachable_as_a_portal_host(
    tmp_path: Path, playwright_driver: Any, chromium_path: str | None
) -> None:
    """The control for the host mapping: a *.example name really loads the attacker's page."""
    attacker = AttackerServer("window.results = {done: true, ok: location.host};")
    browser = _browser(playwright_driver, chromium_path, f"MAP *.example 127.0.0.1:{attacker.port}")
    try:
        page = browser.new_page()
        page.goto("http://mychart.lakesidehealth.example/")
        assert _wait_done(page)["ok"] == "mychart.lakesidehealth.example"
    finally:
        browser.close()
        attacker.close()
