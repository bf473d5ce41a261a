"""Capture round trip: from the click on "Save to family record" to the receipt shown in the popup, through
the real extension in headless Chromium and a real `kinchart serve`, for a 200 KB and a 2 MB portal page.
Prints the median and 95th percentile, and the bridge's share (its Server-Timing for the same capture,
posted directly) against the parse time of that page: the share must be under 1.5 times the parse time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from _common import REPO, figure

sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tests" / "browser"))
from capture_helper import chromium_executable, serialize_function_source
from conftest import EXTENSION_DIR, Bridge, PortalServer, launch_extension

from bridge.parsers import Page, parse_page

BASE = REPO / "fixtures" / "portal_pages" / "epic_mychart" / "test_result_cbc_classic"


def page_of_size(target: int) -> tuple[str, str]:
    """A MyChart result page grown to about `target` bytes the way real portal pages are large: inline
    script state and an SVG icon sprite, not thousands of results (the records stay those of the page)."""
    spec = json.loads(BASE.with_suffix(".expected.json").read_text())
    html = BASE.with_suffix(".html").read_text()
    need = max(0, target - len(html.encode()))
    state = json.dumps(
        {
            "bundle": [
                {"id": i, "label": f"widget-{i}", "props": {"w": i % 97, "h": i % 89}}
                for i in range(need // 160)
            ]
        }
    )[: need // 2]
    icon = '<symbol id="i{n}" viewBox="0 0 24 24"><path d="M{n} 2 L22 {n} L2 22 Z"/></symbol>'
    sprite = "".join(icon.format(n=n % 20) for n in range(need // 2 // len(icon.format(n=10))))
    padding = (
        f'<script type="application/json" id="app-state">{state}</script>'
        f'<svg hidden xmlns="http://www.w3.org/2000/svg">{sprite}</svg>'
    )
    return spec["url"], html.replace("</body>", padding + "</body>", 1)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def bridge_share(port: int, token: str, origin: str, url: str, html: str) -> float:
    body = json.dumps({"url": url, "frames": [{"url": url, "html": html}]}).encode()
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/captures",
        data=body,
        headers={
            "X-Kinchart-Client": "bench/1",
            "Content-Type": "application/json",
            "Authorization": f"Bearer {token}",
            "Origin": origin,
        },
    )
    with urllib.request.urlopen(req, timeout=60) as resp:
        return float(resp.headers["Server-Timing"].split("dur=")[1]) / 1000


def main() -> None:
    from playwright.sync_api import sync_playwright

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()
    _ = serialize_function_source()  # the capture code is the extension's own
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        bridge = Bridge(Path(tmp))
        bridge.init()
        bridge.start()
        portal = PortalServer()
        sizes = {"200KB": page_of_size(200_000), "2MB": page_of_size(2_000_000)}
        urls = {
            label: [
                portal.add(f"{url}&run={i}" if "?" in url else f"{url}?run={i}", html)
                for i in range(args.runs)
            ]
            for label, (url, html) in sizes.items()
        }
        portal.start()
        try:
            with launch_extension(pw, chromium_executable(), EXTENSION_DIR, portal.port) as eb:
                eb.set_port(bridge.port)
                popup = eb.open_popup(None)
                popup.get_by_label("Pairing code").fill(bridge.pair_code())
                popup.get_by_role("button", name="Pair").click()
                popup.wait_for_selector("#status[data-state='connected']")
                token = eb.local_storage()["token"]
                origin = f"chrome-extension://{eb.extension_id}"
                round_trips: dict[str, list[float]] = {}
                for label in sizes:
                    times = round_trips[label] = []
                    for page_url in urls[label]:
                        page, tab_id = eb.open_tab(page_url)
                        eb.click_action(page)
                        popup = eb.open_popup(tab_id)
                        save = popup.get_by_role("button", name="Save to family record")
                        start = time.perf_counter()
                        save.click()
                        popup.wait_for_selector("#result:not([hidden])", timeout=60_000)
                        times.append(time.perf_counter() - start)
                        assert popup.locator("#result").get_attribute("data-kind") in {"ok", "warn"}
                        popup.close()
                        page.close()
            # The bridge's share and the parse are measured with the browser closed: its processes (the
            # browser's own at a raised priority) go on using the CPU after the round trips, and posts
            # made then took up to 5 times as long one by one, and twice as long in the median of five,
            # as the same posts a few seconds later.
            for label, (url, html) in sizes.items():
                times = round_trips[label]
                parse = min(_timed_parse(url, html) for _ in range(5))
                shares = [
                    bridge_share(bridge.port, token, origin, f"{url}&direct={i}", html) for i in range(9)
                ]
                share = statistics.median(shares)
                figure(f"roundtrip.{label}.page", len(html.encode()) / 1024, "KiB")
                figure(f"roundtrip.{label}.median", statistics.median(times) * 1000, "ms")
                figure(f"roundtrip.{label}.p95", percentile(times, 0.95) * 1000, "ms")
                figure(f"roundtrip.{label}.parse", parse * 1000, "ms")
                figure(f"roundtrip.{label}.bridge_share", share * 1000, "ms")
                figure(f"roundtrip.{label}.share_over_parse", share / parse, "x", "< 1.5x")
        finally:
            portal.stop()
            bridge.stop()


def _timed_parse(url: str, html: str) -> float:
    start = time.perf_counter()
    parse_page(Page.from_html(html, url))
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
