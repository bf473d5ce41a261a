"""One saved page imported into a large vault, the way a user meets it: `kinchart import PAGE.html
--url URL` as a fresh process, into the synthetic family vault (bench/synth.py) whose timeline index
cache is current (as the dashboard leaves it when it locks). Target: under 1 s.

Printed apart: the whole command (wall clock); the same command into a vault of 50 records (what
does not grow with the vault: interpreter start, imports, parsing the page) and the difference (what
the vault's size costs); the interpreter start with the main imports, and opening the vault (its key
derivation and integrity check, in a process of its own); `work` is the wall clock less those two.
The synthetic vault uses the fast KDF parameters: a real vault's ~0.5 s calibrated KDF comes on top,
at any vault size. Also whether the index cache is still current after the import (else the
dashboard's next unlock builds the whole index in the foreground).

    .venv/bin/python bench/import_one.py --records 100000 --synth /tmp/synth-100k
    .venv/bin/python bench/import_one.py --code /path/to/another/checkout   # the same, older code
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO, figure, fixture_pages

PASSPHRASE = "synthetic benchmark passphrase"  # bench/synth.py's

_RUN_CLI = "import sys; sys.argv[0] = 'kinchart'; from bridge.cli import main; main()"
_IMPORTS = "import bridge.cli, bridge.capture, bridge.ingest, bridge.family, bridge.vault, bridge.parsers"
_KEEP_CACHE = """
import sys, time
from bridge.vault import Vault
from bridge.family import Family
v = Vault.open(sys.argv[1]); v.unlock(sys.argv[2])
f = Family(v); f.wait_full(); f.save_cache(); v.close()
"""
_CHECK = """
import sys, time
from bridge.vault import Vault
from bridge.family import index_cache
start = time.perf_counter()
v = Vault.open(sys.argv[1]); v.unlock(sys.argv[2])
print(time.perf_counter() - start)
blob = v.read_cache(index_cache.NAME)
print(int(bool(blob) and index_cache.stamp_of(blob) == v.content_stamp()))
v.close()
"""


def python(code: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(code)}
    return subprocess.run(
        [sys.executable, *args], cwd=code, env=env, capture_output=True, text=True, check=True
    )


def timed(code: Path, *args: str) -> float:
    start = time.perf_counter()
    python(code, *args)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--captures", type=int, default=0, help="default: records / 5")
    ap.add_argument("--synth", type=Path, help="where to build (or reuse) the synthetic vault")
    ap.add_argument("--code", type=Path, default=REPO, help="the source tree whose `kinchart` is measured")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    captures = args.captures or max(1, args.records // 5)
    import synth

    with tempfile.TemporaryDirectory() as tmp:
        base = args.synth or Path(tmp) / "synth"
        synth.build(base, records=args.records, captures=captures).close()
        python(args.code, "-c", _KEEP_CACHE, str(base), PASSPHRASE)  # the dashboard locked: cache current
        url, html = fixture_pages()[0]
        page = Path(tmp) / "page.html"
        page.write_text(html, encoding="utf-8")
        secret = Path(tmp) / "passphrase"
        secret.write_text(PASSPHRASE, encoding="utf-8")
        os.environ["KINCHART_PASSPHRASE_FILE"] = str(secret)
        tiny = Path(tmp) / "tiny"
        synth.build(tiny, records=50, captures=10).close()
        python(args.code, "-c", _KEEP_CACHE, str(tiny), PASSPHRASE)
        walls: list[float] = []
        smalls: list[float] = []
        unlocks: list[float] = []
        current: list[int] = []
        for n in range(args.rounds):
            for source, times in ((base, walls), (tiny, smalls)):
                vault = Path(tmp) / f"round{n}"
                shutil.copytree(source, vault)
                command = ("-c", _RUN_CLI, "import", str(page), "--url", url, "--vault", str(vault))
                times.append(timed(args.code, *command))
                if source is base:
                    opened, ok = python(args.code, "-c", _CHECK, str(vault), PASSPHRASE).stdout.split()
                    unlocks.append(float(opened))
                    current.append(int(ok))
                shutil.rmtree(vault)
        startup = min(timed(args.code, "-c", _IMPORTS) for _ in range(args.rounds))
    wall = statistics.median(walls)
    small = statistics.median(smalls)
    unlock = statistics.median(unlocks)
    figure("import_one.records", args.records, "records")
    figure("import_one.cli_wall", wall, "s")
    figure("import_one.interpreter_and_imports", startup, "s")
    figure("import_one.vault_open_and_kdf", unlock, "s")
    figure("import_one.cli_wall_into_50_records", small, "s")
    figure("import_one.cost_of_vault_size", wall - small, "s")
    figure("import_one.work", wall - startup - unlock, "s", "< 1 s")
    figure("import_one.cache_current_after", min(current), "(1 = yes)")


if __name__ == "__main__":
    main()
