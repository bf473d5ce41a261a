"""The dashboard in real headless Chromium, as a caregiver meets it (issue 6).

One `kinchart serve` on a fresh temp vault with no passphrase file, one browser, for the whole module; the
tests run in order as one walk-through: first run (create the passphrase, add the family), lock and unlock,
import pages from four portal systems for four people (`kinchart import`), file the unassigned ones in the
captures inbox, then every page: the overview (members, a recent abnormal result, an appointment clash), a
timeline filtered by kind and by health system and searched, an entry with a lab value, its saved page in
the sanitized frame and as a download, a message thread, lab trends, medications, pairing a browser and
revoking it, the idle-lock setting, a reparse, and basic accessibility of every kind of page. Dates of a few
pages are moved near today so "recent" and "upcoming" have something to show.
Screenshots go to test-artifacts/dashboard-flow/.

Every test also checks that no request left for any host but the bridge, no dialog opened, no page error
and no CSP violation happened.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from api_client import ApiClient, NotVerified, unb64u
from conftest import PASSPHRASE, Bridge, bridge_available
from dashboard_fixtures import (
    A11Y_JS,
    CAPTURES,
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


HOA, LAN, BJORN, JOSE = "Đỗ Thị Hoa", "Nguyễn Thị Lan", "Björn Lindqvist", "José Nuñez"
A1C_DAY = recent(5)  # the A1c page is moved to a few days ago, so it is a "recent" abnormal result
VISIT_DAY = recent(-12)  # Lan's and Björn's appointments are moved to the same morning, 12 days ahead


def selection() -> list[dict[str, Any]]:
    """Pages from Epic (two health systems), Oracle Health, NextGen and athenahealth; four people."""
    shifted = A1C_DAY.strftime("%b %d, %Y")
    return [
        capture_file(
            "epic_mychart",
            "test_result_a1c_px",
            replace={"Apr 07, 2026": shifted},
            captured_at=f"{A1C_DAY.isoformat()}T19:22:41-05:00",
        ),
        capture_file("epic_mychart", "test_result_cmp_px"),
        capture_file("epic_mychart", "test_result_list_trend_classic_var_columns"),
        capture_file("epic_mychart", "test_result_list_px"),  # no birth date: "who is this?"
        capture_file("epic_mychart", "message_thread_metformin_px"),  # no birth date: "who is this?"
        capture_file("epic_mychart", "note_progress_px"),
        capture_file("epic_mychart", "health_summary_px"),
        capture_file("epic_mychart", "immunization_list_classic_var_prd"),
        capture_file("oracle_health", "test_result_list_labs"),
        capture_file("oracle_health", "test_result_list_history_potassium"),
        capture_file("oracle_health", "medication_list_current"),
        capture_file("oracle_health", "message_thread_refill"),
        capture_file(
            "oracle_health",
            "appointment_list_upcoming",
            replace={"Monday, March 23, 2026": f"{VISIT_DAY:%A, %B} {VISIT_DAY.day}, {VISIT_DAY.year}"},
        ),
        capture_file("nextgen", "lab_result_cbc"),
        capture_file("nextgen", "medication_list"),
        capture_file("nextgen", "message_thread_dizziness"),
        capture_file(
            "nextgen",
            "appointment_list_upcoming",
            replace={
                "Tuesday, Oct 7, 2025 at 9:00 AM": f"{VISIT_DAY:%A, %b} {VISIT_DAY.day}, {VISIT_DAY.year} at 10:30 AM"
            },
        ),
        capture_file("athenahealth", "lab_result_cmp"),  # José: not a member yet
        capture_file("athenahealth", "medication_list"),
        # Oracle's shell page with the record in a frame from another host: the same results as test_result_list_labs.
        json.loads((CAPTURES / "oracle_shell_with_frame.capture.json").read_text(encoding="utf-8")),
    ]


@dataclass
class World:
    bridge: Bridge
    context: Any
    page: Any
    guard: Guard
    shot: Shots
    tmp: Any
    members: dict[str, str]  # name -> id, filled as the walk-through goes
    prefix: str = ""  # the dashboard session's address prefix, "/s/<secret>", once logged in

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.bridge.port}"

    @property
    def dash(self) -> str:
        """Where the dashboard's pages are in the current session."""
        return self.base + self.prefix

    def logged_in(self, path: str) -> None:
        """Wait for the page the passphrase leads to, inside a new session, and go on in that session."""
        self.page.wait_for_url(session_url(path))
        self.prefix = session_base(self.page.url)[len(self.base) :]

    def go(self, path: str) -> Any:
        response = self.page.goto(self.dash + path if not path.startswith("/s/") else self.base + path)
        assert response is not None and response.status == 200, f"{path}: {response and response.status}"
        return response

    def member_id(self, name: str) -> str:
        if name not in self.members:
            self.go("/members")
            href = self.page.get_by_role("link", name=name, exact=True).get_attribute("href")
            self.members[name] = href.rsplit("/", 1)[1]
        return self.members[name]


