"""Memory: the bridge's peak RSS while 20,000 captures are posted to it (target under 300 MB).

Starts a real `kinchart serve` on a temp vault, pairs a client as the extension does (docs/api.md: a key,
then a hello and a signed, sealed request per capture), posts varied fixture pages (each made unique) one
after another over loopback, and reads the peak resident set (VmHWM) from /proc.

The peak is reset once pairing is done (`/proc/PID/clear_refs`), so `bridge_peak_rss` is the peak while
captures are posted, not that of start-up or of checking the pairing code (Argon2id at its real 128 MiB:
the code is made here, outside the bridge's KINCHART_KDF=fast), which `bridge_peak_rss_through_pairing`
shows. Pages are parsed in worker
processes of the bridge's own (bridge/parsers/budget.py); their memory is not the bridge process's, so it
is reported too, and the total of bridge and workers is sampled every 50 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _api import BENCH_CLIENT, DEFAULT_ORIGIN, pair, timed_call, wait_for_ping
from _common import REPO, figure, fixture_pages

from bridge.server.pairing import Pairing

PASSPHRASE = "bench passphrase"


def status_kb(pid: int, field: str) -> int:
    """A `VmXxx:` line of /proc/PID/status in KiB (0 if the process is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def descendants(pid: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def reset_peak(pid: int) -> bool:
    """Start VmHWM afresh (Linux 4.0+, own processes): 5 to clear_refs."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


class RssSampler(threading.Thread):
    """The largest sum of VmRSS over the bridge and its workers, sampled every 50 ms."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak_kb, self.stop_event = pid, 0, threading.Event()

    def run(self) -> None:
        while not self.stop_event.wait(0.05):
            pids = [self.pid, *descendants(self.pid)]
            self.peak_kb = max(self.peak_kb, sum(status_kb(p, "VmRSS") for p in pids))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--captures", type=int, default=20_000)
    ap.add_argument("--quick", action="store_true", help="300 captures, to check the benchmark works")
    ap.add_argument("--port", type=int, default=47299)
    args = ap.parse_args()
    captures = 300 if args.quick else args.captures
    pages = fixture_pages()
    base = f"http://127.0.0.1:{args.port}"
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
            wait_for_ping(base)
            client = pair(
                base, Pairing(Path(tmp) / "vault").new_code(), DEFAULT_ORIGIN, "bench", BENCH_CLIENT
            )
            pairing_peak_mb = status_kb(proc.pid, "VmHWM") / 1024
            reset = all(reset_peak(p) for p in [proc.pid, *descendants(proc.pid)])
            sampler = RssSampler(proc.pid)
            sampler.start()
            hellos = []
            start = time.perf_counter()
            for i in range(captures):
                url, html = pages[i % len(pages)]
                url = f"{url}{'&' if '?' in url else '?'}bench={i}"
                call = timed_call(
                    client,
                    base,
                    "POST",
                    "/api/captures",
                    {"url": url, "frames": [{"url": url, "html": html}]},
                )
                if call.status not in (200, 201):
                    raise SystemExit(f"capture {i} answered {call.status}: {call.answer}")
                hellos.append(call.hello)
            elapsed = time.perf_counter() - start
            sampler.stop_event.set()
            sampler.join()
            workers = descendants(proc.pid)
            figure("memory.captures", captures, "captures")
            figure("memory.capture_rate", captures / elapsed, "captures/s")
            figure("memory.hello_median", statistics.median(hellos) * 1000, "ms")
            figure("memory.bridge_peak_rss_through_pairing", pairing_peak_mb, "MB")
            label = "memory.bridge_peak_rss" if reset else "memory.bridge_peak_rss_since_start"
            figure(label, status_kb(proc.pid, "VmHWM") / 1024, "MB", "< 300 MB")
            figure("memory.parse_workers", len(workers), "processes")
            if workers:
                figure("memory.worker_peak_rss_max", max(status_kb(p, "VmHWM") for p in workers) / 1024, "MB")
            figure("memory.bridge_and_workers_peak_rss_sampled", sampler.peak_kb / 1024, "MB")
        finally:
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()
