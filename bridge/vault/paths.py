"""Where the vault lives: ``KINCHART_VAULT`` or the platform's user data directory."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

#: The database file inside a vault directory. SQLite adds its ``-wal`` and ``-shm`` companions beside
#: it while the vault is open; the bridge keeps its paired clients (hashes) and sealed caches of
#: derived data (``*.cache``, see ``Vault.write_cache``) there too.
DB_NAME = "kinchart.db"
ENV_VAULT = "KINCHART_VAULT"


def default_vault_dir() -> Path:
    """The vault directory: ``$KINCHART_VAULT`` if set, else ``user_data_dir("kinchart")/vault``.

    The command line's ``--vault DIR`` takes precedence over both (the caller passes that path
    directly). Nothing is created here; :meth:`Vault.create` makes the directory on first use.
    """
    env = os.environ.get(ENV_VAULT, "").strip()
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir("kinchart", appauthor=False)) / "vault"


def db_file(vault_dir: Path) -> Path:
    return vault_dir / DB_NAME
