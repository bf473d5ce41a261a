"""The dashboard server's memory after an unlock, the way a user meets it: a fresh `kinchart serve` on
the synthetic family vault (bench/synth.py), the passphrase POSTed to /unlock through the dashboard's
form, the overview shown, then the full index in place (the dashboard's pages read it). Printed: the
resident set (VmRSS) and its peak (VmHWM) of the server process, once with the timeline index cache
current (as a lock leaves it) and once without one. Target: under 300 MB at 100,000 records.

    .venv/bin/python bench/server_rss.py --records 100000 --synth /tmp/synth-100k
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from _common import REPO, figure
from synth import PASSPHRASE, build

SETTLE = 20.0  # seconds the background index build is given after the overview, at most


def status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


async def unlock_and_browse(port: int, pid: int) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        for _ in range(200):
            try:
                await session.get(f"http://127.0.0.1:{port}/unlock", headers={"Host": f"127.0.0.1:{port}"})
                break
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.1)
        prefix = await login(session, port)
        await overview(session, port, prefix)
        # the full index replaces the cached one in the background: wait until the RSS stops growing
        last, stable, deadline = 0, 0, time.monotonic() + SETTLE
        while time.monotonic() < deadline and stable < 10:
            await asyncio.sleep(0.2)
            now = status_kb(pid, "VmRSS")
            stable = stable + 1 if abs(now - last) < 1024 else 0
            last = now
        await overview(session, port, prefix)


async def login(session: aiohttp.ClientSession, port: int) -> str:
    """The unlock form as a browser submits it (tests/dashboard_client.py): its CSRF token, the exact
    Origin; returns the session's address prefix (`/s/<secret>`) the redirect gives."""
    origin, host = f"http://127.0.0.1:{port}", {"Host": f"127.0.0.1:{port}"}
    text = await (await session.get(origin + "/unlock", headers=host)).text()
    csrf = re.search(r'name="csrf" value="([^"]+)"', text)
    assert csrf
    r = await session.post(
        origin + "/unlock",
        data={"csrf": csrf.group(1), "passphrase": PASSPHRASE},
        headers={**host, "Origin": origin, "Sec-Fetch-Site": "same-origin"},
        allow_redirects=False,
    )
    assert r.status == 303, r.status
    return r.headers["Location"].rstrip("/")


async def overview(session: aiohttp.ClientSession, port: int, prefix: str) -> None:
    r = await session.get(f"http://127.0.0.1:{port}{prefix}/", headers={"Host": f"127.0.0.1:{port}"})
    await r.read()
    assert r.status == 200, r.status


def measure(vault: Path, label: str) -> None:
    from aiohttp.test_utils import unused_port

    port = unused_port()
    env = {**os.environ, "PYTHONPATH": str(REPO), "KINCHART_PORT": str(port)}
    env.pop("KINCHART_PASSPHRASE_FILE", None)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; sys.argv[0] = 'kinchart'; from bridge.cli import main; main()",
            "serve",
            "--vault",
            str(vault),
            "--port",
            str(port),
        ],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        asyncio.run(unlock_and_browse(port, proc.pid))
        figure(f"server_rss.{label}.rss", status_kb(proc.pid, "VmRSS") / 1024, "MB", "< 300 MB")
        figure(f"server_rss.{label}.peak", status_kb(proc.pid, "VmHWM") / 1024, "MB")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--synth", type=Path, help="where to build (or reuse) the synthetic vault")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.synth or Path(tmp) / "synth"
        vault = build(path, records=args.records, captures=max(1, args.records // 5))
        from bridge.family import Family

        family = Family(vault)
        family.wait_full()
        family.save_cache()
        vault.close()
        figure("server_rss.records", args.records, "records")
        measure(path, "from_cache")
        (path / "timeline.cache").unlink(missing_ok=True)
        measure(path, "from_records")


if __name__ == "__main__":
    main()
