"""XSS canary (issue 6): hostile portal content imported, filed, and every dashboard page that shows it opened
in real headless Chromium. No dialog may open, no script may run, no request may leave for the canary host
(or any host but the bridge), and `{{7*7}}` must stay `{{7*7}}`.

The canaries:
- fixtures/portal_pages/generic/xss_canary.html: an unknown portal's lab page whose title, orderer, clinic,
  component names and comments carry payloads as text, and whose markup carries live ones (script, event
  handlers, SVG, `javascript:` links, CSS expressions, remote images, frames, objects, forms, base, refresh);
- fixtures/captures/xss_epic_{message,note}.json: an Epic px message thread and note with payloads in the
  subject, sender, recipients, body, title, author and department, and live markup in the body
  (rebuilt by `python tests/browser/dashboard_fixtures.py --write-canaries`).
Plus a member, a relationship and a paired browser's name typed with payloads, and payloads in the search box.

Every page is opened twice: as shipped (with its CSP), then with the dashboard's CSP stripped by the test, so
that escaping alone is shown to be enough. Screenshots go to test-artifacts/dashboard-xss/.
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from conftest import PASSPHRASE, Bridge, bridge_available
from dashboard_fixtures import (
    A11Y_JS,
    CAPTURES,
    PAYLOADS,
    Guard,
    Shots,
    capture_file,
    dashboard_browser,
    module_playwright,
    recent,
    session_base,
    session_url,
    write_captures,
)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def pw(request: pytest.FixtureRequest) -> Iterator[Any]:
    yield from module_playwright(request)


CANARY_PATIENT = 'Canary "Quoted" O\'Tester'
HOSTILE_MEMBER = "<script>alert(13)</script> Kid {{7*7}}"
HOSTILE_RELATIONSHIP = "<img src=x onerror=alert(14)>"
HOSTILE_CLIENT = "<svg onload=alert(15)> laptop {{7*7}}"
PANEL_DAY = recent(3)

# What a dashboard page may contain at all: no script, no handlers, no remote or javascript: URLs, no inline
# styles, no SVG but the trend charts, no frame but the sandboxed saved page.
INERT_JS = """() => {
  const bad = [];
  const all = document.querySelectorAll('*');
  for (const el of all) {
    const tag = el.tagName.toLowerCase();
    if (['script', 'object', 'embed', 'base', 'math', 'img', 'video', 'audio', 'source', 'template'].includes(tag))
      bad.push('element <' + tag + '>');
    if (tag === 'meta' && el.hasAttribute('http-equiv')) bad.push('meta http-equiv');
    if (tag === 'link' && el.getAttribute('href') !== '/static/kinchart.css') bad.push('link ' + el.getAttribute('href'));
    if (tag === 'iframe' && !(el.getAttribute('sandbox') === '' && /^\\/s\\/[\\w-]+\\/captures\\/[0-9a-f]+\\/view\\?frame=\\d+$/.test(el.getAttribute('src') || '')))
      bad.push('iframe ' + el.outerHTML.slice(0, 120));
    if (tag === 'svg' && !el.classList.contains('trend')) bad.push('svg ' + el.outerHTML.slice(0, 120));
    for (const attr of el.attributes) {
      const name = attr.name.toLowerCase(), value = attr.value.trim().toLowerCase();
      if (name.startsWith('on')) bad.push('handler ' + name + ' on <' + tag + '>');
      if (name === 'style') bad.push('style attribute on <' + tag + '>');
      if (['href', 'src', 'action', 'formaction', 'xlink:href', 'poster', 'data', 'srcset'].includes(name)
          && (value.startsWith('javascript:') || value.includes('canary.attacker') || /^[a-z]+:\\/\\//.test(value)))
        bad.push(name + '=' + value + ' on <' + tag + '>');
    }
  }
  return bad;
}"""

# The sanitized saved page: what nh3 left must be inert too (no style either: its CSP says style-src 'none').
FRAME_INERT_JS = """() => {
  const bad = [];
  for (const el of document.querySelectorAll('*')) {
    const tag = el.tagName.toLowerCase();
    if (['script', 'style', 'link', 'iframe', 'object', 'embed', 'base', 'meta', 'img', 'video', 'audio', 'form',
         'svg', 'math', 'template', 'noscript'].includes(tag) && !(tag === 'meta' && el.getAttribute('charset')))
      bad.push('element <' + tag + '>');
    for (const attr of el.attributes) {
      const name = attr.name.toLowerCase(), value = attr.value.trim().toLowerCase();
      if (name.startsWith('on') || name === 'style' || name === 'srcset' || name === 'formaction')
        bad.push(name + ' on <' + tag + '>');
      if (['href', 'src', 'action', 'poster', 'data'].includes(name) && (value.startsWith('javascript:') || value.includes('canary.attacker') && name !== 'href'))
        bad.push(name + '=' + value);
    }
  }
  return bad;
}"""


@dataclass
class Canary:
    bridge: Bridge
    context: Any
    page: Any
    guard: Guard
    shot: Shots
    prefix: str = ""  # the dashboard session's address prefix, "/s/<secret>", once logged in

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.bridge.port}"

    @property
    def dash(self) -> str:
        """Where the dashboard's pages are in the current session."""
        return self.base + self.prefix

    def at(self, path: str) -> str:
        """A dashboard page: a plain path inside the session, or a link the dashboard gave (prefixed)."""
        return self.base + path if path.startswith("/s/") else self.dash + path

    def logged_in(self, path: str) -> None:
        self.page.wait_for_url(session_url(path))
        self.prefix = session_base(self.page.url)[len(self.base) :]


def canary_captures() -> list[dict[str, Any]]:
    generic = capture_file(
        "generic",
        "xss_canary",
        replace={"03/02/2024": PANEL_DAY.strftime("%m/%d/%Y")},
        captured_at=f"{PANEL_DAY.isoformat()}T15:00:00Z",
    )
    epic = [
        json.loads((CAPTURES / f"{name}.json").read_text(encoding="utf-8"))
        for name in ("xss_epic_message", "xss_epic_note")
    ]
    return [generic, *epic]


@pytest.fixture(scope="module")
def canary(pw: Any, chromium_path: str | None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Canary]:
    ok, reason = bridge_available()
    if not ok:
        pytest.skip(f"the bridge server is not ready: {reason}")
    tmp = tmp_path_factory.mktemp("dashboard-xss")
    bridge = Bridge(tmp)
    bridge.init()
    out = bridge.cli("import", str(write_captures(tmp / "captures", canary_captures())))
    assert "Imported 3 new capture(s)" in out, out
    bridge.start(unlocked=True)
    try:
        with dashboard_browser(pw) as browser:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            guard = Guard(bridge.port)
            guard.attach(context)
            page = context.new_page()
            page.set_default_timeout(15_000)
            yield Canary(bridge, context, page, guard, Shots("dashboard-xss"))
            context.close()
    finally:
        bridge.stop()


def _api(base: str, method: str, path: str, body: Any) -> tuple[int, Any]:
    req = urllib.request.Request(
        base + path,
        data=json.dumps(body).encode(),
        method=method,
        headers={
            "X-Kinchart-Client": "browser-tests/1",
            "Content-Type": "application/json",
            "Origin": "chrome-extension://abcdefghijklmnopabcdefghijklmnop",  # the API needs an extension Origin
        },
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.status, json.loads(resp.read())


def file_everything(c: Canary) -> str:
    """Unlock, file the three canary pages under the canary patient, add a hostile member and client."""
    page = c.page
    page.goto(c.dash + "/")
    page.wait_for_url(c.base + "/unlock")
    page.get_by_label("Passphrase").fill(PASSPHRASE)
    page.get_by_role("button", name="Unlock").click()
    c.logged_in("/")

    page.goto(c.dash + "/members")
    page.get_by_label("Name", exact=True).fill(HOSTILE_MEMBER)
    page.get_by_label("Relationship to you").fill(HOSTILE_RELATIONSHIP)
    page.get_by_role("button", name="Add member").click()
    page.wait_for_url(c.dash + "/members")
    assert page.get_by_role("link", name=HOSTILE_MEMBER, exact=True).count() == 1

    page.goto(c.dash + "/captures")
    forms = page.locator("form.assign")
    assert forms.count() == 3
    # The inbox shows the hostile clinic name, and the hostile member among the choices, as text.
    assert page.evaluate(INERT_JS) == []
    inbox = " ".join(page.locator("main").inner_text().split())
    assert "Canary Clinic <script>alert(1)</script> <img src=x onerror=alert(2)> {{7*7}}" in inbox
    assert forms.first.locator("option", has_text="Kid").inner_text() == HOSTILE_MEMBER
    c.shot(page, "inbox-with-canaries")
    generic = forms.filter(has_text=CANARY_PATIENT)
    assert generic.count() == 1
    generic.get_by_label("This is").select_option(label="Someone new…")
    assert generic.get_by_label("New member's name").input_value() == CANARY_PATIENT
    generic.get_by_role("button", name="File it").click()
    page.wait_for_url(c.dash + "/captures")
    while page.locator("form.assign").count():
        form = page.locator("form.assign").first
        form.get_by_label("This is").select_option(label=CANARY_PATIENT)
        form.get_by_role("button", name="File it").click()
        page.wait_for_url(c.dash + "/captures")
    assert "Every saved page is filed" in page.locator("main").inner_text()

    page.goto(c.dash + "/settings")
    page.get_by_role("button", name="Show a pairing code").click()
    code = page.locator("#pair-code").inner_text().strip()
    status, _ = _api(c.base, "POST", "/api/pair", {"code": code, "client_name": HOSTILE_CLIENT})
    assert status == 201

    href = page.goto(c.dash + "/members") and page.get_by_role(
        "link", name=CANARY_PATIENT, exact=True
    ).get_attribute("href")
    assert href
    return str(href).rsplit("/", 1)[1]


def pages_showing_canaries(c: Canary, member_id: str) -> list[str]:
    """Every dashboard page that shows canary content: found by following the dashboard's own links."""
    page = c.page
    hostile_id = (
        page.goto(c.dash + "/members")
        and str(page.get_by_role("link", name=HOSTILE_MEMBER, exact=True).get_attribute("href")).rsplit(
            "/", 1
        )[1]
    )
    paths = [
        "/",
        "/members",
        "/captures",
        "/settings",
        f"/members/{member_id}",
        f"/members/{member_id}/results",
        f"/members/{member_id}/medications",
        f"/members/{member_id}?kind=message",
        f"/members/{member_id}?kind=note",
        f"/members/{hostile_id}",
        f"/members/{hostile_id}/results",
        f"/members/{hostile_id}/medications",
    ]
    page.goto(c.dash + f"/members/{member_id}")
    orgs = page.locator("input[name=org]")
    assert orgs.count() >= 2  # the hostile clinic name is one of the health systems
    for i in range(orgs.count()):
        paths.append(f"/members/{member_id}?org={quote(orgs.nth(i).get_attribute('value') or '')}")
    for payload in PAYLOADS:
        paths.append(f"/members/{member_id}?q={quote(payload)}")
    entries = sorted(
        set(page.locator("ol.timeline a.title").evaluate_all("els => els.map(e => e.getAttribute('href'))"))
    )
    assert len(entries) >= 6  # the panel, four messages, the note
    paths += entries
    page.goto(c.dash + "/captures")
    captures = sorted(
        set(page.locator("table.list a").evaluate_all("els => els.map(e => e.getAttribute('href'))"))
    )
    assert len(captures) == 3
    paths += captures
    return paths


def check_page(c: Canary, path: str, label: str) -> str:
    page = c.page
    response = page.goto(c.at(path))
    assert response is not None and response.status == 200, f"{path}: {response and response.status}"
    page.wait_for_load_state("load")
    page.evaluate("() => document.querySelectorAll('details').forEach(d => { d.open = true; })")
    for frame in page.frames:
        if frame is page.main_frame:
            continue
        frame.wait_for_load_state("load")
        assert frame.url.startswith(c.dash + "/captures/") and "/view?frame=" in frame.url, frame.url
        assert frame.evaluate(FRAME_INERT_JS) == [], (path, frame.url)
        assert "Live" in frame.evaluate("() => document.body.innerText") or "Canary" in frame.evaluate(
            "() => document.body.innerText"
        )
    assert page.evaluate(INERT_JS) == [], path
    assert page.evaluate(A11Y_JS) == [], path
    # Long hostile strings wrap inside their card instead of spilling out of it.
    assert (
        page.evaluate(
            "() => [...document.querySelectorAll('.card')].filter(e => e.scrollWidth > e.clientWidth + 1)"
            ".map(e => e.id || e.className)"
        )
        == []
    ), path
    text = page.locator("body").inner_text()
    for line in text.splitlines():
        if "Canary" in line or "Kid" in line or "laptop" in line:
            assert not re.search(r"(?<![\d.])49(?![\d.])", line), (path, line)
    title = page.title().replace(" · Kinchart", "")
    c.shot(page, f"{label}-{'overview' if path == '/' else path.strip('/').split('/')[0]}-{title}")
    return text


def test_canaries_are_filed(canary: Canary) -> None:
    member_id = file_everything(canary)
    canary.page.goto(canary.dash + f"/members/{member_id}")
    assert canary.page.locator("#count").inner_text() == "6 records"  # the panel, four messages, the note
    assert canary.guard.problems() == []


@pytest.mark.parametrize("strip_csp", [False, True], ids=["with-csp", "escaping-alone"])
def test_every_page_showing_the_canaries_is_inert(canary: Canary, strip_csp: bool) -> None:
    page = canary.page
    page.goto(canary.dash + "/members")
    member_id = str(page.get_by_role("link", name=CANARY_PATIENT, exact=True).get_attribute("href")).rsplit(
        "/", 1
    )[1]
    paths = pages_showing_canaries(canary, member_id)
    canary.guard.reset()
    canary.guard.strip_csp = strip_csp
    seen: dict[str, str] = {}
    try:
        for path in paths:
            seen[path] = check_page(canary, path, "nocsp" if strip_csp else "csp")
    finally:
        canary.guard.strip_csp = False
    assert canary.guard.dialogs == []
    assert canary.guard.canary_requests() == []
    assert canary.guard.blocked == []
    assert canary.guard.page_errors == []
    if strip_csp:
        assert canary.guard.stripped >= len(paths)  # the pages really were served without their CSP
    else:
        assert canary.guard.csp_violations() == []

    # The payloads are shown as the text they are, where the pages show those fields.
    everything = "\n".join(seen.values())
    for payload in PAYLOADS:
        assert payload in everything, payload
    overview = seen["/"]
    assert "Canary Sodium <script>alert(1)</script> 160 mmol/L (High)" in " ".join(overview.split())
    assert "{{7*7}}" in overview
    assert HOSTILE_MEMBER in seen["/members"] and HOSTILE_RELATIONSHIP in seen["/members"]
    assert HOSTILE_CLIENT in seen["/settings"]
    assert "component 'Canary Magnesium <svg onload=alert(3)> {{7*7}}' has no unit" in everything  # a warning
    assert "Canary Clinic <script>alert(1)</script> <img src=x onerror=alert(2)> {{7*7}}" in seen["/settings"]
    searched = seen[f"/members/{member_id}?q={quote('{{7*7}}')}"]
    assert "49" not in searched.split("Search", 1)[0]
    assert page.goto(canary.dash + f"/members/{member_id}?q={quote('{{7*7}}')}") is not None
    assert page.get_by_label("Search").input_value() == "{{7*7}}"


def test_saved_page_frame_is_sandboxed_and_sanitized(canary: Canary) -> None:
    page = canary.page
    page.goto(canary.dash + "/captures")
    captures = page.locator("table.list a").evaluate_all("els => els.map(e => e.getAttribute('href'))")
    for capture in captures:
        response = page.request.get(canary.base + capture + "/view?frame=0")
        csp = response.headers["content-security-policy"]
        assert "sandbox" in csp and "default-src 'none'" in csp and "script-src" not in csp
        body = response.text().lower()
        # Payloads survive only as escaped text (&lt;script&gt;): no live tag, handler or javascript: URL.
        for tag in (
            "script",
            "img",
            "svg",
            "iframe",
            "style",
            "base",
            "meta http-equiv",
            "link",
            "object",
            "form",
            "math",
            "video",
        ):
            assert f"<{tag}" not in body, (capture, tag)
        assert not re.search(r"<[^>]*\son[a-z]+\s*=", body), capture
        assert not re.search(r"<[^>]*(href|src|action)\s*=\s*[\"']?\s*javascript:", body), capture
        assert not re.search(r"<[^>]*\sstyle\s*=", body), capture
        raw = page.request.get(canary.base + capture + "/raw")
        assert raw.headers["content-type"].startswith("application/octet-stream")
        assert raw.headers["content-disposition"].startswith("attachment")
    assert canary.guard.dialogs == [] and canary.guard.canary_requests() == []
