"""Pairing: a short one-time code shown to the caregiver becomes a 256-bit key shared with one extension.

Kept in `clients.json` in the vault folder (mode 0600; no medical content: client names, origins, keys),
so that `kinchart pair-code` and a running bridge share it, and so that a locked bridge can still prove
itself to a paired extension. The key is what `api_auth` signs and seals with; it is handed out once,
in the answer to the code. The pending code is stored only as a slow, salted Argon2id hash (see
`CODE_KDF`), so a copy of the file does not give the code away within its five minutes.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import os
import secrets
import tempfile
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bridge.vault.errors import VaultError
from bridge.vault.kdf import ENV_KDF, KdfParams, derive, dump_stored, load_stored, new_salt

from .api_auth import KEY_BYTES, NonceBook, b64u, unb64u

log = logging.getLogger(__name__)

CODE_TTL = timedelta(minutes=5)
CODE_ATTEMPTS = 5
CODE_DIGITS = 6
# Argon2id, 128 MiB, 2 passes: about 0.3-0.5 s of one core per guess. Trying the 10^6 codes within a
# code's 5 minutes would take about 3,300 guesses a second, that is over 400 GiB of memory in use at once
# (measured figures in docs/api.md). Only made or checked on a caregiver's action or a pairing attempt
# (5 at most per code), and checked off the event loop.
CODE_KDF = KdfParams("argon2id", memory_cost=128 * 1024, iterations=2, lanes=1)


class PairingError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class PairingStoreError(Exception):
    """clients.json cannot be read or written: the API says so in its JSON error shape."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


DAMAGED = PairingStoreError(
    "pairing_store_damaged",
    "The list of paired browsers (clients.json in the Kinchart folder) is damaged. In the dashboard, "
    "open Settings → Pair and make a new pairing code (the damaged file is kept beside it), then pair "
    "this browser again.",
)


@dataclass(frozen=True)
class Client:
    id: str
    name: str
    origin: str | None
    created_at: str
    revoked_at: str | None


def _now() -> datetime:
    return datetime.now(UTC)


def _code_params() -> KdfParams:
    # The test suite's KINCHART_KDF=fast: small but real Argon2id parameters, as for the vault.
    return KdfParams.fast() if os.environ.get(ENV_KDF, "").strip().lower() == "fast" else CODE_KDF


def _code_hash(code: str, salt: bytes, params: KdfParams) -> str:
    return b64u(derive(code, salt, params))


def _well_formed(data: Any) -> bool:
    if not isinstance(data, dict) or not isinstance(data.get("clients", {}), dict):
        return False
    code = data.get("code")
    if isinstance(code, dict) and "kdf" not in code:  # a code made before codes were hashed slowly
        data["code"] = code = None
    if code is not None and not (
        isinstance(code, dict)
        and isinstance(code.get("hash"), str)
        and isinstance(code.get("kdf"), str)
        and isinstance(code.get("expires_at"), str)
        and isinstance(code.get("attempts_left"), int)
    ):
        return False
    return all(
        isinstance(c, dict) and isinstance(c.get("name"), str) and isinstance(c.get("created_at"), str)
        for c in data.get("clients", {}).values()
    )


