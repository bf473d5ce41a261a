"""How the bridge and a paired extension prove themselves to each other (docs/api.md, "Authentication").

Pairing gives the extension a random 256-bit key K, which only the bridge and that extension hold. K is
never sent again. Before anything leaves the browser, the extension sends a fresh client nonce to
`POST /api/hello`; the bridge answers with a one-time server nonce and a proof (an HMAC under K over
both nonces), which the extension checks: a program that took the port without K cannot answer it.
Every later request names that server nonce, is signed with K over method, path, nonce and the body's
SHA-256, and carries its body sealed (AES-256-GCM, the nonce as associated data). The bridge accepts
each server nonce once, within `NONCE_TTL` seconds. Its answer is sealed the same way, bound to both
nonces and the status, so the extension can tell a real receipt from a forged or replayed one.

The MAC and the seal use separate keys derived from K with HKDF-SHA256.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_BYTES = 32
NONCE_BYTES = 32
IV_BYTES = 12
NONCE_TTL = 60.0
MAX_OUTSTANDING = 1024

# Request headers of a signed request.
CLIENT_ID_HEADER = "X-Kinchart-Client-Id"
NONCE_HEADER = "X-Kinchart-Nonce"
MAC_HEADER = "X-Kinchart-Mac"
# Content type of a sealed body, both ways. Not a CORS-safelisted type: a web page cannot send it
# without a preflight, which the bridge never grants.
SEALED_TYPE = "application/vnd.kinchart.sealed"


class BadSeal(ValueError):
    pass


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64u(text: str) -> bytes:
    """Strict base64url without padding; ValueError for anything else."""
    if not isinstance(text, str) or len(text) > 4096 or "=" in text:
        raise ValueError("not base64url")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not base64url") from exc
    if b64u(raw) != text:  # non-canonical spellings would give two texts for one nonce
        raise ValueError("not base64url")
    return raw


def _subkey(key: bytes, purpose: str) -> bytes:
    info = f"kinchart/{purpose}/v1".encode()
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(key)


@dataclass(frozen=True)
class SessionKeys:
    """The two keys derived from one client's K."""

    mac: bytes
    seal: bytes

    @classmethod
    def from_key(cls, key: bytes) -> SessionKeys:
        return cls(mac=_subkey(key, "mac"), seal=_subkey(key, "seal"))


def _mac(keys: SessionKeys, *parts: str) -> str:
    return b64u(hmac.new(keys.mac, "\n".join(parts).encode(), hashlib.sha256).digest())


def hello_proof(keys: SessionKeys, client_id: str, client_nonce: str, server_nonce: str, locked: bool) -> str:
    return _mac(keys, "kinchart/hello/v1", client_id, client_nonce, server_nonce, "1" if locked else "0")


def request_mac(
    keys: SessionKeys, method: str, path: str, client_id: str, server_nonce: str, body: bytes
) -> str:
    digest = hashlib.sha256(body).hexdigest()
    return _mac(keys, "kinchart/request/v1", method.upper(), path, client_id, server_nonce, digest)


def request_aad(method: str, path: str, client_id: str, server_nonce: str) -> bytes:
    return "\n".join(("kinchart/request-body/v1", method.upper(), path, client_id, server_nonce)).encode()


def response_aad(client_id: str, client_nonce: str, server_nonce: str, status: int) -> bytes:
    return "\n".join(("kinchart/response/v1", client_id, client_nonce, server_nonce, str(status))).encode()


def seal(keys: SessionKeys, aad: bytes, plaintext: bytes) -> bytes:
    iv = os.urandom(IV_BYTES)
    return iv + AESGCM(keys.seal).encrypt(iv, plaintext, aad)


def unseal(keys: SessionKeys, aad: bytes, sealed: bytes) -> bytes:
    if len(sealed) < IV_BYTES + 16:
        raise BadSeal("too short")
    try:
        return AESGCM(keys.seal).decrypt(sealed[:IV_BYTES], sealed[IV_BYTES:], aad)
    except InvalidTag as exc:
        raise BadSeal("does not authenticate") from exc


def verify_mac(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.encode()[:256])


@dataclass(frozen=True)
class Issued:
    client_id: str
    client_nonce: str
    expires: float


class NonceBook:
    """Server nonces handed out by /api/hello, each good for one request within `NONCE_TTL` seconds.

    In memory only: a restart forgets them, and the extension then simply asks for a new one. At most
    `MAX_OUTSTANDING` are kept; the oldest go first, so a flood of hellos costs memory of that bound only.
    """

    def __init__(self, ttl: float = NONCE_TTL, limit: int = MAX_OUTSTANDING) -> None:
        self.ttl, self.limit = ttl, limit
        self._issued: OrderedDict[str, Issued] = OrderedDict()

    def issue(self, client_id: str, client_nonce: str) -> str:
        now = time.monotonic()
        while self._issued and next(iter(self._issued.values())).expires < now:
            self._issued.popitem(last=False)
        while len(self._issued) >= self.limit:
            self._issued.popitem(last=False)
        nonce = b64u(secrets.token_bytes(NONCE_BYTES))
        self._issued[nonce] = Issued(client_id, client_nonce, now + self.ttl)
        return nonce

    def take(self, nonce: str, client_id: str) -> Issued | None:
        """The nonce's issue record, removed (so it is never accepted twice), if it is live and the client's."""
        issued = self._issued.pop(nonce, None)
        if issued is None or issued.expires < time.monotonic() or issued.client_id != client_id:
            return None
        return issued
