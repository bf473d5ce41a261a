"""Real-browser fixtures: headless Chromium with the unpacked extension, portal-like hosts, a real bridge.

Follows docs/browser-testing.md: the system Chromium first, `launch_persistent_context` with a
fresh profile, `--disable-extensions-except` and `--load-extension` together, `--disable-quic`,
`--disable-gpu`, `--no-sandbox` as root, no custom `--disable-features`.

Two things beyond that document:
- Portal hosts: `--host-resolver-rules=MAP *.example 127.0.0.1:PORT` sends every `*.example` name to one
  local server, which answers each fixture page at the address it was saved from (https → http).
- The toolbar click: `Extensions.triggerAction` over the browser's CDP session (with
  `--enable-unsafe-extension-debugging`) runs the extension's action on a tab exactly as a click does,
  which is what grants `activeTab`. Without it `chrome.scripting.executeScript` is refused, as it should be.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from capture_helper import (
    EXTENSION_DIR,
    REPO,
    chromium_available,
    chromium_executable,
    shared_playwright,
    stop_shared_playwright,
)

FIXTURES = REPO / "fixtures" / "portal_pages"
PAGES = Path(__file__).resolve().parent / "pages"
PASSPHRASE = "correct horse battery staple, browser tests"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# ---- the browser ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def chromium_path() -> str | None:
    ok, detail = chromium_available()
    if not ok:
        pytest.skip(detail)
    return chromium_executable()


# Module scope: a session-wide sync Playwright keeps an event loop running, which breaks every asyncio
# test collected after the browser tests.
@pytest.fixture(scope="module")
def playwright_driver() -> Iterator[Any]:
    """Playwright's sync API, shared with capture_helper.capture_session() (one per process)."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"playwright is not installed: {exc}")
    yield shared_playwright()
    stop_shared_playwright()


@dataclass
class ExtensionBrowser:
    context: Any
    worker: Any
    extension_id: str
    cdp: Any
    extension_dir: Path
    pages: list[Any] = field(default_factory=list)

    # -- the service worker ------------------------------------------------------------------------
    def sw(self, expression: str, arg: Any = None) -> Any:
        """Evaluate in the service worker (re-finding it if the browser restarted it)."""
        try:
            return self.worker.evaluate(expression, arg)
        except Exception as exc:
            if "Target" not in str(exc) and "closed" not in str(exc):
                raise
            self.worker = self._find_worker()
            return self.worker.evaluate(expression, arg)

    def _find_worker(self) -> Any:
        for w in self.context.service_workers:
            if w.url.startswith(f"chrome-extension://{self.extension_id}/"):
                return w
        return self.context.wait_for_event("serviceworker", timeout=10_000)

    def tab_ids(self) -> list[int]:
        ids: list[int] = self.sw("chrome.tabs.query({}).then(ts => ts.map(t => t.id))")
        return ids

    def session_storage(self) -> dict[str, Any]:
        got: dict[str, Any] = self.sw("chrome.storage.session.get(null)")
        return got

    def local_storage(self) -> dict[str, Any]:
        got: dict[str, Any] = self.sw("chrome.storage.local.get(null)")
        return got

    def set_port(self, port: int) -> None:
        self.sw("p => chrome.storage.local.set({port: p})", port)

    def badge(self, tab_id: int | None = None) -> dict[str, str]:
        got: dict[str, str] = self.sw(
            """async (tabId) => {
                const d = tabId === null ? {} : {tabId};
                return {text: await chrome.action.getBadgeText(d), title: await chrome.action.getTitle(d)};
            }""",
            tab_id,
        )
        return got

    # -- tabs ----------------------------------------------------------------------------------------
    def open_tab(self, url: str) -> tuple[Any, int]:
        """Open `url` in a new tab; return the Playwright page and the extension's tab id for it."""
        # One tab per address, so the toolbar click (click_action) finds it by its address.
        for old in [p for p in self.pages if not p.is_closed() and p.url == url]:
            old.close()
        before = set(self.tab_ids())
        page = self.context.new_page()
        self.pages.append(page)
        page.goto(url, wait_until="load")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            new = [t for t in self.tab_ids() if t not in before]
            if len(new) == 1:
                return page, new[0]
            time.sleep(0.05)
        raise AssertionError(f"could not tell which tab {url} opened in")

    def click_action(self, page: Any) -> None:
        """Do what a click on the toolbar button does for this tab (grants activeTab, opens the popup)."""
        url = page.url
        deadline = time.monotonic() + 5
        while True:
            targets = self.cdp.send("Target.getTargets", {"filter": [{"type": "tab"}]})["targetInfos"]
            matching = [t for t in targets if t["url"] == url]
            if len(matching) == 1:
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"expected one tab at {url}, found {len(matching)}")
            time.sleep(0.05)
        self.cdp.send(
            "Extensions.triggerAction", {"id": self.extension_id, "targetId": matching[0]["targetId"]}
        )

    def open_popup(self, tab_id: int | None) -> Any:
        """popup.html as a tab, acting on `tab_id` (browser-testing.md)."""
        page = self.context.new_page()
        self.pages.append(page)
        query = f"?tab={tab_id}" if tab_id is not None else ""
        page.goto(f"chrome-extension://{self.extension_id}/popup.html{query}")
        page.wait_for_selector("body[data-ready='1']", timeout=15_000)
        return page

    def open_options(self) -> Any:
        page = self.context.new_page()
        self.pages.append(page)
        page.goto(f"chrome-extension://{self.extension_id}/options.html")
        page.wait_for_selector("body[data-ready='1']", timeout=15_000)
        return page


