"""Helpers for the dashboard's real-browser tests (test_dashboard*.py).

- `Guard` watches a Playwright browser context: every request (anything not to the bridge's own
  127.0.0.1:PORT is aborted and recorded), every JavaScript dialog (dismissed and recorded), console
  messages (a CSP violation means markup got into a page). Tests assert it saw nothing.
- `capture_file()` / `write_captures()` turn fixture pages into capture .json files for `kinchart import`,
  optionally moving a page's dates to "a few days ago" so the overview's recent-results card has something.
- `ThreadBridge` runs the bridge app in this process (a thread with its own event loop) when a test needs a
  `ServerConfig` the CLI cannot give (an idle lock of a few seconds).
- `Shots` saves full-page screenshots under test-artifacts/ at the repo root (gitignored).
- `A11Y_JS` checks the basics of accessibility on a page (labels, names, one h1, lang, unique ids).
- `module_playwright()` gives each module its own Playwright (see its docstring for why).
- `write_epic_canary_captures()` rebuilds fixtures/captures/xss_epic_{message,note}.json from the Epic px
  fixtures (run this file: `python tests/browser/dashboard_fixtures.py --write-canaries`).

Browser setup follows docs/browser-testing.md: the system Chromium first (`chromium_executable()`),
`--disable-quic`, `--disable-gpu`, `--no-sandbox` as root, no custom `--disable-features`.
"""

from __future__ import annotations

import asyncio
import contextlib
import html as html_lib
import json
import os
import re
import sys
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

from capture_helper import REPO, chromium_executable

FIXTURES = REPO / "fixtures" / "portal_pages"
CAPTURES = REPO / "fixtures" / "captures"
ARTIFACTS = REPO / "test-artifacts"
CANARY_HOST = "canary.attacker.example"


# ---- dashboard sessions ------------------------------------------------------------------------------

_SESSION_PAGE = re.compile(r"^(http://[^/]+/s/[\w-]+)(?:/.*)?$")


def session_base(url: str) -> str:
    """The session's base address, `http://127.0.0.1:PORT/s/<secret>`, from the URL of one of its
    pages: every dashboard page lives under its session's secret prefix."""
    m = _SESSION_PAGE.match(url)
    assert m, f"not a dashboard session page: {url}"
    return m.group(1)


def session_url(path: str) -> re.Pattern[str]:
    """Matches `path` inside any dashboard session (for `page.wait_for_url` after the passphrase)."""
    return re.compile(r"^http://[^/]+/s/[\w-]+" + re.escape(path) + r"$")


# ---- the browser -----------------------------------------------------------------------------------


def module_playwright(request: Any) -> Iterator[Any]:
    """Playwright's sync API for one test module, stopped after it.

    Playwright's sync API runs an event loop in this thread while it is started; left running (as a
    session-wide driver is), every asyncio test that pytest runs later in the session fails with
    "Runner.run() cannot be called from a running event loop". So the dashboard modules start their own
    and stop it, unless the session-wide one (conftest's `playwright_driver`) already runs: then two
    cannot coexist in one thread and that one is used.
    """
    if asyncio_loop_running():
        yield request.getfixturevalue("playwright_driver")
        return
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        yield playwright


def asyncio_loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