class Pairing:
    def __init__(self, folder: Path) -> None:
        self.file = folder / "clients.json"
        # One redeem at a time: the attempts counter is read, checked and written back as one step.
        self._lock = threading.Lock()
        # The one-time server nonces of /api/hello: in memory, for this process only.
        self.nonces = NonceBook()

    def _load(self) -> dict[str, Any]:
        try:
            data: Any = json.loads(self.file.read_bytes())
        except FileNotFoundError:
            data = {}
        except (ValueError, UnicodeDecodeError):
            raise DAMAGED from None
        except OSError as exc:
            raise PairingStoreError(
                "pairing_store_unreadable",
                f"Kinchart cannot read its list of paired browsers ({exc.strerror}). "
                "Check the Kinchart folder's permissions, then try again.",
            ) from None
        if not _well_formed(data):
            raise DAMAGED
        data.setdefault("clients", {})
        data.setdefault("code", None)
        return dict(data)

    def _save(self, data: dict[str, Any]) -> None:
        """Atomically: a private temporary file (0600 from its creation), synced, then renamed over the
        old one. On any failure (a full disk) the temporary file is removed and the old file stands."""
        self.file.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix="clients.", suffix=".tmp", dir=self.file.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(json.dumps(data, indent=1).encode())
                out.flush()
                os.fsync(out.fileno())
            os.replace(name, self.file)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(name)
            raise PairingStoreError(
                "pairing_store_unwritable",
                f"Kinchart could not save its list of paired browsers ({exc.strerror}). "
                "Free some disk space, then try again.",
            ) from None

    def _set_damaged_aside(self) -> None:
        aside = self.file.with_name(f"clients.damaged-{_now().strftime('%Y%m%dT%H%M%SZ')}.json")
        os.replace(self.file, aside)
        log.warning("a damaged clients.json was set aside; browsers must pair again")

    def new_code(self) -> str:
        """A fresh code; any earlier code stops working. A damaged store is set aside (kept) first: making
        a code is how the caregiver starts over."""
        code = "".join(secrets.choice("0123456789") for _ in range(CODE_DIGITS))
        params, salt = _code_params(), new_salt()
        digest = _code_hash(code, salt, params)
        with self._lock:
            try:
                data = self._load()
            except PairingStoreError as exc:
                if exc is not DAMAGED:
                    raise
                self._set_damaged_aside()
                data = {"clients": {}, "code": None}
            data["code"] = {
                "hash": digest,
                "kdf": dump_stored(params, salt),
                "expires_at": (_now() + CODE_TTL).isoformat(),
                "attempts_left": CODE_ATTEMPTS,
            }
            self._save(data)
        return code

    def redeem(self, code: str, client_name: str, origin: str | None) -> tuple[bytes, Client]:
        """Exchange a code for a new client's key (returned once). Slow (the code's Argon2id): call it off
        the event loop."""
        with self._lock:
            data = self._load()
            current = data.get("code")
            if not current:
                raise PairingError(
                    "bad_code", "No pairing code is active. Open the dashboard's Settings and make one."
                )
            if datetime.fromisoformat(current["expires_at"]) < _now():
                data["code"] = None
                self._save(data)
                raise PairingError(
                    "code_expired", "That pairing code has expired. Make a new one in the dashboard."
                )
            if current["attempts_left"] <= 0:
                raise PairingError("locked_out", "Too many wrong codes. Make a new code in the dashboard.")
            try:
                params, salt = load_stored(current["kdf"])
            except VaultError:  # edited parameters (absurd costs) are damage, never run
                raise DAMAGED from None
            if not hmac.compare_digest(current["hash"], _code_hash(code.strip() or "-", salt, params)):
                current["attempts_left"] -= 1
                self._save(data)
                if current["attempts_left"] <= 0:
                    raise PairingError(
                        "locked_out", "Too many wrong codes. Make a new code in the dashboard."
                    )
                raise PairingError("bad_code", "That code is not the one shown in the dashboard.")
            data["code"] = None  # single use
            key = secrets.token_bytes(KEY_BYTES)
            client = Client(
                id=uuid.uuid4().hex,
                name=client_name[:100] or "Browser extension",
                origin=origin,
                created_at=_now().isoformat(timespec="seconds"),
                revoked_at=None,
            )
            data["clients"][client.id] = {
                "name": client.name,
                "origin": origin,
                "key": b64u(key),
                "created_at": client.created_at,
                "revoked_at": None,
            }
            self._save(data)
        return key, client

    def client_key(self, client_id: str) -> tuple[Client, bytes] | None:
        """A live (paired, not revoked) client and its key. Clients paired before keys existed (they hold
        a bearer token, stored as a hash) have none: they must pair again."""
        c = self._load()["clients"].get(client_id) if isinstance(client_id, str) else None
        if not isinstance(c, dict) or c.get("revoked_at") or not isinstance(c.get("key"), str):
            return None
        try:
            key = unb64u(c["key"])
        except ValueError:
            raise DAMAGED from None
        if len(key) != KEY_BYTES:
            raise DAMAGED
        client = Client(client_id, c["name"], c.get("origin"), c["created_at"], None)
        return client, key

    def clients(self) -> list[Client]:
        """Every paired browser, for the dashboard. A damaged store lists none (making a new code in the
        dashboard sets it aside)."""
        try:
            stored = self._load()["clients"]
        except PairingStoreError:
            return []
        return [
            Client(
                id=cid,
                name=c["name"],
                origin=c.get("origin"),
                created_at=c["created_at"],
                revoked_at=c.get("revoked_at"),
            )
            for cid, c in stored.items()
        ]

    def revoke(self, client_id: str) -> bool:
        with self._lock:
            data = self._load()
            client = data["clients"].get(client_id)
            if client is None:
                return False
            client["revoked_at"] = _now().isoformat(timespec="seconds")
            self._save(data)
        return True
