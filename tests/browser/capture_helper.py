"""Serialize pages with the extension's own capture code (extension/capture.js) in a real Chromium.

The parser tests use this so that what they parse is exactly what the extension would send:

    from capture_helper import capture_session          # tests/browser is on sys.path there
    with capture_session() as cap:
        doc = cap.serialize_file(path)                   # {"url", "title", "html", "child_frames"}
        capture = cap.capture_file(path, url=...)        # the bridge's capture shape, frames included

From a test outside tests/browser, import it by path:

    sys.path.insert(0, str(REPO / "tests" / "browser")); import capture_helper

`serializeDocument` is read out of capture.js as source text and evaluated in the page (and in each
frame), the same function object chrome.scripting.executeScript injects as `func`.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
EXTENSION_DIR = REPO / "extension"
CAPTURE_JS = EXTENSION_DIR / "capture.js"
SYSTEM_CHROMIUM = Path("/usr/bin/chromium")


def serialize_function_source(path: Path = CAPTURE_JS) -> str:
    """The source of `serializeDocument` from capture.js, without `export`, as a function expression.

    capture.js keeps the function self-contained and closes it with a `}` alone at the start of a line.
    """
    text = path.read_text(encoding="utf-8")
    m = re.search(r"^export function serializeDocument\(\) \{$.*?^\}$", text, flags=re.M | re.S)
    if not m:
        raise RuntimeError(f"serializeDocument() not found in {path}")
    return m.group(0)[len("export ") :]


def chromium_executable() -> str | None:
    """The system Chromium first (browser-testing.md), else None for Playwright's own build."""
    env = os.environ.get("KINCHART_CHROMIUM")
    if env:
        return env
    if SYSTEM_CHROMIUM.exists():
        return str(SYSTEM_CHROMIUM)
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    return found


def chromium_available() -> tuple[bool, str]:
    exe = chromium_executable()
    if exe:
        return True, exe
    try:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            path = p.chromium.executable_path
        if Path(path).exists():
            return True, path
        return (
            False,
            f"no Chromium: {SYSTEM_CHROMIUM} is missing and Playwright's build is not installed ({path})",
        )
    except Exception as exc:  # playwright missing or broken
        return False, f"no Chromium: Playwright unavailable ({exc})"


def serialize_in(frame_or_page: Any) -> dict[str, Any]:
    """Run the extension's serializeDocument in a Playwright Page or Frame."""
    result: dict[str, Any] = frame_or_page.evaluate(f"({serialize_function_source()})()")
    return result


def capture_from_page(page: Any, extension_version: str = "test") -> dict[str, Any]:
    """The capture the extension would post for this page: top document first, then every frame.

    Unlike the extension under activeTab, Playwright reaches frames from any host, so this includes them all.
    """
    top = serialize_in(page.main_frame)
    frames = [{"url": top["url"], "html": top["html"]}]
    for frame in page.frames:
        if frame is page.main_frame:
            continue
        try:
            doc = serialize_in(frame)
        except Exception:  # a frame that went away or never loaded is skipped, as in the extension
            continue
        if doc.get("html"):
            frames.append({"url": doc["url"], "html": doc["html"]})
    return {
        "url": top["url"],
        "title": top["title"],
        "captured_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "frames": frames,
        "extension_version": extension_version,
    }


class CaptureSession:
    def __init__(self, context: Any) -> None:
        self.context = context

    def _load(self, path: Path, url: str | None) -> Any:
        page = self.context.new_page()
        if url:
            # Serve the file's bytes under the portal address the page came from (no network). Only the
            # first navigation is answered: a page that reloads or redirects itself stays as first rendered.
            body = Path(path).read_bytes()
            target = url.split("#")[0]
            served = {"n": 0}

            def handle(route: Any) -> None:
                request = route.request
                if (
                    request.is_navigation_request()
                    and request.frame == page.main_frame
                    and request.url.split("#")[0] == target
                    and served["n"] == 0
                ):
                    served["n"] += 1
                    route.fulfill(status=200, body=body, headers={"Content-Type": "text/html; charset=utf-8"})
                else:
                    route.abort("aborted")

            page.route("**/*", handle)
            # Wait for the document's own load, not Playwright's navigation bookkeeping: a page whose script
            # starts another navigation (aborted above) would otherwise never count as loaded.
            page.goto(url, wait_until="commit")
            page.wait_for_function("document.readyState === 'complete'")
        else:
            page.goto(Path(path).resolve().as_uri(), wait_until="load")
        return page

    def serialize_file(self, path: Path, url: str | None = None) -> dict[str, Any]:
        """Load a saved page (under `url` if given, else as file://) and serialize its top document."""
        page = self._load(path, url)
        try:
            return serialize_in(page)
        finally:
            page.close()

    def serialize_html(self, html: str) -> dict[str, Any]:
        page = self.context.new_page()
        try:
            page.set_content(html, wait_until="load")
            return serialize_in(page)
        finally:
            page.close()

    def capture_file(self, path: Path, url: str | None = None) -> dict[str, Any]:
        page = self._load(path, url)
        try:
            return capture_from_page(page)
        finally:
            page.close()


_DRIVER: Any = None


def shared_playwright() -> Any:
    """One Playwright (sync API) per process: two cannot run in one thread, so every helper and fixture
    shares this one. Stopped by stop_shared_playwright() (the browser tests' session teardown) or at exit."""
    global _DRIVER
    if _DRIVER is None:
        from playwright.sync_api import sync_playwright

        _DRIVER = sync_playwright().start()
        atexit.register(stop_shared_playwright)
    return _DRIVER


def stop_shared_playwright() -> None:
    global _DRIVER
    if _DRIVER is not None:
        driver, _DRIVER = _DRIVER, None
        with contextlib.suppress(Exception):
            driver.stop()


@contextlib.contextmanager
def capture_session(playwright: Any = None) -> Iterator[CaptureSession]:
    """A headless Chromium (no extension) for serializing pages with the extension's capture code."""
    if playwright is None:
        playwright = shared_playwright()
    args = ["--disable-quic", "--disable-gpu"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--no-sandbox")
    browser = playwright.chromium.launch(executable_path=chromium_executable(), headless=True, args=args)
    try:
        context = browser.new_context()
        yield CaptureSession(context)
        context.close()
    finally:
        browser.close()
