# Sourced by start.sh and test.sh: one place that knows how to install Kinchart's dependencies.
PYTHON=${PYTHON:-python3}

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo "$@"; else "$@"; fi
}

ensure_venv() {
  local extras=${1:-}
  if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
      echo "Kinchart needs Python 3.11 or newer (found $("$PYTHON" --version))." >&2; exit 1; }
    "$PYTHON" -m venv .venv
  fi
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".${extras}"
}

# Playwright cannot download its browsers everywhere: prefer the system Chromium (Debian's package).
ensure_chromium() {
  if [ -x /usr/bin/chromium ] || command -v chromium >/dev/null 2>&1 || [ -n "${KINCHART_CHROMIUM:-}" ]; then
    return 0
  fi
  if command -v apt-get >/dev/null 2>&1; then
    echo "== installing Debian's chromium"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq chromium >/dev/null
  else
    echo "== no system Chromium; asking Playwright for its own"
    .venv/bin/python -m playwright install chromium
  fi
}

# web-ext (the extension's linter) from npm, installed into the repo, never globally.
ensure_node_tools() {
  if command -v npm >/dev/null 2>&1 && [ -f package.json ]; then
    if [ -f package-lock.json ]; then npm ci --silent --no-audit --no-fund >/dev/null; else npm install --silent --no-audit --no-fund >/dev/null; fi
  elif [ -f package.json ]; then
    echo "npm is not installed: the extension lint test will say it was skipped." >&2
  fi
}