def extension_copy(dest: Path, extra_host_permissions: list[str] | None = None) -> Path:
    """A copy of the extension, optionally with more host permissions (as if optional ones were granted)."""
    out = dest / "extension"
    shutil.copytree(EXTENSION_DIR, out)
    if extra_host_permissions:
        manifest_path = out / "manifest.json"
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        manifest["host_permissions"] = [*manifest["host_permissions"], *extra_host_permissions]
        manifest_path.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return out


@contextlib.contextmanager
def launch_extension(
    playwright: Any, executable: str | None, extension_dir: Path, portal_port: int | None = None
) -> Iterator[ExtensionBrowser]:
    args = [
        f"--disable-extensions-except={extension_dir}",
        f"--load-extension={extension_dir}",
        "--disable-quic",
        "--disable-gpu",
        "--enable-unsafe-extension-debugging",
    ]
    if portal_port is not None:
        args.append(f"--host-resolver-rules=MAP *.example 127.0.0.1:{portal_port}")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--no-sandbox")
    user_data = tempfile.mkdtemp(prefix="kinchart-chromium-")
    context = playwright.chromium.launch_persistent_context(
        user_data, executable_path=executable, headless=True, args=args
    )
    try:
        workers = [w for w in context.service_workers if w.url.startswith("chrome-extension://")]
        worker = workers[0] if workers else context.wait_for_event("serviceworker", timeout=15_000)
        extension_id = urlsplit(worker.url).netloc
        cdp = context.browser.new_browser_cdp_session()
        eb = ExtensionBrowser(
            context=context, worker=worker, extension_id=extension_id, cdp=cdp, extension_dir=extension_dir
        )
        # Never talk to a bridge someone left running on the default port: point at a closed one.
        eb.set_port(free_port())
        yield eb
    finally:
        context.close()
        shutil.rmtree(user_data, ignore_errors=True)


@pytest.fixture
def extension(
    playwright_driver: Any, chromium_path: str | None, portal_server: PortalServer
) -> Iterator[ExtensionBrowser]:
    """The unpacked extension from extension/, in a fresh headless profile, portal hosts mapped."""
    with launch_extension(playwright_driver, chromium_path, EXTENSION_DIR, portal_server.port) as eb:
        yield eb


# ---- portal-like hosts ---------------------------------------------------------------------------


