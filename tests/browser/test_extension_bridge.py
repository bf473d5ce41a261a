"""End to end: the extension in headless Chromium, a real `kinchart serve` on a temp vault, portal pages
served under their own host names. Pairing, saving MyChart / Oracle Health (record frame) / unknown pages,
the receipt, assigning an unknown patient, and every failure the caregiver can meet."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_client import ApiClient, unb64u
from conftest import Bridge, ExtensionBrowser, PortalServer, extension_copy, launch_extension

pytestmark = pytest.mark.browser

MYCHART = ("epic_mychart", "test_result_cbc_classic")
ORACLE_SHELL = ("oracle_health", "test_result_list_shell_pagelet")
ORACLE_FRAME = ("oracle_health", "test_result_list_labs")
ORACLE_RECORD_HOST = "http://patientportal.myhealthelife.prairievalleyhealth.example/*"
UNKNOWN = "http://www.citypharmacy.example/account/prescriptions/history"


@pytest.fixture
def paired(extension: ExtensionBrowser, bridge: Bridge) -> Iterator[ExtensionBrowser]:
    extension.set_port(bridge.port)
    pair_with_popup(extension, bridge)
    yield extension


def pair_with_popup(eb: ExtensionBrowser, bridge: Bridge) -> Any:
    popup = eb.open_popup(None)
    assert popup.locator("#status").get_attribute("data-state") == "not_paired"
    popup.get_by_label("Pairing code").fill(bridge.pair_code())
    popup.get_by_role("button", name="Pair").click()
    popup.wait_for_selector("#status[data-state='connected']")
    assert popup.locator("#pairing").is_hidden()
    return popup


def save_in_popup(eb: ExtensionBrowser, url: str) -> tuple[Any, int]:
    """Open the page, click the toolbar button (activeTab), press "Save to family record" in the popup."""
    page, tab_id = eb.open_tab(url)
    eb.click_action(page)
    popup = eb.open_popup(tab_id)
    popup.get_by_role("button", name="Save to family record").click()
    popup.wait_for_selector("#result:not([hidden])")
    popup.wait_for_selector("#save:enabled")
    return popup, tab_id


def last_result(eb: ExtensionBrowser) -> dict[str, Any]:
    last: dict[str, Any] = eb.session_storage()["last"]
    return last


def restart(bridge: Bridge, unlocked: bool = True) -> None:
    bridge.stop()
    bridge.start(unlocked=unlocked)


# ---- pairing ---------------------------------------------------------------------------------------


def api_client_of(eb: ExtensionBrowser) -> ApiClient:
    """A client holding the extension's own pairing key and Origin (as the extension would sign)."""
    local = eb.local_storage()
    return ApiClient(local["client_id"], unb64u(local["key"]), f"chrome-extension://{eb.extension_id}")


def test_pairing_stores_only_the_key_and_the_bridge_learns_the_origin(
    paired: ExtensionBrowser, bridge: Bridge
) -> None:
    local = paired.local_storage()
    assert set(local) == {"port", "client_id", "key"}
    assert len(unb64u(local["key"])) == 32
    assert local["port"] == bridge.port
    [client] = bridge.clients()
    assert client.origin == f"chrome-extension://{paired.extension_id}"
    assert client.name.endswith("extension")


def test_wrong_pairing_code_is_refused(extension: ExtensionBrowser, bridge: Bridge) -> None:
    extension.set_port(bridge.port)
    right = bridge.pair_code()
    wrong = "000000" if right != "000000" else "111111"
    popup = extension.open_popup(None)
    popup.get_by_label("Pairing code").fill(wrong)
    popup.get_by_role("button", name="Pair").click()
    error = popup.locator("#pair-error")
    error.wait_for(state="visible")
    assert "not right" in error.inner_text()
    assert popup.locator("#status").get_attribute("data-state") == "not_paired"
    assert "key" not in extension.local_storage()
    assert bridge.clients() == []


