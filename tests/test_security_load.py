"""Issue 8, faults and load, against a real `kinchart serve` process over real HTTP.

- 50 captures posted at once: all stored, none duplicated, every receipt right (id = the vault's content
  hash, parse = what the parsers make of that page), and 10 simultaneous copies of one page store it once.
- Hostile and broken input: each gets a clear error or is stored with a record, never a crash or a hung
  server (every request has a timeout, and /api/ping must answer after each one; while a pathological
  page is being parsed, /api/ping must answer too).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from api_client import ApiClient
from golden import fixtures
from live_bridge import PASSPHRASE, LiveBridge

from bridge.capture import validate_capture
from bridge.ingest import parse_capture
from bridge.vault import Vault

ORIGIN = "chrome-extension://abcdefghijklmnopabcdefghijklmnop"
PING_TIMEOUT = aiohttp.ClientTimeout(total=10)
POST_TIMEOUT = aiohttp.ClientTimeout(total=240)


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[LiveBridge, ApiClient]]:
    bridge = LiveBridge(tmp_path).start()
    try:
        yield bridge, bridge.pair(origin=ORIGIN)
    finally:
        bridge.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100)) as session:
        yield session


def page_captures(n: int) -> list[dict[str, Any]]:
    found = []
    for i, fx in enumerate(fixtures()):
        url = fx.spec()["url"]
        found.append(
            {
                "url": url,
                "title": fx.id,
                "captured_at": f"2026-11-20T10:{i % 60:02d}:00Z",
                "frames": [{"url": url, "html": fx.html()}],
                "extension_version": "test",
            }
        )
    assert len(found) >= 20
    while len(found) < n:  # more than there are fixtures: the same pages again, at other addresses
        base = found[len(found) % 20]
        found.append({**base, "url": base["url"] + f"#copy{len(found)}"})
    return found[:n]


def expected_receipt(capture: dict[str, Any], vault: Vault) -> dict[str, Any]:
    clean = validate_capture(capture)
    info, result, error = parse_capture(clean)
    return {
        "capture_id": vault.capture_hash(clean),  # keyed by the vault's data key (issue 13)
        "vendor": result.vendor,
        "page_kind": result.page_kind,
        "parser": info.name,
        "counts": dict(Counter(r.kind for r in result.records)),
        "error": error,
    }


async def post(
    http: aiohttp.ClientSession,
    bridge: LiveBridge,
    client: ApiClient,
    body: Any = None,
    *,
    data: Any = None,
    content_type: str | None = None,
) -> tuple[int, Any]:
    """A capture as the extension posts it: signed and sealed (tests/api_client.py). A stream (`data` not
    bytes) is sent as it comes under a signature, as a sealed body too large to read would be."""
    payload = json.dumps(body).encode() if body is not None else data
    signed = await client.aprepare(
        http, bridge.base, "POST", "/api/captures", payload if isinstance(payload, bytes) else None
    )
    h = {**signed.headers, **({"Content-Type": content_type} if content_type else {})}
    sent = signed.body if isinstance(payload, bytes) else payload
    async with http.post(bridge.base + "/api/captures", data=sent, headers=h, timeout=POST_TIMEOUT) as r:
        raw = await r.read()
        try:
            return r.status, client.open(signed, r.status, r.content_type, raw)
        except ValueError:
            return r.status, raw[:200]


async def ping(http: aiohttp.ClientSession, bridge: LiveBridge) -> float:
    started = time.monotonic()
    async with http.get(
        bridge.base + "/api/ping", headers={"X-Kinchart-Client": "test/1"}, timeout=PING_TIMEOUT
    ) as r:
        assert r.status == 200
        assert (await r.json())["name"] == "kinchart"
    return time.monotonic() - started


def stored(bridge: LiveBridge) -> dict[str, dict[str, Any]]:
    """What is on disk, read back through a fresh Vault (after the bridge stopped)."""
    with Vault.open(bridge.vault_dir) as vault:
        vault.unlock(PASSPHRASE)
        rows = vault.list_captures()
        out = {}
        for row in rows:
            vault.get_capture(row.id)  # decrypts and authenticates the whole page
            out[row.id] = {"meta": row.meta, "records": Counter(r.kind for r in vault.records_for(row.id))}
        vault.check()
        return out


async def test_fifty_concurrent_captures_all_stored_once_with_right_receipts(
    live: tuple[LiveBridge, ApiClient], http: aiohttp.ClientSession
) -> None:
    bridge, client = live
    captures = page_captures(50)
    with Vault.open(bridge.vault_dir) as vault:
        vault.unlock(PASSPHRASE)
        expected = [expected_receipt(c, vault) for c in captures]
    assert len({e["capture_id"] for e in expected}) == 50
    results = await asyncio.gather(*(post(http, bridge, client, c) for c in captures))
    for (status, receipt), want in zip(results, expected, strict=True):
        assert status == 201, receipt
        assert receipt["duplicate"] is False
        assert receipt["capture_id"] == receipt["hash"] == want["capture_id"]
        for key in ("vendor", "page_kind", "parser", "counts", "error"):
            assert receipt[key] == want[key], (key, receipt[key], want[key])
        assert receipt["summary"]
    # The same 50 again, all at once: every one a duplicate with the same id.
    again = await asyncio.gather(*(post(http, bridge, client, c) for c in captures))
    assert [(s, r["duplicate"], r["capture_id"]) for s, r in again] == [
        (200, True, e["capture_id"]) for e in expected
    ]
    # Ten copies of one new page at the same moment: stored once.
    one = {**captures[0], "url": captures[0]["url"] + "#race"}
    race = await asyncio.gather(*(post(http, bridge, client, one) for _ in range(10)))
    assert sorted(s for s, _ in race) == [200] * 9 + [201]
    assert len({r["capture_id"] for _, r in race}) == 1
    await ping(http, bridge)
    bridge.stop()
    on_disk = stored(bridge)
    assert set(on_disk) == {e["capture_id"] for e in expected} | {race[0][1]["capture_id"]}
    for want in expected:
        got = on_disk[want["capture_id"]]
        assert dict(got["records"]) == want["counts"]
        assert got["meta"]["parser"] == want["parser"]


def _cap(html: str, **extra: Any) -> dict[str, Any]:
    url = extra.pop("url", "https://portal.unknown.example/hostile")
    return {
        "url": url,
        "title": "Hostile",
        "captured_at": "2026-11-20T10:00:00Z",
        "frames": [{"url": url, "html": html}],
        "extension_version": "test",
        **extra,
    }


def bad_inputs() -> Iterator[tuple[str, dict[str, Any]]]:
    """(name, how to post it): body (JSON-encoded), or raw data + content type."""
    rnd = os.urandom(300_000)
    yield "malformed_json", {"data": b'{"url": "https://x.example", "frames": [', "ok": {400}}
    yield "invalid_utf8", {"data": b'{"url": "\xff\xfe\xfa", "frames": []}', "ok": {400}}
    yield "json_not_an_object", {"body": ["https://x.example"], "ok": {400}}
    yield "json_nested_100k", {"data": b"[" * 100_000 + b"]" * 100_000, "ok": {400}}
    yield "missing_frames", {"body": {"url": "https://x.example"}, "ok": {400}}
    yield "wrong_types", {"body": {"url": 5, "frames": "x"}, "ok": {400}}
    yield "nan_and_infinity", {"data": b'{"url": NaN, "frames": [{"html": Infinity}]}', "ok": {400}}
    yield "malformed_address", {"body": _cap("<p>x</p>", url="http://[::1"), "ok": {400}}
    yield (
        "frames_10000",
        {"body": {**_cap("<p>x</p>"), "frames": [{"url": "", "html": "<p>f</p>"}] * 10_000}, "ok": {400}},
    )
    yield (
        "frames_64_of_100kb",
        {
            "body": {
                **_cap("<p>x</p>"),
                "frames": [
                    {
                        "url": f"https://portal.unknown.example/f{i}",
                        "html": f"<p>frame {i}</p>" + "<p>filler text</p>" * 6000,
                    }
                    for i in range(64)
                ],
            },
            "ok": {201},
        },
    )
    yield (
        "form_post",
        {
            "data": b"url=https://x.example&frames=1",
            "content_type": "application/x-www-form-urlencoded",
            "ok": {415},
        },
    )
    yield (
        "text_plain",
        {"data": json.dumps(_cap("<p>x</p>")).encode(), "content_type": "text/plain", "ok": {415}},
    )
    yield "nul_bytes", {"body": _cap("<main><p>Result\x00\x00 NUL</p>\x00</main>" * 500), "ok": {201}}
    yield "lone_surrogates", {"body": _cap("<p>broken \ud800 pair \udfff</p>"), "ok": {201}}
    yield (
        "binary_junk_in_html",
        {"body": _cap("<html><body>" + rnd.decode("latin-1") + "</body></html>"), "ok": {201}},
    )
    yield (
        "control_chars",
        {"body": _cap("".join(chr(i) for i in range(32)) * 1000), "ok": {201}, "no_text": True},
    )
    yield (
        "table_100k_rows",
        {
            "body": _cap(
                "<table><tr><th>Test</th><th>Result</th><th>Units</th></tr>"
                + "".join(
                    f"<tr><td>Sodium</td><td>{130 + i % 20}</td><td>mmol/L</td></tr>" for i in range(100_000)
                )
                + "</table>"
            ),
            "ok": {201},
        },
    )
    yield (
        "html_20mb",
        {
            "body": _cap(
                "<main><p>" + "lorem ipsum dolor sit amet " * (20 * 1024 * 1024 // 27) + "</p></main>"
            ),
            "ok": {201},
        },
    )
    yield (
        "unclosed_tags_50k",
        {"body": _cap("<table><tr><td><ul><li>" * 12_500), "ok": {201}, "no_text": True},
    )
    yield (
        "unclosed_tags_with_text",
        {"body": _cap("<table><tr><td><ul><li>Potassium 4.1" * 5_000), "ok": {201}},
    )
    yield "oversized_33mib", {"data": json.dumps(_cap("x" * (33 * 1024 * 1024))).encode(), "ok": {413}}


async def test_hostile_and_broken_input_never_crashes_or_hangs_the_bridge(
    live: tuple[LiveBridge, ApiClient], http: aiohttp.ClientSession
) -> None:
    bridge, client = live
    tried: list[str] = []
    created = set()
    for name, case in bad_inputs():
        started = time.monotonic()
        status, body = await post(
            http,
            bridge,
            client,
            case.get("body"),
            data=case.get("data"),
            content_type=case.get("content_type"),
        )
        assert status in case["ok"], f"{name}: {status} {body!r}"
        if status >= 400:
            assert isinstance(body, dict) and body.get("error") and body.get("message"), f"{name}: {body!r}"
        else:
            # Stored, and it yields something: a parsed record, or at least the page kept as a document;
            # a page with no readable text at all is kept and says so.
            if case.get("no_text"):
                assert body["counts"] or any("no readable text" in w for w in body["warnings"]), (
                    f"{name}: {body}"
                )
            else:
                assert sum(body["counts"].values()) >= 1, f"{name}: {body}"
            created.add(body["capture_id"])
        assert await ping(http, bridge) < 5, f"the bridge was slow to answer after {name}"
        tried.append(f"{name} {status} {time.monotonic() - started:.1f}s")

    # A body bigger than the limit without a Content-Length (chunked): 413 too.
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"url": "https://x.example", "frames": [{"html": "'
        for _ in range(34):
            yield b"x" * (1024 * 1024)
        yield b'"}]}'

    status, body = await post(http, bridge, client, data=chunks())
    assert status == 413 and body["error"] == "too_large"
    tried.append("oversized_chunked")
    assert await ping(http, bridge) < 5
    assert len(tried) >= 20
    print("\n".join(tried))
    bridge.stop()
    assert set(stored(bridge)) == created


async def test_a_pathological_page_does_not_stop_the_bridge_answering(
    live: tuple[LiveBridge, ApiClient], http: aiohttp.ClientSession
) -> None:
    """100,000 nested <div>s: the HTML parser needs a long time (its work grows with depth squared);
    meanwhile the bridge keeps answering, and the page is stored with a record in the end."""
    bridge, client = live
    deep = _cap("<div>" * 100_000 + "<p>deep inside</p>" + "</div>" * 100_000)
    task = asyncio.create_task(post(http, bridge, client, deep))
    await asyncio.sleep(0.5)
    pings = []
    while not task.done() and len(pings) < 5:
        pings.append(await ping(http, bridge))
        await asyncio.sleep(0.2)
    status, receipt = await task
    assert status == 201, receipt
    assert sum(receipt["counts"].values()) >= 1
    assert all(p < 5 for p in pings), pings
    assert await ping(http, bridge) < 5