@contextlib.contextmanager
def dashboard_browser(playwright: Any) -> Iterator[Any]:
    """A plain headless Chromium (no extension) for driving the dashboard."""
    args = ["--disable-quic", "--disable-gpu"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--no-sandbox")
    browser = playwright.chromium.launch(executable_path=chromium_executable(), headless=True, args=args)
    try:
        yield browser
    finally:
        browser.close()


@dataclass
class Guard:
    """Everything a browser context did that a dashboard page must never cause."""

    port: int
    requests: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    strip_csp: bool = False
    stripped: int = 0  # responses served without their CSP while strip_csp was on

    def attach(self, context: Any) -> None:
        context.route("**/*", self._route)
        context.on("page", self._watch_page)
        for page in context.pages:
            self._watch_page(page)

    def _watch_page(self, page: Any) -> None:
        page.on("dialog", self._dialog)
        page.on("console", lambda msg: self.console.append(f"{msg.type}: {msg.text}"))
        page.on("pageerror", lambda exc: self.page_errors.append(str(exc)))

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        with contextlib.suppress(Exception):
            dialog.dismiss()

    def _route(self, route: Any) -> None:
        url = route.request.url
        self.requests.append(url)
        parts = urlsplit(url)
        if parts.scheme in {"data", "about", "blob"}:
            route.fallback()
            return
        if parts.hostname != "127.0.0.1" or parts.port != self.port:
            self.blocked.append(url)
            route.abort()
            return
        is_frame = parts.path.startswith("/captures/") and parts.path.endswith(("/view", "/raw"))
        if self.strip_csp and route.request.method == "GET" and not is_frame:
            # Escaping alone must keep pages safe: serve dashboard pages without their CSP (the sanitized
            # frame keeps its own, which is part of what it is).
            response = route.fetch(max_redirects=0)
            headers = {k: v for k, v in response.headers.items() if k.lower() != "content-security-policy"}
            route.fulfill(response=response, headers=headers)
            self.stripped += 1
            return
        route.fallback()

    def csp_violations(self) -> list[str]:
        return [c for c in self.console if "Content Security Policy" in c or "Refused to" in c]

    def problems(self) -> list[str]:
        out = [f"request left for {u}" for u in self.blocked]
        out += [f"dialog {d}" for d in self.dialogs]
        out += [f"page error {e}" for e in self.page_errors]
        out += [f"CSP violation {c}" for c in self.csp_violations()]
        return out

    def canary_requests(self) -> list[str]:
        return [u for u in self.requests if (urlsplit(u).hostname or "").endswith(CANARY_HOST)]

    def reset(self) -> None:
        for items in (self.requests, self.blocked, self.dialogs, self.console, self.page_errors):
            items.clear()
        self.stripped = 0


class Shots:
    """Numbered full-page screenshots under test-artifacts/<folder>/."""

    def __init__(self, folder: str) -> None:
        self.dir = ARTIFACTS / folder
        self.dir.mkdir(parents=True, exist_ok=True)
        for old in self.dir.glob("*.png"):
            old.unlink()
        self.n = 0

    def __call__(self, page: Any, name: str) -> Path:
        self.n += 1
        safe = re.sub(r"[^a-z0-9_-]+", "-", name.lower()).strip("-")[:60]
        path = self.dir / f"{self.n:02d}-{safe}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    def element(self, locator: Any, name: str) -> Path:
        self.n += 1
        safe = re.sub(r"[^a-z0-9_-]+", "-", name.lower()).strip("-")[:60]
        path = self.dir / f"{self.n:02d}-{safe}.png"
        locator.screenshot(path=str(path))
        return path


# Basic accessibility every dashboard page must meet: a language, one h1, a label for every field, a name for
# every button and link, tables with header cells.
A11Y_JS = """() => {
  const bad = [];
  if (!document.documentElement.lang) bad.push('no lang on <html>');
  if (document.querySelectorAll('h1').length !== 1) bad.push(document.querySelectorAll('h1').length + ' h1');
  for (const el of document.querySelectorAll('input, select, textarea')) {
    if (el.type === 'hidden') continue;
    if (!(el.labels && el.labels.length) && !el.getAttribute('aria-label')) bad.push('unlabelled ' + el.outerHTML.slice(0, 100));
  }
  for (const el of document.querySelectorAll('button, a[href]')) {
    const name = (el.getAttribute('aria-label') || el.innerText || el.textContent || '').trim();
    if (!name) bad.push('nameless ' + el.outerHTML.slice(0, 100));
  }
  for (const t of document.querySelectorAll('table')) {
    if (!t.querySelector('th')) bad.push('table without header cells');
  }
  for (const id of [...document.querySelectorAll('[id]')].map(e => e.id)) {
    if (document.querySelectorAll('[id="' + CSS.escape(id) + '"]').length > 1) bad.push('duplicate id ' + id);
  }
  return [...new Set(bad)];
}"""


# ---- capture files for `kinchart import` ---------------------------------------------------------


def recent(days_ago: int) -> date:
    """The date `days_ago` days before today (negative: after), to move a fixture page near today."""
    return date.today() - timedelta(days=days_ago)


def capture_file(
    vendor: str, stem: str, *, replace: dict[str, str] | None = None, captured_at: str | None = None
) -> dict[str, Any]:
    """A fixture page as the capture the extension would send (one frame, at the page's own address)."""
    spec = json.loads((FIXTURES / vendor / f"{stem}.expected.json").read_text(encoding="utf-8"))
    html = (FIXTURES / vendor / f"{stem}.html").read_text(encoding="utf-8")
    for old, new in (replace or {}).items():
        assert old in html, f"{old!r} is not in {vendor}/{stem}"
        html = html.replace(old, new)
    url = spec["url"]
    return {
        "url": url,
        "title": f"{vendor}/{stem}",
        "captured_at": captured_at or spec.get("captured_at"),
        "frames": [{"url": url, "html": html}],
        "extension_version": "browser-tests",
    }


def write_captures(dest: Path, captures: list[dict[str, Any]]) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for i, capture in enumerate(captures):
        (dest / f"{i:03d}.json").write_text(json.dumps(capture, ensure_ascii=False), encoding="utf-8")
    return dest


# ---- an in-process bridge ------------------------------------------------------------------------


class ThreadBridge:
    """The bridge app (bridge.server.app.serve) on 127.0.0.1 in a daemon thread with its own loop."""

    def __init__(self, config: Any) -> None:
        self.config = config
        self.port: int = config.port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ThreadBridge:
        from bridge.server.app import serve

        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            started = asyncio.Event()

            async def main() -> None:
                self._task = asyncio.current_task()  # type: ignore[assignment]
                waiter = asyncio.create_task(started.wait())
                server = asyncio.create_task(serve(self.config, started))
                await asyncio.wait({waiter, server}, return_when=asyncio.FIRST_COMPLETED)
                if server.done():
                    server.result()
                ready.set()
                await server

            try:
                loop.run_until_complete(main())
            except asyncio.CancelledError:
                pass
            except BaseException as exc:
                failure.append(exc)
            finally:
                ready.set()
                loop.close()

        self._thread = threading.Thread(target=run, name="kinchart-test-bridge", daemon=True)
        self._thread.start()
        ready.wait(30)
        if failure:
            raise failure[0]
        urllib.request.urlopen(
            urllib.request.Request(f"{self.base}/api/ping", headers={"X-Kinchart-Client": "t/1"}), timeout=10
        ).close()
        return self

    def stop(self) -> None:
        if self._loop is not None and self._task is not None:
            self._loop.call_soon_threadsafe(self._task.cancel)
        if self._thread is not None:
            self._thread.join(15)


# ---- XSS canary capture fixtures -----------------------------------------------------------------

PAYLOADS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(2)>",
    "<svg onload=alert(3)>",
    '<a href="javascript:alert(4)">link</a>',
    '<div style="background:url(javascript:alert(5));width:expression(alert(6))">css</div>',
    f'<img src="https://{CANARY_HOST}/pixel.png">',
    f"\"><script>fetch('https://{CANARY_HOST}/x')</script>",
    "{{7*7}}",
]
LIVE_MARKUP = (
    '<script>alert(1)</script><img src=x onerror=alert(2)><svg onload=alert(3)><circle r="3"></circle></svg>'
    '<a href="javascript:alert(4)">a javascript: link</a>'
    '<div style="background:url(javascript:alert(5));width:expression(alert(6))">css</div>'
    f'<img src="https://{CANARY_HOST}/pixel.png">'
    f"\"><script>fetch('https://{CANARY_HOST}/x')</script>"
    f'<iframe src="https://{CANARY_HOST}/frame"></iframe>'
    f'<link rel="stylesheet" href="https://{CANARY_HOST}/s.css">'
)


