"""Memory: the bridge's peak RSS while 20,000 captures are posted to it (target under 300 MB).

Starts a real `kinchart serve` on a temp vault, pairs, posts varied fixture pages (each made unique) one
after another over loopback, and reads the process's VmHWM (peak resident set) from /proc at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from _common import REPO, figure, fixture_pages

from bridge.server.pairing import Pairing

PASSPHRASE = "bench passphrase"


def post(port: int, path: str, body: dict[str, object], token: str | None = None) -> dict[str, object]:
    headers = {"X-Kinchart-Client": "bench/1", "Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(), headers=headers
    )
    with urllib.request.urlopen(req, timeout=60) as resp:
        result: dict[str, object] = json.loads(resp.read())
        return result


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--captures", type=int, default=20_000)
    ap.add_argument("--port", type=int, default=47299)
    args = ap.parse_args()
    pages = fixture_pages()
    with tempfile.TemporaryDirectory() as tmp:
        passfile = Path(tmp) / "pass"
        passfile.write_text(PASSPHRASE)
        env = {
            **os.environ,
            "KINCHART_VAULT": f"{tmp}/vault",
            "KINCHART_PASSPHRASE_FILE": str(passfile),
            "KINCHART_KDF": "fast",
        }
        subprocess.run(
            [sys.executable, "-m", "bridge", "init"], env=env, cwd=REPO, check=True, capture_output=True
        )
        proc = subprocess.Popen(
            [sys.executable, "-m", "bridge", "serve", "--port", str(args.port)],
            env=env,
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            for _ in range(100):
                try:
                    urllib.request.urlopen(
                        urllib.request.Request(
                            f"http://127.0.0.1:{args.port}/api/ping", headers={"X-Kinchart-Client": "bench/1"}
                        ),
                        timeout=1,
                    )
                    break
                except OSError:
                    time.sleep(0.1)
            code = Pairing(Path(tmp) / "vault").new_code()
            token = str(post(args.port, "/api/pair", {"code": code, "client_name": "bench"})["token"])
            start = time.perf_counter()
            for i in range(args.captures):
                url, html = pages[i % len(pages)]
                url = f"{url}{'&' if '?' in url else '?'}bench={i}"
                post(args.port, "/api/captures", {"url": url, "frames": [{"url": url, "html": html}]}, token)
            elapsed = time.perf_counter() - start
            figure("memory.captures", args.captures, "captures")
            figure("memory.capture_rate", args.captures / elapsed, "captures/s")
            figure("memory.bridge_peak_rss", peak_rss_mb(proc.pid), "MB", "< 300 MB")
        finally:
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()
