"""Pairing: a short one-time code shown to the caregiver becomes a bearer token for one client.

Kept in `clients.json` in the vault folder (no medical content: client names, origins, token hashes),
so that `kinchart pair-code` and a running bridge share it, and so that a locked bridge can still tell
"locked" from "not paired". Only SHA-256 hashes of codes and tokens are stored.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

CODE_TTL = timedelta(minutes=5)
CODE_ATTEMPTS = 5
CODE_DIGITS = 6


class PairingError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Client:
    id: str
    name: str
    origin: str | None
    created_at: str
    revoked_at: str | None


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


class Pairing:
    def __init__(self, folder: Path) -> None:
        self.file = folder / "clients.json"

    def _load(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(self.file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            data = {}
        data.setdefault("clients", {})
        data.setdefault("code", None)
        return data

    def _save(self, data: dict[str, Any]) -> None:
        self.file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.file.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.file)

    def new_code(self) -> str:
        """A fresh code; any earlier code stops working."""
        code = "".join(secrets.choice("0123456789") for _ in range(CODE_DIGITS))
        data = self._load()
        data["code"] = {
            "hash": _sha(code),
            "expires_at": (_now() + CODE_TTL).isoformat(),
            "attempts_left": CODE_ATTEMPTS,
        }
        self._save(data)
        return code

    def redeem(self, code: str, client_name: str, origin: str | None) -> tuple[str, Client]:
        """Exchange a code for a token (returned once, stored only as a hash)."""
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
        if not hmac.compare_digest(current["hash"], _sha(code.strip())):
            current["attempts_left"] -= 1
            self._save(data)
            if current["attempts_left"] <= 0:
                raise PairingError("locked_out", "Too many wrong codes. Make a new code in the dashboard.")
            raise PairingError("bad_code", "That code is not the one shown in the dashboard.")
        data["code"] = None  # single use
        token = secrets.token_urlsafe(32)
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
            "token_sha256": _sha(token),
            "created_at": client.created_at,
            "revoked_at": None,
        }
        self._save(data)
        return token, client

    def client_for_token(self, token: str) -> Client | None:
        digest = _sha(token)
        for cid, c in self._load()["clients"].items():
            if hmac.compare_digest(c["token_sha256"], digest) and not c.get("revoked_at"):
                return Client(
                    id=cid,
                    name=c["name"],
                    origin=c.get("origin"),
                    created_at=c["created_at"],
                    revoked_at=None,
                )
        return None

    def clients(self) -> list[Client]:
        return [
            Client(
                id=cid,
                name=c["name"],
                origin=c.get("origin"),
                created_at=c["created_at"],
                revoked_at=c.get("revoked_at"),
            )
            for cid, c in self._load()["clients"].items()
        ]

    def known_origins(self) -> set[str]:
        return {c.origin for c in self.clients() if c.origin and not c.revoked_at}

    def revoke(self, client_id: str) -> bool:
        data = self._load()
        client = data["clients"].get(client_id)
        if client is None:
            return False
        client["revoked_at"] = _now().isoformat(timespec="seconds")
        self._save(data)
        return True