# ---- saving ------------------------------------------------------------------------------------------


def test_save_mychart_page_shows_the_receipt_and_asks_who_it_is(
    paired: ExtensionBrowser, bridge: Bridge, portal_server: PortalServer
) -> None:
    url = portal_server.add_fixture(*MYCHART)
    popup, tab_id = save_in_popup(paired, url)
    result = last_result(paired)
    assert result["ok"] is True
    receipt = result["receipt"]
    assert receipt["vendor"] == "epic_mychart"
    assert receipt["counts"] == {"test_result": 1}
    summary = receipt["summary"]
    assert summary.startswith("Saved 1 result for ")
    assert summary.endswith("Bayshore Regional Health (MyChart)")
    # The popup shows the bridge's own sentence, and the badge says it too.
    assert popup.locator("#result-title").inner_text() == summary
    assert popup.locator("#result").get_attribute("data-kind") == "ok"
    badge = paired.badge(tab_id)
    assert badge["title"] == summary
    assert badge["text"] == "?"  # saved, but whose record is it?

    # Unknown patient: the popup asks who it is; add them as a new member.
    assert receipt["needs_assignment"] is True
    assign = popup.locator("#assign")
    assign.wait_for(state="visible")
    assert "Francis X. O'Brien" in popup.locator("#assign-patient").inner_text()
    assert popup.get_by_label("Someone new").is_checked()
    assert popup.get_by_label("Name", exact=True).input_value() == "Francis X. O'Brien"
    popup.get_by_label("Relationship (optional)").fill("father")
    popup.get_by_role("button", name="Save to this person").click()
    assign.wait_for(state="hidden")
    title = popup.locator("#result-title").inner_text()
    assert title.startswith("Saved 1 result for Francis"), title
    assert "who is this" not in title
    members = bridge.request("POST", "/api/members", client=api_client_of(paired))["members"]
    assert [m["name"] for m in members] == ["Francis X. O'Brien"]
    assert paired.session_storage().get("unassigned") == []

    # The same page again: the bridge knows it and says so; nothing is asked.
    popup2, _ = save_in_popup(paired, url)
    assert popup2.locator("#result-title").inner_text().startswith("Already saved:")
    assert popup2.locator("#assign").is_hidden()

    # Nothing medical went to persistent storage.
    assert set(paired.local_storage()) == {"port", "client_id", "key"}


def test_assign_to_an_existing_member(
    paired: ExtensionBrowser, bridge: Bridge, portal_server: PortalServer
) -> None:
    client = api_client_of(paired)
    # A member that exists already (made through the API, as the dashboard would).
    first = bridge.request(
        "POST",
        "/api/captures",
        client=client,
        body={
            "url": "http://www.citypharmacy.example/x",
            "title": "x",
            "captured_at": "2026-11-01T00:00:00Z",
            "frames": [{"url": "http://www.citypharmacy.example/x", "html": "<html><body>x</body></html>"}],
            "extension_version": "test",
        },
    )
    bridge.request(
        "POST",
        f"/api/captures/{first['capture_id']}/assign",
        client=client,
        body={"new_member": {"name": "Lan Nguyen", "dob": "1949-08-21", "relationship": "mother"}},
    )
    url = portal_server.add_fixture(*ORACLE_FRAME)
    popup, _ = save_in_popup(paired, url)
    popup.locator("#assign").wait_for(state="visible")
    assert popup.locator("#assign-error").is_hidden(), popup.locator("#assign-error").inner_text()
    member = popup.get_by_label("Lan Nguyen (mother)")
    assert member.is_checked(), "the bridge's candidate is preselected"
    member.check()
    popup.get_by_role("button", name="Save to this person").click()
    popup.locator("#assign").wait_for(state="hidden")
    title = popup.locator("#result-title").inner_text()
    assert title.startswith("Saved 11 results for Lan"), title


