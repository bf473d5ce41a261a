"""Where things are and how the bridge listens: one place for defaults and their environment overrides."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# An unassigned port (IANA), fixed so the extension finds the bridge without configuration.
DEFAULT_PORT = 47213
# Captures are HTML pages with frames; the largest real portal pages are a few MB.
MAX_BODY_BYTES = 32 * 1024 * 1024
BIND_HOST = "127.0.0.1"


def env_port() -> int:
    raw = os.environ.get("KINCHART_PORT")
    return int(raw) if raw else DEFAULT_PORT


def passphrase_file() -> Path | None:
    raw = os.environ.get("KINCHART_PASSPHRASE_FILE")
    return Path(raw) if raw else None


def read_passphrase_file(path: Path | None = None) -> str | None:
    """The passphrase from KINCHART_PASSPHRASE_FILE (for scripts and tests), without its final newline."""
    path = path or passphrase_file()
    if path is None:
        return None
    return path.read_text(encoding="utf-8").rstrip("\r\n")


@dataclass(frozen=True)
class ServerConfig:
    vault_dir: Path
    port: int = DEFAULT_PORT
    max_body: int = MAX_BODY_BYTES
    # A passphrase to unlock with at start (from KINCHART_PASSPHRASE_FILE); None starts locked.
    passphrase: str | None = None
    idle_lock_minutes: float = 30

    @property
    def allowed_hosts(self) -> frozenset[str]:
        return frozenset({f"127.0.0.1:{self.port}", f"localhost:{self.port}"})