def _epic(stem: str) -> tuple[dict[str, Any], str]:
    spec = json.loads((FIXTURES / "epic_mychart" / f"{stem}.expected.json").read_text(encoding="utf-8"))
    return spec, (FIXTURES / "epic_mychart" / f"{stem}.html").read_text(encoding="utf-8")


def _sub(text: str, old: str, new: str, count: int = 1) -> str:
    assert old in text, old
    return text.replace(old, new, count)


def epic_canary_captures() -> dict[str, dict[str, Any]]:
    """An Epic (px) message thread and note with every payload in subject, sender, recipients, body, title,
    author and department, both as text (escaped in the portal's markup) and as live markup."""
    esc = html_lib.escape
    out: dict[str, dict[str, Any]] = {}

    spec, s = _epic("message_thread_metformin_px")
    subject = "Question about new metformin dose"
    canary_subject = f"Canary subject {esc(PAYLOADS[0])} {esc(PAYLOADS[7])}"
    s = _sub(
        s,
        f'data-testid="conversation-subject">{subject}</h2>',
        f'data-testid="conversation-subject">{canary_subject}</h2>',
    )
    s = _sub(
        s,
        f'<span class="_convSubject_3kq9x_56">{subject}</span>',
        f'<span class="_convSubject_3kq9x_56">{canary_subject}</span>',
    )
    s = s.replace(
        'aria-label="Message from Kim Pham"', f'aria-label="Message from Kim {esc(PAYLOADS[1])} Pham"'
    )
    s = s.replace(
        'data-testid="message-sender">Kim Pham</span>',
        f'data-testid="message-sender">Kim {esc(PAYLOADS[1])} Pham</span>',
    )
    s = s.replace(
        '<li class="_recipient_3kq9x_36">Meera Krishnan, MD</li>',
        f'<li class="_recipient_3kq9x_36">Meera Krishnan, MD {esc(PAYLOADS[2])}</li>',
    )
    first = (
        '<div data-paragraph="0"><span style="font-family: Segoe UI, Arial, sans-serif; font-size: 11pt;">'
        "Hello Dr. Krishnan,</span></div>"
    )
    lines = "".join(
        f'<div data-paragraph="x{i}"><span>Canary line {i}: {esc(p)}</span></div>'
        for i, p in enumerate(PAYLOADS)
    )
    s = _sub(s, first, first + lines + f'<div data-paragraph="live">Live: {LIVE_MARKUP}</div>')
    url = spec["url"] + "-canary"
    out["xss_epic_message"] = {
        "url": url,
        "title": "Canary message",
        "captured_at": spec["captured_at"],
        "frames": [{"url": url, "html": s}],
        "extension_version": "xss-canary",
    }

    spec, s = _epic("note_progress_px")
    s = _sub(
        s,
        'data-testid="note-title">Progress Notes</h1>',
        f'data-testid="note-title">Canary Note {esc(PAYLOADS[0])} {esc(PAYLOADS[7])}</h1>',
    )
    s = _sub(
        s,
        '<span class="note-hdr-value">Meera Krishnan, MD</span>',
        f'<span class="note-hdr-value">Dr. Canary {esc(PAYLOADS[1])}</span>',
    )
    s = _sub(
        s,
        '<span class="note-hdr-value">Lakeside Internal Medicine Riverside</span>',
        f'<span class="note-hdr-value">Canary Dept {esc(PAYLOADS[2])} {esc(PAYLOADS[6])}</span>',
    )
    paragraphs = "".join(f"<p>Canary paragraph {i}: {esc(p)}</p>" for i, p in enumerate(PAYLOADS))
    s = _sub(s, '<div class="note-body">', f'<div class="note-body">{paragraphs}<p>Live: {LIVE_MARKUP}</p>')
    url = spec["url"] + "&canary=1"
    out["xss_epic_note"] = {
        "url": url,
        "title": "Canary note",
        "captured_at": spec["captured_at"],
        "frames": [{"url": url, "html": s}],
        "extension_version": "xss-canary",
    }
    return out


def write_epic_canary_captures() -> None:
    for name, capture in epic_canary_captures().items():
        (CAPTURES / f"{name}.json").write_text(
            json.dumps(capture, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )


if __name__ == "__main__":
    if "--write-canaries" in sys.argv:
        write_epic_canary_captures()
