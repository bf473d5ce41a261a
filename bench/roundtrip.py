"""Capture round trip: from the click on "Save to family record" to the receipt shown in the popup, through
the real extension in headless Chromium and a real `kinchart serve`, for a 200 KB and a 2 MB portal page.
Prints the median and 95th percentile.

Then the bridge's share of a save, measured with direct requests made as the extension makes them
(docs/api.md: a hello, then a signed and sealed POST /api/captures) with the pairing the extension keeps
in storage.local: the bridge's Server-Timing for the capture request (`bridge_share`, the handler:
decode, validate, store, parse, file), the whole signed request as the client sees it (`post`: also the
transport and the bridge's checking, unsealing and sealing, which happen outside the handler), and the
hello that precedes every request (`hello`), apart. Against the parse time of that page the target is:
a share under 1.5 times the parse for pages whose parse takes 10 ms or more, under 10 ms below that.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _api import ApiClient, client_from_storage, timed_call
from _common import REPO, figure

sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tests" / "browser"))
from capture_helper import EXTENSION_DIR, chromium_executable, serialize_function_source
from conftest import Bridge, PortalServer, launch_extension

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


def direct_saves(
    client: ApiClient, base: str, url: str, html: str, runs: int
) -> list[tuple[float, float, float]]:
    """(hello, post, Server-Timing) of `runs` signed captures of the page, each at its own address."""
    out = []
    for i in range(runs):
        page_url = f"{url}&direct={i}" if "?" in url else f"{url}?direct={i}"
        body = {"url": page_url, "frames": [{"url": page_url, "html": html}]}
        call = timed_call(client, base, "POST", "/api/captures", body)
        assert call.status == 201, (call.status, call.answer)
        assert call.server is not None, "POST /api/captures sent no Server-Timing"
        out.append((call.hello, call.post, call.server))
    return out


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
                # The extension's own pairing (extension/bridge.js keeps client_id and key), used from
                # its own Origin, as the extension would.
                client = client_from_storage(eb.local_storage(), f"chrome-extension://{eb.extension_id}")
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
            base = f"http://127.0.0.1:{bridge.port}"
            for label, (url, html) in sizes.items():
                times = round_trips[label]
                parse = min(_timed_parse(url, html) for _ in range(5))
                hellos, posts, shares = zip(*direct_saves(client, base, url, html, 9), strict=True)
                share = statistics.median(shares)
                figure(f"roundtrip.{label}.page", len(html.encode()) / 1024, "KiB")
                figure(f"roundtrip.{label}.median", statistics.median(times) * 1000, "ms")
                figure(f"roundtrip.{label}.p95", percentile(times, 0.95) * 1000, "ms")
                figure(f"roundtrip.{label}.parse", parse * 1000, "ms")
                if parse >= 0.010:
                    figure(f"roundtrip.{label}.bridge_share", share * 1000, "ms")
                    figure(f"roundtrip.{label}.share_over_parse", share / parse, "x", "<= 1.5x")
                else:
                    figure(
                        f"roundtrip.{label}.bridge_share", share * 1000, "ms", "< 10 ms: parse under 10 ms"
                    )
                    figure(f"roundtrip.{label}.share_over_parse", share / parse, "x")
                figure(f"roundtrip.{label}.post", statistics.median(posts) * 1000, "ms")
                figure(f"roundtrip.{label}.post_over_parse", statistics.median(posts) / parse, "x")
                figure(f"roundtrip.{label}.hello", statistics.median(hellos) * 1000, "ms")
        finally:
            portal.stop()
            bridge.stop()


def _timed_parse(url: str, html: str) -> float:
    start = time.perf_counter()
    parse_page(Page.from_html(html, url))
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
