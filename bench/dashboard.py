"""Dashboard speed on the synthetic family vault: the server time of the overview, a timeline page and a
trend chart page at 10,000 and at 100,000 records (each under 100 ms at 100,000, growing no more than
1.5 times from 10,000 to 100,000).

Requests go over real HTTP on loopback to the real app; each figure is the median of several runs after
one warm-up. Unlock is measured from the passphrase's POST to the overview page received, without the
POST itself (the KDF, deliberately slow, is excluded; the benchmark vaults use fast KDF parameters):
first with no index cache (every record decrypted and merged), then after a lock has written the cache
(`unlock.*.from_cache`, the target), with the time until the full index built behind the cache is in
place (`full_index_ready`; changes wait for it, reads do not).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp
from _common import figure
from aiohttp.test_utils import TestServer, unused_port
from synth import PASSPHRASE, build

from bridge.config import ServerConfig
from bridge.server import init_app
from bridge.server.state import STATE

RUNS = 7


async def _post_form(
    s: aiohttp.ClientSession,
    base: str,
    host: dict[str, str],
    page: str,
    action: str,
    prefix: str = "",
    **fields: str,
) -> str:
    """Submit one of the dashboard's forms as the browser would: its CSRF token from `page`, inside the
    session's address prefix (`/s/<secret>`, see bridge/server/sessions.py). Returns where it redirects."""
    text = await (await s.get(base + prefix + page, headers=host)).text()
    csrf = re.search(r'name="csrf" value="([^"]+)"', text)
    assert csrf
    r = await s.post(
        base + prefix + action,
        data={"csrf": csrf.group(1), **fields},
        headers={**host, "Origin": base, "Sec-Fetch-Site": "same-origin"},
        allow_redirects=False,
    )
    assert r.status == 303, r.status
    return r.headers["Location"]


async def _overview(s: aiohttp.ClientSession, base: str, host: dict[str, str]) -> None:
    resp = await s.get(base + "/", headers=host)
    await resp.read()
    assert resp.status == 200, resp.status


async def measure(vault_dir: Path, label: str) -> dict[str, float]:
    """Unlock until the overview is shown: first from the records (no index cache yet), then, after a
    lock (which writes the cache), from the cache; then the pages, once the full index is in place."""
    (vault_dir / "timeline.cache").unlink(missing_ok=True)
    port = unused_port()
    app = init_app(ServerConfig(vault_dir=vault_dir, port=port))
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    base = f"http://127.0.0.1:{port}"
    host = {"Host": f"127.0.0.1:{port}"}
    out: dict[str, float] = {}
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
            state = app[STATE]
            for run in ("records", "cache"):
                t0 = time.perf_counter()
                prefix = (
                    await _post_form(s, base, host, "/unlock", "/unlock", passphrase=PASSPHRASE)
                ).rstrip("/")
                out[f"unlock.{run}.kdf"] = time.perf_counter() - t0
                await _overview(s, base + prefix, host)
                out[f"unlock.{run}"] = time.perf_counter() - t0
                family = state.family
                assert family is not None
                assert family.from_cache == (run == "cache"), run
                family.wait_full()  # the background build behind the cache (nothing to wait for otherwise)
                out[f"unlock.{run}.full"] = time.perf_counter() - t0
                if run == "records":
                    t1 = time.perf_counter()
                    await _post_form(s, base, host, "/", "/lock", prefix=prefix)
                    out["lock.cache_write"] = time.perf_counter() - t1
            family = state.family
            assert family is not None
            members = family.list_members()
            total = family.timeline(limit=1).total
            member = members[0]
            series = family.trends(member.id)
            paths = {
                "overview": "/",
                "timeline": f"/members/{member.id}?page=3",
                "timeline_search": f"/members/{member.id}?q=potassium",
                "trends": f"/members/{member.id}/results",
            }
            for name, path in paths.items():
                times = []
                for i in range(RUNS + 1):
                    start = time.perf_counter()
                    resp = await s.get(base + prefix + path, headers=host)
                    await resp.read()
                    assert resp.status == 200, (path, resp.status)
                    if i:
                        times.append(time.perf_counter() - start)
                out[name] = statistics.median(times)
            figure(f"dashboard.{label}.entries", total, "entries")
            figure(f"dashboard.{label}.series", len(series), "analytes")
    finally:
        await server.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--small", type=int, default=10_000)
    ap.add_argument("--large", type=int, default=100_000)
    ap.add_argument(
        "--keep", type=Path, default=None, help="folder to keep the synthetic vaults in between runs"
    )
    args = ap.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="kinchart-bench-"))
    results = {}
    for label, records in (("10k", args.small), ("100k", args.large)):
        path = root / f"vault-{records}"
        start = time.perf_counter()
        build(path, records=records, captures=records // 5).close()
        figure(f"synth.{label}.build", time.perf_counter() - start, "s")
        results[label] = asyncio.run(measure(path, label))
    for name in ("overview", "timeline", "timeline_search", "trends"):
        small, large = results["10k"][name], results["100k"][name]
        figure(f"dashboard.{name}.10k", small * 1000, "ms")
        figure(f"dashboard.{name}.100k", large * 1000, "ms", "< 100 ms")
        figure(f"dashboard.{name}.growth", large / small, "x", "<= 1.5x")
    for label in ("10k", "100k"):
        r = results[label]
        kdf = r["unlock.cache.kdf"]  # the POST /unlock alone: the KDF (fast parameters here) and the redirect
        figure(f"unlock.{label}.from_records", r["unlock.records"] - r["unlock.records.kdf"], "s")
        figure(f"lock.{label}.cache_write", r["lock.cache_write"], "s")
        target = "< 1 s, KDF excluded" if label == "100k" else ""
        figure(f"unlock.{label}.from_cache", r["unlock.cache"] - kdf, "s", target)
        figure(f"unlock.{label}.full_index_ready", r["unlock.cache.full"] - kdf, "s")


if __name__ == "__main__":
    main()
