#!/usr/bin/env bash
# Set up Kinchart and start the bridge and dashboard on the default vault (or $KINCHART_VAULT).
# The first visit to the dashboard creates the passphrase; later starts unlock there.
# Dependencies are installed on the first start and again only when pyproject.toml changes (setup.sh):
# later starts need no network.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
ensure_venv ""
exec .venv/bin/kinchart serve "$@"