def test_save_oracle_page_without_access_to_the_record_host_says_what_was_left_out(
    paired: ExtensionBrowser, portal_server: PortalServer
) -> None:
    shell = portal_server.add_fixture(*ORACLE_SHELL)
    portal_server.add_fixture(*ORACLE_FRAME)
    popup, _ = save_in_popup(paired, shell)
    result = last_result(paired)
    assert result["ok"] is True  # the shell page was saved ...
    notes = popup.locator("#result-notes").inner_text()
    assert "patientportal.myhealthelife.prairievalleyhealth.example" in notes  # ... without the record frame,
    assert "could not be read" in notes  # and the caregiver is told so
    assert popup.get_by_role("button", name="Allow and save again").is_visible()
    assert result["frame_origins"] == [ORACLE_RECORD_HOST]


def test_save_oracle_page_with_its_record_frame(
    playwright_driver: Any,
    chromium_path: str | None,
    portal_server: PortalServer,
    bridge: Bridge,
    tmp_path: Path,
) -> None:
    """Once the record host is allowed (what "Allow and save again" asks for), the frame is captured and parsed."""
    shell = portal_server.add_fixture(*ORACLE_SHELL)
    portal_server.add_fixture(*ORACLE_FRAME)
    ext_dir = extension_copy(tmp_path, extra_host_permissions=[ORACLE_RECORD_HOST])
    with launch_extension(playwright_driver, chromium_path, ext_dir, portal_server.port) as eb:
        eb.set_port(bridge.port)
        pair_with_popup(eb, bridge)
        page, tab_id = eb.open_tab(shell)
        page.frame_locator("#pagelet-frame").locator("body").wait_for()
        eb.click_action(page)
        popup = eb.open_popup(tab_id)
        popup.get_by_role("button", name="Save to family record").click()
        popup.wait_for_selector("#result:not([hidden])")
        result = last_result(eb)
        assert result["ok"] is True, result
        receipt = result["receipt"]
        assert receipt["vendor"] == "oracle_health"
        assert receipt["counts"].get("test_result") == 11, receipt
        assert receipt["summary"].startswith("Saved 11 results for ")
        assert receipt["summary"].endswith("Prairie Valley Health (Oracle Health)")
        assert popup.locator("#result-title").inner_text() == receipt["summary"]
        assert "could not be read" not in popup.locator("#result-notes").inner_text()
        assert eb.badge(tab_id)["text"] == "?"


def test_save_unknown_portal_page_is_kept_as_a_document(paired: ExtensionBrowser) -> None:
    popup, _ = save_in_popup(paired, UNKNOWN)
    result = last_result(paired)
    assert result["ok"] is True
    assert result["receipt"]["vendor"] == "generic"
    assert result["receipt"]["counts"] == {"document": 1}
    assert popup.locator("#result-title").inner_text() == result["receipt"]["summary"]
    assert "did not look like a patient-portal page" in popup.locator("#result-notes").inner_text()


# ---- failures --------------------------------------------------------------------------------------


def test_bridge_stopped_capture_waits_in_memory_and_is_delivered_when_back(
    paired: ExtensionBrowser, bridge: Bridge
) -> None:
    bridge.stop()
    popup, tab_id = save_in_popup(paired, UNKNOWN)
    assert popup.locator("#status").get_attribute("data-state") == "bridge_not_running"
    title = popup.locator("#result-title").inner_text()
    assert title.startswith("Not saved yet: Kinchart is not running")
    assert "Start Kinchart" in title
    session = paired.session_storage()
    assert len(session["pending"]) == 1
    assert session["pending"][0]["capture"]["url"] == UNKNOWN
    assert "html" not in str(paired.local_storage())
    assert paired.badge()["text"] == "1"
    alarm = paired.sw("chrome.alarms.get('kinchart-retry')")
    assert alarm and alarm["periodInMinutes"] == 0.5

    bridge.start()
    # Next popup open delivers it (the alarm would too, within half a minute).
    popup2 = paired.open_popup(tab_id)
    popup2.wait_for_selector("#status[data-state='connected']")
    popup2.wait_for_function("document.getElementById('waiting').hidden")
    assert paired.session_storage()["pending"] == []
    notes = popup2.locator("#result-notes").inner_text()
    assert "A page that was waiting has now been saved." in notes
    assert popup2.locator("#result-title").inner_text().startswith("Saved 1 page as a document")
    assert paired.badge()["text"] == ""
    assert paired.sw("chrome.alarms.get('kinchart-retry')") is None


