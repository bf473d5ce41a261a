"""scripts/setup.sh installs again only when pyproject.toml changed: a second `scripts/start.sh` runs no
pip (so it needs no network and answers in seconds).

The venv's python here is a stand-in that records each pip call instead of installing anything, and
runs the real Python for everything else (the stamp's digest)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from conftest import REPO

FAKE_PYTHON = """#!/bin/sh
if [ "$1" = "-m" ] && [ "$2" = "pip" ]; then echo "$*" >> "$(dirname "$0")/../pip-calls"; exit 0; fi
exec {python} "$@"
"""


def _project(tmp: Path) -> Path:
    root = tmp / "project"
    (root / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "scripts" / "setup.sh", root / "scripts" / "setup.sh")
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    bin_dir = root / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").write_text(FAKE_PYTHON.format(python=sys.executable))
    (bin_dir / "kinchart").write_text("#!/bin/sh\n")
    for exe in ("python", "kinchart"):
        (bin_dir / exe).chmod(0o755)
    return root


def _ensure(root: Path, extras: str) -> list[str]:
    subprocess.run(
        ["bash", "-c", f'. scripts/setup.sh && ensure_venv "{extras}"'],
        cwd=root,
        check=True,
        timeout=60,
        capture_output=True,
    )
    calls = root / ".venv" / "pip-calls"
    done = calls.read_text().splitlines() if calls.exists() else []
    calls.unlink(missing_ok=True)
    return done


def test_a_second_start_installs_nothing_until_pyproject_changes(tmp_path: Path) -> None:
    root = _project(tmp_path)
    first = _ensure(root, "")
    assert any("install" in c and "-e ." in c for c in first)  # no stamp yet: installs
    assert _ensure(root, "") == []  # the second start: no pip at all
    assert _ensure(root, "[test]")  # another set of extras has its own stamp
    assert _ensure(root, "[test]") == [] and _ensure(root, "") == []
    with (root / "pyproject.toml").open("a") as f:
        f.write("\n# a changed dependency list\n")
    assert _ensure(root, "")  # changed: installs again
    assert _ensure(root, "") == []


def test_a_failed_install_is_retried(tmp_path: Path) -> None:
    root = _project(tmp_path)
    python = root / ".venv" / "bin" / "python"
    python.write_text(python.read_text().replace("exit 0; fi", "exit 1; fi"))
    failed = subprocess.run(
        ["bash", "-c", '. scripts/setup.sh && ensure_venv ""'], cwd=root, timeout=60, capture_output=True
    )
    assert failed.returncode != 0
    assert not list((root / ".venv").glob("kinchart-installed*"))  # no stamp: the next start tries again
