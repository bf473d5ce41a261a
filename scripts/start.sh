#!/usr/bin/env bash
# Set up Kinchart and start the bridge and dashboard on the default vault (or $KINCHART_VAULT).
# The first visit to the dashboard creates the passphrase; later starts unlock there.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
ensure_venv ""
exec .venv/bin/kinchart serve "$@"
