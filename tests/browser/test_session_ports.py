"""Issue 13 item 3 in real headless Chromium against a real `kinchart serve`: cookies are not isolated by
port, so a page on `127.0.0.1:<another port>` the caregiver reaches by a link click receives the cookies
the browser holds for 127.0.0.1. Whatever it receives, replayed to the bridge, must read nothing, make
no pairing code and change nothing; the caregiver's dashboard keeps working across pages, forms,
redirects and the back button."""

from __future__ import annotations

import http.server
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import PASSPHRASE, Bridge
from dashboard_fixtures import dashboard_browser, module_playwright, session_base, session_url

pytestmark = pytest.mark.browser

MEMBER = "Synthetic Portcheck"
PAGES = ["/", "/members", "/captures", "/settings", "/export"]


@pytest.fixture(scope="module")
def pw(request: pytest.FixtureRequest) -> Iterator[Any]:
    yield from module_playwright(request)


class OtherPortServer:
    """Some other program's web page on another loopback port: it keeps every Cookie header it gets."""

    def __init__(self) -> None:
        self.cookies: list[tuple[str, str]] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.cookies.append((self.path, self.headers.get("Cookie", "")))
                links = "".join(
                    f'<a id="l{i}" href="{p}">{p}</a> '
                    for i, p in enumerate(["/next", "/unlock", "/setup", "/s/", "/static/x"])
                )
                body = f"<!doctype html><title>other</title><p>{links}</p>".encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _send(url: str, cookie: str, data: dict[str, str] | None = None) -> tuple[int, str, str]:
    host = urllib.parse.urlsplit(url).netloc
    headers = {"Cookie": cookie, "Host": host}
    body = None
    if data is not None:
        headers.update({"Origin": f"http://{host}", "Sec-Fetch-Site": "same-origin"})
        body = urllib.parse.urlencode(data).encode()
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(urllib.request.Request(url, data=body, headers=headers), timeout=10) as r:
            return r.status, r.read().decode(), ""
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), exc.headers.get("Location", "")


def replay(base: str, cookie: str) -> tuple[int, list[str]]:
    """Everything a program holding `cookie` might try: each page at its plain path and at guessed
    prefixes, then the pairing-code and add-member forms with a scraped (or guessed) CSRF token.
    Returns the number of attempts and what succeeded."""
    attempts, successes = 0, []
    csrf = "guess"
    for prefix in ["", "/s", "/s/", "/s/" + "A" * 32]:
        for page in PAGES:
            attempts += 1
            status, body, location = _send(base + prefix + page, cookie)
            m = re.search(r'name="csrf" value="([^"]+)"', body)
            csrf = m.group(1) if m else csrf
            if status == 200 or MEMBER in body or location not in {"", "/unlock"}:
                successes.append(f"GET {prefix}{page} -> {status}")
        for path, data in (("/settings/pair", {}), ("/members", {"name": "Synthetic Intruder"})):
            attempts += 1
            status, body, location = _send(base + prefix + path, cookie, {"csrf": csrf, **data})
            if status < 300 or location not in {"", "/unlock"} or re.search(r"\b\d{6}\b", body):
                successes.append(f"POST {prefix}{path} -> {status}")
    return attempts, successes


def test_another_port_gets_nothing_that_opens_the_dashboard(pw: Any, bridge: Bridge) -> None:
    base = f"http://127.0.0.1:{bridge.port}"
    other = OtherPortServer()
    try:
        with dashboard_browser(pw) as browser:
            context = browser.new_context()
            page = context.new_page()
            page.set_default_timeout(15_000)
            # The caregiver logs in and uses the dashboard: links, a form and its redirect.
            page.goto(base + "/")
            page.wait_for_url(base + "/unlock")
            page.get_by_label("Passphrase").fill(PASSPHRASE)
            page.get_by_role("button", name="Unlock").click()
            page.wait_for_url(session_url("/"))
            dash = session_base(page.url)
            page.get_by_role("navigation").get_by_role("link", name="Members").click()
            page.wait_for_url(dash + "/members")
            page.get_by_label("Name", exact=True).fill(MEMBER)
            page.get_by_role("button", name="Add member").click()
            page.wait_for_url(dash + "/members")
            page.get_by_role("link", name=MEMBER, exact=True).click()
            page.wait_for_url(re.compile(re.escape(dash) + r"/members/[^/?]+$"))
            member_page = page.url
            page.get_by_role("navigation").get_by_role("link", name="Settings").click()
            page.get_by_role("button", name="Show a pairing code").click()
            assert re.fullmatch(r"\d{6}", page.locator("#pair-code").inner_text().strip())
            page.go_back()  # the back button stays inside the session
            assert page.url == dash + "/settings"
            page.go_back()
            assert page.url == member_page and MEMBER in page.locator("main").inner_text()
            clients = (bridge.vault / "clients.json").read_bytes()

            # Then they open a page on another local port and click its links.
            page.goto(f"http://127.0.0.1:{other.port}/")
            for i in range(5):
                page.locator(f"#l{i}").click()
                page.wait_for_load_state("load")
                page.go_back()
            received = [c for _, c in other.cookies]
            assert len(other.cookies) >= 6  # the clicks really went there
            assert not any("kinchart_session" in c for c in received), other.cookies

            # Whatever it got, and even the session cookie itself (taken from the browser's store),
            # replayed to the bridge from outside the browser opens nothing.
            stolen = next(c["value"] for c in context.cookies() if c["name"] == "kinchart_session")
            tried = sorted({c for c in received if c} | {f"kinchart_session={stolen}"})
            attempts, successes = 0, []
            for cookie in tried:
                n, ok = replay(base, cookie)
                attempts, successes = attempts + n, successes + ok
            print(
                f"cookie replay: {len(tried)} cookie headers, {attempts} attempts, {len(successes)} successes"
            )
            assert attempts >= 28 and successes == []
            assert (bridge.vault / "clients.json").read_bytes() == clients  # no pairing code was made

            # The caregiver's dashboard still works, then locks; the back button then shows nothing.
            page.goto(member_page)
            assert page.url == member_page and MEMBER in page.locator("main").inner_text()
            page.get_by_role("button", name="Lock").click()
            page.wait_for_url(base + "/unlock")
            page.go_back()
            assert MEMBER not in page.content()
            page.goto(member_page)
            assert page.url == base + "/unlock"
            context.close()
    finally:
        other.close()
