# Sourced by start.sh and test.sh: one place that knows how to install Kinchart's dependencies.
PYTHON=${PYTHON:-python3}

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo "$@"; else "$@"; fi
}

# The install is redone only when pyproject.toml (or the venv's Python) changed since the last one:
# a stamp in .venv records what was installed, so a second start needs no network and no pip.
install_stamp() {
  local extras=$1
  .venv/bin/python - "$extras" <<'PY'
import hashlib, sys
digest = hashlib.sha256(open("pyproject.toml", "rb").read())
digest.update(sys.version.encode() + b"\0" + sys.argv[1].encode())
print(digest.hexdigest())
PY
}

ensure_venv() {
  local extras=${1:-}
  if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
      echo "Kinchart needs Python 3.11 or newer (found $("$PYTHON" --version))." >&2; exit 1; }
    "$PYTHON" -m venv .venv
  fi
  local stamp_file=".venv/kinchart-installed${extras:+-${extras//[^a-z]/}}" want
  want=$(install_stamp "$extras") || return
  if [ -x .venv/bin/kinchart ] && [ "$(cat "$stamp_file" 2>/dev/null)" = "$want" ]; then
    return 0
  fi
  rm -f "$stamp_file"
  # (|| return: the stamp is written only after a whole install, whether or not the caller set -e)
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip || return
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".${extras}" || return
  echo "$want" > "$stamp_file"
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

