"""Export speed and memory on the synthetic family vault (bench/synth.py): every format, each in a fresh
process so that its peak memory is its own.

Per format: the export's wall and CPU time once the family's in-memory timeline index is built (as in
the dashboard, which builds it once per unlock), its peak resident memory (the whole process: vault,
index and export) and what the export added to it; for the PDF also the largest Chromium process.
The index build itself (the family model's, shared by every export and the dashboard) is reported once.
Targets (issue 7): FHIR and PDF each under 15 s and 400 MB peak at 100,000 records.

    python bench/export.py --records 10000 --captures 2000
    python bench/export.py                      # 100,000 records in 20,000 captures
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _common import REPO, figure

FORMATS = ["json", "csv", "fhir", "ics", "html", "pdf", "bundle"]
TARGETS = {"fhir": ("< 15 s", "< 400 MB"), "pdf": ("< 15 s", "< 400 MB")}


def _maxrss_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # KiB on Linux


def _descendants(root: int) -> list[int]:
    parents: dict[int, int] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
                parents[int(d.name)] = int(stat[stat.rindex(")") + 2 :].split()[1])
            except (OSError, ValueError):
                continue
    out, frontier = [], [root]
    while frontier:
        kids = [p for p, pp in parents.items() if pp in frontier]
        out.extend(kids)
        frontier = kids
    return out


def _pss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except (OSError, ValueError):
            continue
    return total / 1024


class Sampler(threading.Thread):
    """The peak memory of this process's descendants (the browser), summed as PSS (shared pages counted
    once), sampled every 50 ms."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = 0.0
        self.stop = threading.Event()

    def run(self) -> None:
        me = os.getpid()
        while not self.stop.wait(0.05):
            self.peak = max(self.peak, _pss_mb(_descendants(me)))


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def one(path: Path, records: int, captures: int, fmt: str) -> dict[str, float]:
    """Run one export in this process (the child) and measure it."""
    os.environ.setdefault("KINCHART_KDF", "fast")
    from synth import build

    from bridge.exports import ExportOptions, write_stream
    from bridge.family import Family, TimelineQuery

    vault = build(path, records, captures)
    family = Family(vault)
    t0, c0 = time.perf_counter(), time.process_time()
    total = family.timeline(TimelineQuery(limit=1)).total  # builds the index
    index_s, index_cpu = time.perf_counter() - t0, time.process_time() - c0
    base = _maxrss_mb()
    with tempfile.TemporaryDirectory(prefix="kinchart-bench-export-", dir=path) as tmp:
        out = Path(tmp) / f"out.{fmt}"
        sampler = Sampler()
        if fmt == "pdf":  # only the PDF starts processes (the sampler costs a little CPU)
            sampler.start()
        t0, c0, k0 = time.perf_counter(), time.process_time(), _children_cpu()
        with out.open("wb") as f:
            count, _ = write_stream(
                fmt,
                family,
                vault,
                ExportOptions(),
                f,
                passphrase="synthetic share passphrase" if fmt == "bundle" else None,
            )
        export_s, export_cpu = time.perf_counter() - t0, time.process_time() - c0
        children_cpu = _children_cpu() - k0
        sampler.stop.set()
        if sampler.is_alive():
            sampler.join()
        size = out.stat().st_size
    peak = _maxrss_mb()
    vault.close()
    return {
        "entries": total,
        "index_s": index_s,
        "index_cpu": index_cpu,
        "export_s": export_s,
        "export_cpu": export_cpu,
        "peak_mb": peak,
        "added_mb": peak - base,
        "count": count,
        "bytes": size,
        "browser_peak_mb": sampler.peak,
        "browser_cpu": children_cpu,
        "load": os.getloadavg()[0],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--captures", type=int, default=20_000)
    ap.add_argument("--path", type=Path, default=None, help="where the synthetic vault is (built if missing)")
    ap.add_argument("--formats", nargs="*", default=FORMATS, choices=FORMATS)
    ap.add_argument("--one", choices=FORMATS, help=argparse.SUPPRESS)
    args = ap.parse_args()
    path = args.path or Path(tempfile.gettempdir()) / f"kinchart-bench-{args.records}-{args.captures}"
    if args.one:
        print(json.dumps(one(path, args.records, args.captures, args.one)))
        return
    env = {**os.environ, "KINCHART_KDF": "fast"}
    start = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "synth.py"),
            str(path),
            "--records",
            str(args.records),
            "--captures",
            str(args.captures),
        ],
        check=False,
        env=env,
        capture_output=True,
    )
    figure("export.synth_build", time.perf_counter() - start, "s")
    index_done = False
    for fmt in args.formats:
        proc = subprocess.run(
            [
                sys.executable,
                __file__,
                "--one",
                fmt,
                "--path",
                str(path),
                "--records",
                str(args.records),
                "--captures",
                str(args.captures),
            ],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        if proc.returncode != 0:
            print(f"export.{fmt}: failed\n{proc.stderr[-2000:]}", file=sys.stderr)
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        if not index_done:
            figure("export.entries", r["entries"], "timeline entries")
            figure("export.index_build", r["index_s"], "s (family timeline index, once per unlock)")
            figure("export.index_build_cpu", r["index_cpu"], "s cpu")
            index_done = True
        t_target, m_target = TARGETS.get(fmt, ("", ""))
        at = f" at 100,000 records (here {args.records:,})" if t_target else ""
        figure(f"export.{fmt}.time", r["export_s"], "s", t_target + at if t_target else "")
        figure(f"export.{fmt}.cpu", r["export_cpu"], "s cpu")
        figure(
            f"export.{fmt}.peak_rss",
            r["peak_mb"],
            "MB (whole process: vault, index, export)",
            m_target + at if m_target else "",
        )
        figure(f"export.{fmt}.added_rss", r["added_mb"], "MB (over the process after the index build)")
        if fmt == "pdf":
            figure(
                "export.pdf.browser_peak", r["browser_peak_mb"], "MB (Chromium and Playwright, PSS summed)"
            )
            figure("export.pdf.browser_cpu", r["browser_cpu"], "s cpu (Chromium and Playwright)")
        figure(f"export.{fmt}.size", r["bytes"] / 1e6, "MB written")
        figure(f"export.{fmt}.count", r["count"], "items")
        figure(f"export.{fmt}.load", r["load"], "(1-minute load average of this machine during the run)")


if __name__ == "__main__":
    main()
