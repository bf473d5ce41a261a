#!/usr/bin/env bash
# Set up everything the tests need, then run all of them: lint, types, unit, golden, browser.
# Safe to run again; works on a fresh Debian/Ubuntu (as root or with sudo) or macOS with Python 3.11+.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
ensure_venv "[test]"
ensure_chromium
ensure_node_tools

echo "== ruff"; .venv/bin/ruff check bridge tests bench
.venv/bin/ruff format --check bridge tests bench
echo "== mypy"; .venv/bin/mypy
echo "== pytest"
set +e
.venv/bin/python -m pytest -p no:cacheprovider "$@"
status=$?
set -e
# pytest exits 5 when it collected nothing: that is a failure of this command, not a pass.
exit $status