@pytest.fixture(scope="module")
def world(pw: Any, chromium_path: str | None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    ok, reason = bridge_available()
    if not ok:
        pytest.skip(f"the bridge server is not ready: {reason}")
    tmp = tmp_path_factory.mktemp("dashboard-flow")
    bridge = Bridge(tmp)
    bridge.start(unlocked=False)  # no vault and no passphrase file: the dashboard starts at first run
    try:
        with dashboard_browser(pw) as browser:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            guard = Guard(bridge.port)
            guard.attach(context)
            page = context.new_page()
            page.set_default_timeout(15_000)
            yield World(bridge, context, page, guard, Shots("dashboard-flow"), tmp, {})
            context.close()
    finally:
        bridge.stop()


@pytest.fixture(autouse=True)
def nothing_leaves(world: World) -> Iterator[None]:
    world.guard.reset()
    yield
    assert world.guard.problems() == []
    assert all(u.startswith((world.base + "/", "data:")) for u in world.guard.requests)


def text_of(page: Any, selector: str = "main") -> str:
    return " ".join(page.locator(selector).inner_text().split())


# ---- first run -------------------------------------------------------------------------------------


def test_first_run_creates_the_vault_and_the_family(world: World) -> None:
    page = world.page
    page.goto(world.dash + "/")
    assert page.url == world.base + "/setup"
    warning = page.get_by_role("note")
    assert "Write the passphrase down somewhere safe" in warning.inner_text()
    assert "cannot be recovered" in warning.inner_text()
    world.shot(page, "setup")

    page.get_by_label("Passphrase", exact=True).fill(PASSPHRASE)
    page.get_by_label("Passphrase again").fill(PASSPHRASE + " typo")
    page.get_by_role("button", name="Create my vault").click()
    assert page.get_by_role("alert").inner_text() == "The two passphrases differ."
    world.shot(page, "setup-mismatch")

    page.get_by_label("Passphrase", exact=True).fill(PASSPHRASE)
    page.get_by_label("Passphrase again").fill(PASSPHRASE)
    page.get_by_role("button", name="Create my vault").click()
    world.logged_in("/members")
    assert "No family members yet" in text_of(page)

    for name, dob, relationship in (
        (HOA, "1949-11-03", "mother"),
        (LAN, "1949-08-21", "aunt"),
        (BJORN, "1944-01-09", "father"),
    ):
        page.get_by_label("Name", exact=True).fill(name)
        page.get_by_label("Birth date").fill(dob)
        page.get_by_label("Relationship to you").fill(relationship)
        page.get_by_role("button", name="Add member").click()
        page.wait_for_url(world.dash + "/members")
    rows = page.locator("table.list tbody tr")
    assert rows.count() == 3
    assert "Nov 3, 1949" in rows.filter(has_text=HOA).inner_text()
    assert "mother" in rows.filter(has_text=HOA).inner_text()
    world.shot(page, "members")

    page.goto(world.dash + "/")
    for name in (HOA, LAN, BJORN):
        assert page.get_by_role("heading", name=re.compile(re.escape(name))).count() == 1
    world.shot(page, "overview-empty")


def test_lock_then_unlock(world: World) -> None:
    page = world.page
    page.goto(world.dash + "/")
    page.get_by_role("button", name="Lock").click()
    page.wait_for_url(world.base + "/unlock")
    page.goto(world.dash + "/members")
    assert page.url == world.base + "/unlock"  # nothing shows while locked

    page.get_by_label("Passphrase").fill("not the passphrase")
    page.get_by_role("button", name="Unlock").click()
    assert page.get_by_role("alert").inner_text() == "That passphrase does not open this vault."
    world.shot(page, "unlock-wrong")

    page.get_by_label("Passphrase").fill(PASSPHRASE)
    page.get_by_role("button", name="Unlock").click()
    world.logged_in("/")
    assert page.get_by_role("heading", name="Your family at a glance").is_visible()


# ---- importing and filing ----------------------------------------------------------------------------


def test_import_from_four_systems_then_file_the_unassigned(world: World) -> None:
    page = world.page
    # `kinchart import` writes to the vault from another process; the dashboard reads it after unlocking.
    page.goto(world.dash + "/")
    page.get_by_role("button", name="Lock").click()
    page.wait_for_url(world.base + "/unlock")
    out = world.bridge.cli("import", str(write_captures(world.tmp / "captures", selection())))
    assert f"Imported {len(selection())} new capture(s)" in out, out
    page.get_by_label("Passphrase").fill(PASSPHRASE)
    page.get_by_role("button", name="Unlock").click()
    world.logged_in("/")

    notice = page.locator("p.notice")
    assert "4 saved pages wait for you to say who they are" in notice.inner_text()
    notice.get_by_role("link").click()
    page.wait_for_url(world.dash + "/captures")
    forms = page.locator("form.assign")
    assert forms.count() == 4
    world.shot(page, "captures-inbox")

    # Hoa's Lakeside pages show no birth date, so they wait; Kinchart names her as a candidate, never guesses.
    hoa_list = forms.filter(has_text="test result list")
    assert HOA in hoa_list.inner_text()
    assert "Looks like" in hoa_list.inner_text() and "please choose" in hoa_list.inner_text()
    # Kinchart does not pick a member for the caregiver: filing needs an explicit choice.
    assert hoa_list.get_by_label("This is").input_value() == ""
    hoa_list.get_by_role("button", name="File it").click()
    assert page.url == world.dash + "/captures" and page.locator("form.assign").count() == 4
    assert hoa_list.get_by_label("This is").evaluate("el => !el.validity.valid")
    hoa_list.get_by_label("This is").select_option(label=HOA)
    hoa_list.get_by_role("button", name="File it").click()
    page.wait_for_url(world.dash + "/captures")
    # The answer is remembered for that patient at that portal: her message thread was filed too.
    assert page.locator("form.assign").count() == 2

    jose = page.locator("form.assign").first
    assert JOSE in jose.inner_text() and "born Jun 18, 1947" in jose.inner_text()
    jose.get_by_label("This is").select_option(label="Someone new…")
    assert jose.get_by_label("New member's name").input_value() == JOSE
    assert jose.get_by_label("Birth date").input_value() == "1947-06-18"
    jose.get_by_role("button", name="File it").click()
    page.wait_for_url(world.dash + "/captures")
    assert page.locator("form.assign").count() == 0
    assert "Every saved page is filed under a family member." in text_of(page)
    assert f"Saved pages ({len(selection())})" in text_of(page)
    assert "unassigned" not in text_of(page, "table.list")
    world.shot(page, "captures-filed")

    page.goto(world.dash + "/members")
    assert page.locator("table.list tbody tr").count() == 4
    assert "Jun 18, 1947" in page.locator("table.list tbody tr", has_text=JOSE).inner_text()


# ---- the pages -----------------------------------------------------------------------------------------


def test_overview_shows_every_member_and_a_recent_abnormal_result(world: World) -> None:
    page = world.page
    world.go("/")
    assert page.locator("p.notice").count() == 0  # nothing waits any more
    cards = page.locator("section.card")
    assert cards.count() == 4
    for name in (HOA, LAN, BJORN, JOSE):
        assert cards.filter(has=page.get_by_role("heading", name=re.compile(re.escape(name)))).count() == 1
    hoa = cards.filter(has=page.get_by_role("heading", name=re.compile(HOA)))
    abnormal = hoa.locator("h3:has-text('Abnormal results') + ul li")
    a1c = abnormal.filter(has_text="HEMOGLOBIN A1C")
    assert a1c.count() == 1
    flag = " ".join(a1c.locator(".flag").first.inner_text().split())
    assert flag == "Hemoglobin A1C 7.9 % (High)"
    assert A1C_DAY.strftime("%b ") + str(A1C_DAY.day) in a1c.inner_text()
    portals = " ".join(hoa.locator("h3:has-text('Portal access') + ul").inner_text().split())
    assert "Lakeside Health" in portals and "Harborview Health & Wellness" in portals
    lan = cards.filter(has=page.get_by_role("heading", name=re.compile(LAN)))
    assert "Prairie Valley Health" in lan.inner_text()
    # Lan's follow-up and Björn's lab draw are on the same morning: both upcoming, and flagged as a clash.
    when = f"{VISIT_DAY:%b} {VISIT_DAY.day}, {VISIT_DAY.year}"
    lan_upcoming = lan.locator("h3:has-text('Upcoming appointments') + ul li")
    assert lan_upcoming.count() == 1
    assert (
        f"{when}, 10:40 AM" in lan_upcoming.inner_text() and "Okafor, Adaeze MD" in lan_upcoming.inner_text()
    )
    assert "clash" in lan_upcoming.inner_text()
    bjorn = cards.filter(has=page.get_by_role("heading", name=re.compile(BJORN)))
    assert f"{when}, 10:30 AM" in bjorn.locator("h3:has-text('Upcoming appointments') + ul").inner_text()
    clashes = " ".join(page.locator("section.clashes").inner_text().split())
    assert f"Follow Up Visit for {LAN}, {when}, 10:40 AM" in clashes
    assert f"clashes with {BJORN}'s appointment" in clashes
    world.shot(page, "overview")


def _timeline_titles(page: Any) -> list[str]:
    return [t.strip() for t in page.locator("ol.timeline li a.title").all_inner_texts()]


def _count(page: Any) -> int:
    m = re.match(r"(\d+) records?", page.locator("#count").inner_text())
    assert m, page.locator("#count").inner_text()
    return int(m.group(1))


def test_timeline_filters_by_kind_and_health_system_and_search_narrows(world: World) -> None:
    page = world.page
    hoa = world.member_id(HOA)
    world.go(f"/members/{hoa}")
    everything = _count(page)
    assert everything > 20
    world.shot(page, "timeline-hoa")

    page.get_by_role("checkbox", name="Messages").check()
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(re.compile(r"kind=message"))
    messages = _count(page)
    assert 0 < messages < everything
    assert set(page.locator("ol.timeline li .kind").all_inner_texts()) == {"Message"}
    assert "Question about new metformin dose" in _timeline_titles(page)
    world.shot(page, "timeline-messages")

    page.get_by_role("checkbox", name="Messages").uncheck()
    page.get_by_role("checkbox", name="Harborview Health & Wellness").check()
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(re.compile(r"org=Harborview"))
    harborview = _count(page)
    assert 0 < harborview < everything
    sources = page.locator("ol.timeline li .source").all_inner_texts()
    assert sources and all("Harborview Health & Wellness" in s for s in sources)
    # A flagged row keeps its source on the same line as its title (the grid has a column for the flag).
    flagged = page.locator("ol.timeline li", has=page.locator(".flag"))
    assert flagged.count() >= 1
    title_box = flagged.first.locator("a.title").bounding_box()
    source_box = flagged.first.locator(".source").bounding_box()
    assert title_box and source_box and abs(title_box["y"] - source_box["y"]) < 8, (title_box, source_box)
    assert page.get_by_role("checkbox", name="Harborview Health & Wellness").is_checked()
    world.shot(page, "timeline-harborview")

    page.get_by_role("checkbox", name="Harborview Health & Wellness").uncheck()
    page.get_by_label("Search").fill("metformin")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(re.compile(r"q=metformin"))
    found = _count(page)
    assert 0 < found < everything
    assert "Question about new metformin dose" in _timeline_titles(page)
    assert page.get_by_label("Search").input_value() == "metformin"
    world.shot(page, "timeline-search-metformin")

    page.get_by_label("Search").fill("no such word anywhere")
    page.get_by_role("button", name="Show").click()
    page.wait_for_load_state("load")
    assert _count(page) == 0
    assert "for these filters" in text_of(page, "p.empty")


def test_entry_page_shows_value_unit_range_flag_and_its_capture(world: World) -> None:
    page = world.page
    world.go(f"/members/{world.member_id(HOA)}?kind=test_result&q=hemoglobin+a1c")
    page.locator("ol.timeline li", has_text=A1C_DAY.strftime("%b ") + str(A1C_DAY.day)).get_by_role(
        "link", name="HEMOGLOBIN A1C"
    ).click()
    page.wait_for_url(re.compile(r"/entries/"))
    assert page.get_by_role("heading", level=1).inner_text() == "HEMOGLOBIN A1C"
    row = page.locator("table.results tbody tr", has_text="Hemoglobin A1C")
    cells = [c.strip() for c in row.locator("td").all_inner_texts()]
    assert cells == ["Hemoglobin A1C", "7.9", "%", "<5.7", "High"]
    assert "flagged" in (row.get_attribute("class") or "")
    facts = text_of(page, "dl.facts")
    assert "Meera Krishnan, MD" in facts and "Lakeside Health Central Laboratory" in facts
    world.shot(page, "entry-a1c")

    source = page.locator("section.sources").get_by_role("link", name=re.compile("Lakeside Health"))
    assert source.count() == 1
    source.click()
    page.wait_for_url(re.compile(r"/captures/[0-9a-f]+$"))
    facts = text_of(page, "dl.facts")
    assert "Lakeside Health" in facts and "(MyChart)" in facts and "epic_mychart parser" in facts
    assert f"filed under {HOA}" in facts
    frame_el = page.locator("iframe.captured")
    assert frame_el.get_attribute("sandbox") == ""
    frame = page.frame_locator("iframe.captured")
    frame.locator("body").wait_for()
    frame_text = frame.locator("body").inner_text()
    assert "Hemoglobin A1C" in frame_text and "7.9" in frame_text
    assert "MyChart - Test Results" not in frame_text  # the portal's <title> is not body text
    frames = [f for f in page.frames if f.url.endswith("/view?frame=0")]
    assert len(frames) == 1
    saved = frames[0].content().lower()
    assert "<script" not in saved and "<style" not in saved and "<img" not in saved and "<link" not in saved
    world.shot(page, "capture-a1c")
    # The page exactly as saved is a download, never rendered in the dashboard's origin.
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download the page exactly as saved").click()
    download = download_info.value
    assert download.suggested_filename.startswith("kinchart-capture-")
    assert "Hemoglobin A1C" in Path(download.path()).read_text(encoding="utf-8")
    assert re.search(r"/captures/[0-9a-f]+$", page.url), page.url  # the dashboard page stays


def test_an_entry_from_two_captures_and_a_capture_with_two_frames(world: World) -> None:
    page = world.page
    world.go(f"/members/{world.member_id(LAN)}?kind=test_result")
    twice = page.locator("ol.timeline li", has_text="2 sources")
    assert twice.count() >= 5  # the labs page and the shell's framed copy of it are one set of facts
    twice.first.locator("a.title").click()
    page.wait_for_url(re.compile(r"/entries/"))
    sources = page.locator("section.sources li a")
    assert sources.count() == 2
    hrefs = [sources.nth(i).get_attribute("href") for i in range(2)]
    frames_per_capture = []
    for href in hrefs:
        world.go(str(href))
        frames_per_capture.append(page.locator("iframe.captured").count())
        if page.locator("iframe.captured").count() == 2:
            headings = page.locator("h3", has_text="Frame").all_inner_texts()
            assert len(headings) == 2 and "patientportal.myhealthelife" in headings[1]
            framed = page.frame_locator("iframe.captured").nth(1).locator("body")
            framed.wait_for()
            assert "Potassium" in framed.inner_text()
            page.locator("iframe.captured").nth(1).scroll_into_view_if_needed()
            world.shot(page, "capture-oracle-two-frames")
            world.shot.element(page.locator("iframe.captured").nth(1), "capture-oracle-frame-2")
    assert sorted(frames_per_capture) == [1, 2]


def test_message_entry_shows_the_whole_thread(world: World) -> None:
    page = world.page
    world.go(f"/members/{world.member_id(HOA)}?kind=message")
    page.get_by_role("link", name="Question about new metformin dose").first.click()
    page.wait_for_url(re.compile(r"/entries/"))
    messages = page.locator("article.message")
    assert messages.count() == 4
    assert page.locator("article.message.current").count() == 1
    first = " ".join(messages.first.locator("header").inner_text().split())
    assert first == "Kim Pham to Meera Krishnan, MD · Apr 15, 2026, 7:58 PM"
    paragraphs = messages.first.locator(".text p").all_inner_texts()
    assert paragraphs[0] == "Hello Dr. Krishnan," and paragraphs[-1] == "Thank you, Kim (her daughter)"
    world.shot(page, "entry-message-thread")


def test_results_page_charts_a_trend_with_a_point_per_source(world: World) -> None:
    page = world.page
    world.go(f"/members/{world.member_id(HOA)}/results")
    card = page.locator("section.trend-card", has=page.get_by_role("heading", name=re.compile(r"^eGFR")))
    assert card.count() == 1
    svg = card.locator("svg.trend")
    assert svg.get_attribute("role") == "img"
    points = svg.locator("g.point")
    rows = card.locator("details table tbody tr")
    assert points.count() == rows.count() >= 3
    # Each point says its value and its source; both health systems are charted and in the legend.
    tips = [t.strip() for t in svg.locator("g.point title").all_text_contents()]
    row_sources = [
        r.strip() for r in card.locator("details table tbody tr td:last-child").all_text_contents()
    ]
    for source in ("Lakeside Health", "Harborview Health & Wellness"):
        assert sum(source in t for t in tips) == row_sources.count(source) >= 1
        assert source in svg.locator("text").all_text_contents()
    world.shot(page, "results-hoa")
    world.shot.element(card, "results-hoa-egfr-chart")
    # A point links to its entry.
    href = svg.locator("a").first.get_attribute("href")
    assert href and href.startswith(world.prefix + "/entries/")
    world.go(href)
    assert page.locator("table.results").count() == 1


def test_medications_page_groups_each_members_medicines(world: World) -> None:
    page = world.page
    world.go(f"/members/{world.member_id(LAN)}/medications")
    assert page.get_by_role("heading", level=1).inner_text() == f"{LAN}: medications"
    groups = page.locator("section.med")
    assert groups.count() >= 3
    listed = " ".join(groups.all_inner_texts())
    assert "Prairie Valley Health" in listed
    world.shot(page, "medications-lan")
    first = groups.first.get_by_role("link").first
    first.click()
    page.wait_for_url(re.compile(r"/entries/"))
    assert page.locator("p.crumbs").inner_text().startswith(LAN)

    world.go(f"/members/{world.member_id(HOA)}/medications")
    text = text_of(page)
    assert "Metformin" in text
    assert "as needed for pain. · no prescriber shown, Lakeside Health" in text
    world.shot(page, "medications-hoa")


EXT_ORIGIN = "chrome-extension://abcdefghijklmnopabcdefghijklmnop"


def _api(world: World, method: str, path: str, body: Any = None, client: Any = None) -> tuple[int, Any]:
    if client is not None:  # signed and sealed with the key pairing gave (tests/api_client.py)
        status, answer = client.call(world.base, method, path, body, timeout=10)
        return int(status), answer
    headers = {"X-Kinchart-Client": "browser-tests/1", "Origin": EXT_ORIGIN}
    data = None
    if body is not None:
        headers["Content-Type"] = "application/json"
        data = json.dumps(body).encode()
    req = urllib.request.Request(world.base + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def test_settings_pair_a_browser_then_revoke_it(world: World) -> None:
    page = world.page
    world.go("/settings")
    assert "No browser is paired yet." in text_of(page)
    page.get_by_role("button", name="Show a pairing code").click()
    page.wait_for_load_state("load")
    code = page.locator("#pair-code").inner_text().strip()
    assert re.fullmatch(r"\d{6}", code), code
    world.shot(page, "settings-code")

    status, body = _api(world, "POST", "/api/pair", {"code": code, "client_name": "Test laptop Chromium"})
    assert status == 201, body
    paired = ApiClient(body["client_id"], unb64u(body["key"]), EXT_ORIGIN, "browser-tests/1")
    status, body = _api(world, "POST", "/api/members", client=paired)
    assert status == 200 and {m["name"] for m in body["members"]} == {HOA, LAN, BJORN, JOSE}

    world.go("/settings")
    client = page.locator("ul.clients li", has_text="Test laptop Chromium")
    assert client.count() == 1
    world.shot(page, "settings-paired")
    client.get_by_role("button", name="Revoke Test laptop Chromium").click()
    page.wait_for_url(world.dash + "/settings")
    assert "revoked" in page.locator("ul.clients li", has_text="Test laptop Chromium").inner_text()
    assert page.get_by_role("button", name="Revoke Test laptop Chromium").count() == 0
    world.shot(page, "settings-revoked")

    with pytest.raises(NotVerified):  # the revoked key gets no proof from the bridge's hello
        _api(world, "POST", "/api/members", client=paired)


def test_settings_idle_lock_minutes_are_saved(world: World) -> None:
    page = world.page
    world.go("/settings")
    minutes = page.get_by_label("Lock after this many idle minutes")
    assert minutes.input_value() == "30"
    minutes.fill("0")
    page.locator("form[action$='/settings/idle-lock']").get_by_role("button", name="Save").click()
    assert page.url == world.dash + "/settings" and minutes.evaluate("el => !el.validity.valid")
    minutes.fill("45")
    page.locator("form[action$='/settings/idle-lock']").get_by_role("button", name="Save").click()
    page.wait_for_url(world.dash + "/settings")
    assert page.get_by_label("Lock after this many idle minutes").input_value() == "45"


def test_reparse_reports_nothing_changed(world: World) -> None:
    page = world.page
    world.go("/captures")
    page.get_by_role("button", name="Reparse every saved page").click()
    report = page.get_by_role("status")
    report.wait_for()
    text = " ".join(report.inner_text().split())
    n = len(selection())
    assert text.startswith(f"Reparsed {n} saved pages: 0 changed, {n} unchanged"), text
    assert "Timeline: 0 added, 0 removed, 0 changed." in text
    world.shot(page, "captures-reparsed")
    world.go(f"/members/{world.member_id(HOA)}")
    assert _count(page) > 20


def test_every_page_kind_meets_basic_accessibility(world: World) -> None:
    page = world.page
    hoa = world.member_id(HOA)
    world.go(f"/members/{hoa}?kind=test_result")
    entry = page.locator("ol.timeline a.title").first.get_attribute("href")
    world.go(str(entry))
    capture = page.locator("section.sources a").first.get_attribute("href")
    paths = [
        "/",
        "/members",
        "/captures",
        "/settings",
        f"/members/{hoa}",
        f"/members/{hoa}/results",
        f"/members/{hoa}/medications",
        str(entry),
        str(capture),
    ]
    problems = {}
    for path in paths:
        world.go(path)
        found = page.evaluate(A11Y_JS)
        if found:
            problems[path] = found
    page.goto(world.dash + "/")
    page.get_by_role("button", name="Lock").click()
    page.wait_for_url(world.base + "/unlock")
    if found := page.evaluate(A11Y_JS):
        problems["/unlock"] = found
    page.get_by_label("Passphrase").fill(PASSPHRASE)
    page.get_by_role("button", name="Unlock").click()
    world.logged_in("/")
    assert problems == {}