class PortalServer:
    """Answers fixture pages at the addresses they were saved from, for every *.example host."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], bytes] = {}
        self.requests: list[tuple[str, str, str]] = []  # (method, Host, path) of every request
        self.httpd: http.server.ThreadingHTTPServer | None = None
        self.port = 0

    def add(self, url: str, body: bytes | str) -> str:
        """Serve `body` at `url` (https:// becomes http://); returns the http:// address."""
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.routes[(parts.hostname or "", path or "/")] = _http_links(data)
        return f"http://{parts.hostname}{path or '/'}"

    def add_fixture(self, vendor: str, stem: str) -> str:
        spec = json.loads((FIXTURES / vendor / f"{stem}.expected.json").read_text(encoding="utf-8"))
        return self.add(spec["url"], (FIXTURES / vendor / f"{stem}.html").read_bytes())

    def start(self) -> None:
        routes = self.routes
        seen = self.requests

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                seen.append(("POST", self.headers.get("Host") or "", self.path))
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:
                seen.append(("GET", self.headers.get("Host") or "", self.path))
                host = (self.headers.get("Host") or "").split(":")[0]
                body = routes.get((host, self.path))
                if body is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()


def _http_links(data: bytes) -> bytes:
    # Frames and links inside the fixtures point at https://*.example; the test server speaks http.
    return re.sub(rb'(src|href)="https://([a-z0-9.-]+\.example)', rb'\1="http://\2', data)


@pytest.fixture(scope="session")
def portal_server() -> Iterator[PortalServer]:
    server = PortalServer()
    for page in PAGES.glob("*.html"):
        # Each own test page says where it lives in its first line: <!-- url: http://... -->
        first = page.read_text(encoding="utf-8").split("\n", 1)[0]
        m = re.match(r"<!-- url: (\S+) -->", first)
        if m:
            server.add(m.group(1), page.read_bytes())
    server.start()
    yield server
    server.stop()


# ---- a real bridge -------------------------------------------------------------------------------


@functools.cache
def bridge_available() -> tuple[bool, str]:
    if not (REPO / "bridge" / "server" / "app.py").exists():
        return False, "bridge/server/app.py does not exist yet"
    out = subprocess.run(
        [sys.executable, "-m", "bridge", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=str(REPO),
        env={**os.environ, "COLUMNS": "200"},
    )
    for command in ("serve", "init", "pair-code"):
        if not re.search(rf"\b{command}\b", out.stdout):
            return False, f"`kinchart {command}` does not exist yet"
    return True, ""


class Bridge:
    """`kinchart serve` on a temp vault, as a subprocess (`python -m bridge`, the same CLI)."""

    def __init__(self, folder: Path) -> None:
        self.vault = folder / "vault"
        self.passphrase_file = folder / "passphrase"
        self.passphrase_file.write_text(PASSPHRASE + "\n", encoding="utf-8")
        self.passphrase_file.chmod(0o600)
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = folder / "serve.log"

    def env(self, unlocked: bool = True) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KINCHART_")}
        env.update({"KINCHART_VAULT": str(self.vault), "KINCHART_KDF": "fast"})
        # Run this checkout's bridge (python -m bridge from the repo), whatever is installed.
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
        if unlocked:
            env["KINCHART_PASSPHRASE_FILE"] = str(self.passphrase_file)
        return env

    def cli(self, *args: str) -> str:
        out = subprocess.run(
            [sys.executable, "-m", "bridge", *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=120,
            cwd=str(REPO),
        )
        if out.returncode != 0:
            raise AssertionError(f"kinchart {' '.join(args)} failed: {out.stdout}\n{out.stderr}")
        return out.stdout

    def init(self) -> None:
        self.cli("init")

    def start(self, unlocked: bool = True) -> None:
        assert self.proc is None, "already running"
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bridge", "serve", "--port", str(self.port)],
                env=self.env(unlocked),
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=str(REPO),
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"kinchart serve exited: {self.log.read_text(errors='replace')}")
            try:
                self.ping()
                return
            except (OSError, urllib.error.URLError):
                time.sleep(0.1)
        raise AssertionError("kinchart serve did not answer within 30 s")

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def request(
        self, method: str, path: str, body: Any = None, client: Any = None, origin: str | None = None
    ) -> Any:
        """A request as the extension makes it: signed and sealed with a paired `api_client.ApiClient`
        (its key works only with the Origin it was paired from), or plain (ping, pair)."""
        base = f"http://127.0.0.1:{self.port}"
        if client is not None:
            status, answer = client.call(base, method, path, body, timeout=10)
            assert 200 <= status < 300, (status, answer)
            return answer
        headers = {"X-Kinchart-Client": "browser-tests/1"}
        if origin:
            headers["Origin"] = origin
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body).encode()
        req = urllib.request.Request(f"{base}{path}", data=data, headers=headers, method=method)
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def ping(self) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", "/api/ping")
        return result

    def pair_code(self) -> str:
        out = self.cli("pair-code")
        m = re.search(r"\b(\d{6})\b", out)
        assert m, f"no code in: {out!r}"
        return m.group(1)

    def clients(self) -> list[Any]:
        from bridge.server.pairing import Pairing

        return Pairing(self.vault).clients()

    def revoke_all(self) -> None:
        from bridge.server.pairing import Pairing

        pairing = Pairing(self.vault)
        for client in pairing.clients():
            pairing.revoke(client.id)


@pytest.fixture
def bridge(tmp_path: Path) -> Iterator[Bridge]:
    ok, reason = bridge_available()
    if not ok:
        pytest.skip(f"the bridge server is not ready: {reason}")
    b = Bridge(tmp_path)
    b.init()
    b.start()
    try:
        yield b
    finally:
        b.stop()
