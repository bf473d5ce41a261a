"""Dashboard speed on the synthetic family vault: the server time of the overview, a timeline page and a
trend chart page at 10,000 and at 100,000 records (each under 100 ms at 100,000, growing no more than
1.5 times from 10,000 to 100,000).

Requests go over real HTTP on loopback to the real app; each figure is the median of several runs after
one warm-up (the first request after unlock builds the in-memory timeline index; that is reported as
`unlock.index`).
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


async def measure(vault_dir: Path, label: str) -> dict[str, float]:
    port = unused_port()
    app = init_app(ServerConfig(vault_dir=vault_dir, port=port))
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    base = f"http://127.0.0.1:{port}"
    host = {"Host": f"127.0.0.1:{port}"}
    out: dict[str, float] = {}
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
            page = await (await s.get(base + "/unlock", headers=host)).text()
            csrf = re.search(r'name="csrf" value="([^"]+)"', page)
            assert csrf
            state = app[STATE]
            t0 = time.perf_counter()
            r = await s.post(
                base + "/unlock",
                data={"csrf": csrf.group(1), "passphrase": PASSPHRASE},
                headers={**host, "Origin": base, "Sec-Fetch-Site": "same-origin"},
                allow_redirects=False,
            )
            assert r.status == 303, r.status
            unlocked = time.perf_counter()
            family = state.family
            assert family is not None
            members = family.list_members()
            total = family.timeline(limit=1).total  # builds the in-memory index
            out["unlock.index"] = time.perf_counter() - unlocked
            out["unlock.total_with_kdf"] = time.perf_counter() - t0
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
                    resp = await s.get(base + path, headers=host)
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
    figure("unlock.100k.index", results["100k"]["unlock.index"], "s", "< 1 s, KDF excluded")


if __name__ == "__main__":
    main()
