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


PASSPHRASE_FILE_VAR = "KINCHART_PASSPHRASE_FILE"  # noqa: S105 (the variable's name, not a secret)


class PassphraseFileError(Exception):
    """A passphrase file named in the environment cannot be used; the message says why, in one line
    (the file's path and the reason, never its content)."""


def passphrase_file(variable: str = PASSPHRASE_FILE_VAR) -> Path | None:
    raw = os.environ.get(variable)
    return Path(raw) if raw else None


def read_passphrase_file(path: Path | None = None, variable: str = PASSPHRASE_FILE_VAR) -> str | None:
    """The passphrase from the file `variable` names (for scripts and tests), without its final
    newline; None when the variable is not set. PassphraseFileError when the file is missing,
    unreadable, not UTF-8 text or empty."""
    path = path or passphrase_file(variable)
    if path is None:
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PassphraseFileError(f"{variable} names {path}, which does not exist.") from None
    except IsADirectoryError:
        raise PassphraseFileError(f"{variable} names {path}, which is a folder, not a file.") from None
    except PermissionError:
        raise PassphraseFileError(f"{variable} names {path}, which this user may not read.") from None
    except UnicodeDecodeError:
        raise PassphraseFileError(f"{variable} names {path}, which is not UTF-8 text.") from None
    except OSError as exc:
        raise PassphraseFileError(
            f"{variable} names {path}, which cannot be read ({exc.strerror})."
        ) from None
    passphrase = text.rstrip("\r\n")
    if not passphrase:
        raise PassphraseFileError(f"{variable} names {path}, which is empty.")
    return passphrase


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
