"""Run every benchmark, one after another, each printing `name: value unit (target ...)` lines.

`python bench/all.py` runs them at full size (slow: builds 10,000- and 100,000-record vaults and posts
20,000 captures); `--quick` runs them scaled down to check they work.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
FULL = [
    ["parse.py"],
    ["ingest.py"],
    ["storage.py"],
    ["dashboard.py"],
    ["export.py"],
    ["roundtrip.py"],
    ["memory.py"],
]
QUICK = [
    ["parse.py"],
    ["ingest.py"],
    ["storage.py"],
    ["dashboard.py", "--small", "1000", "--large", "5000"],
    ["export.py", "--records", "5000", "--captures", "1000"],
    ["roundtrip.py", "--runs", "3"],
    ["memory.py", "--quick"],
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    failed = []
    for script, *rest in QUICK if args.quick else FULL:
        path = HERE / script
        if not path.exists():
            print(f"# {script}: not written yet")
            continue
        print(f"# {script}", flush=True)
        if subprocess.run([sys.executable, str(path), *rest], cwd=HERE.parent).returncode != 0:
            failed.append(script)
    if failed:
        print(f"# failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