def test_waiting_capture_is_delivered_by_the_retry_alarm(paired: ExtensionBrowser, bridge: Bridge) -> None:
    bridge.stop()
    page, tab_id = paired.open_tab(UNKNOWN)
    paired.click_action(page)
    result = paired.sw("id => self.kinchart.saveTab(id)", tab_id)
    assert result["queued"] is True
    bridge.start()
    # What the alarm handler runs (waiting 30 s for the real alarm is too slow for a test).
    delivered = paired.sw("self.kinchart.deliverPending()")
    assert delivered["delivered"] == 1 and delivered["waiting"] == 0
    assert last_result(paired)["receipt"]["vendor"] == "generic"


def test_locked_vault_is_a_clear_failure(paired: ExtensionBrowser, bridge: Bridge) -> None:
    restart(bridge, unlocked=False)
    assert bridge.ping()["locked"] is True
    popup, _ = save_in_popup(paired, UNKNOWN)
    assert popup.locator("#status").get_attribute("data-state") == "locked"
    assert "unlock it in the dashboard" in popup.locator("#status").inner_text()
    result = popup.locator("#result")
    assert result.get_attribute("data-kind") == "fail"
    assert result.get_attribute("role") == "alert"
    assert popup.locator("#result-title").inner_text() == (
        "Not saved: Kinchart is locked. Unlock it in the Kinchart dashboard, then try again."
    )
    assert paired.session_storage().get("pending", []) == []


def test_revoked_key_means_not_paired(paired: ExtensionBrowser, bridge: Bridge) -> None:
    bridge.revoke_all()
    popup, _ = save_in_popup(paired, UNKNOWN)
    assert popup.locator("#status").get_attribute("data-state") == "not_paired"
    assert popup.locator("#pairing").is_visible()
    title = popup.locator("#result-title").inner_text()
    assert title.startswith("Not saved: This browser is not paired with Kinchart.")
    revoked_key = paired.local_storage()["key"]
    # Pairing again works.
    popup.get_by_label("Pairing code").fill(bridge.pair_code())
    popup.get_by_role("button", name="Pair").click()
    popup.wait_for_selector("#status[data-state='connected']")
    assert paired.local_storage()["key"] != revoked_key


def test_reply_without_the_bridge_header_is_not_trusted(
    extension: ExtensionBrowser, portal_server: PortalServer
) -> None:
    """Something else on the bridge's port (here: the portal test server) is never taken for Kinchart."""
    extension.set_port(portal_server.port)
    page, tab_id = extension.open_tab(UNKNOWN)
    extension.click_action(page)
    popup = extension.open_popup(tab_id)
    assert popup.locator("#status").get_attribute("data-state") == "not_kinchart"
    popup.get_by_role("button", name="Save to family record").click()
    popup.wait_for_selector("#result:not([hidden])")
    assert not popup.locator("#result-title").inner_text().startswith("Saved")
    assert len(extension.session_storage()["pending"]) == 1
    assert re.search(
        r"Not saved yet: Something other than Kinchart", popup.locator("#result-title").inner_text()
    )
    # Neither the page nor anything else was sent to it: only unauthenticated pings.
    to_impostor = [r for r in portal_server.requests if r[1] == f"127.0.0.1:{portal_server.port}"]
    assert to_impostor and all(r[0] == "GET" and r[2] == "/api/ping" for r in to_impostor), to_impostor
