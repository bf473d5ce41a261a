"""The encrypted vault: captures (raw truth), records derived from them, small documents.

See :mod:`bridge.vault.vault` for the model, :mod:`.kdf` and :mod:`.crypto` for the key hierarchy,
:mod:`.capture` for capture identity, :mod:`.migrations` for the schema, :mod:`.backup` for backups.
"""

from __future__ import annotations

from .capture import canonical_json, capture_hash
from .errors import (
    InvalidInput,
    TamperedData,
    UnknownCapture,
    VaultError,
    VaultExists,
    VaultLocked,
    VaultNotFound,
    WrongPassphrase,
)
from .kdf import KdfParams, calibrate
from .paths import DB_NAME, default_vault_dir
from .vault import CaptureRow, RecordRow, Vault

__all__ = [
    "DB_NAME",
    "CaptureRow",
    "InvalidInput",
    "KdfParams",
    "RecordRow",
    "TamperedData",
    "UnknownCapture",
    "Vault",
    "VaultError",
    "VaultExists",
    "VaultLocked",
    "VaultNotFound",
    "WrongPassphrase",
    "calibrate",
    "canonical_json",
    "capture_hash",
    "default_vault_dir",
]
