"""A small client of the bridge's API as docs/api.md describes it (pairing key, hello, signed and sealed
requests, sealed answers), written from the document with `cryptography` directly, not with the bridge's
own `api_auth`, so that the tests check the bridge against the protocol and not against itself.

Synchronous calls (urllib) for live `kinchart serve` processes, asynchronous ones (aiohttp) for apps in
the test's own event loop.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SEALED = "application/vnd.kinchart.sealed"
DEFAULT_ORIGIN = "chrome-extension://abcdefghijklmnopabcdefghijklmnop"


class NotVerified(AssertionError):
    """The other side did not prove it holds the pairing key."""


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _derive(key: bytes, purpose: str) -> bytes:
    info = f"kinchart/{purpose}/v1".encode()
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(key)


@dataclass
class Signed:
    """One signed request, ready to send (and to send again, to show it is refused)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    client_nonce: str
    server_nonce: str


@dataclass
class ApiClient:
    client_id: str
    key: bytes
    origin: str | None = DEFAULT_ORIGIN
    client_header: str = "test/1"
    sent: list[Signed] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.mac_key = _derive(self.key, "mac")
        self.seal_key = _derive(self.key, "seal")

    def _mac(self, *parts: str) -> str:
        return b64u(hmac.new(self.mac_key, "\n".join(parts).encode(), hashlib.sha256).digest())

    def base_headers(self) -> dict[str, str]:
        return {"X-Kinchart-Client": self.client_header, **({"Origin": self.origin} if self.origin else {})}

    # ---- the protocol, transport-free ---------------------------------------------------------------

    def hello_request(self) -> tuple[str, bytes]:
        nonce = b64u(os.urandom(32))
        return nonce, json.dumps({"client_id": self.client_id, "client_nonce": nonce}).encode()

    def accept_hello(self, client_nonce: str, status: int, answer: Any) -> str:
        if status != 200 or not isinstance(answer, dict):
            raise NotVerified(f"hello answered {status}: {answer}")
        locked = "1" if answer.get("locked") else "0"
        want = self._mac("kinchart/hello/v1", self.client_id, client_nonce, answer["server_nonce"], locked)
        if not hmac.compare_digest(want, str(answer.get("proof"))):
            raise NotVerified("the hello proof is wrong")
        server_nonce: str = answer["server_nonce"]
        return server_nonce

    def sign(
        self,
        method: str,
        path: str,
        client_nonce: str,
        server_nonce: str,
        body: Any = None,
        seal: bool = True,
    ) -> Signed:
        """`body` (JSON value, or bytes) sealed and signed; with seal=False, bytes signed as they are."""
        raw = b""
        if body is not None and not seal:
            raw = body
        elif body is not None:
            plain = body if isinstance(body, bytes) else json.dumps(body).encode()
            aad = "\n".join(("kinchart/request-body/v1", method, path, self.client_id, server_nonce)).encode()
            iv = os.urandom(12)
            raw = iv + AESGCM(self.seal_key).encrypt(iv, plain, aad)
        mac = self._mac(
            "kinchart/request/v1", method, path, self.client_id, server_nonce, hashlib.sha256(raw).hexdigest()
        )
        headers = {
            **self.base_headers(),
            "Content-Type": SEALED,
            "X-Kinchart-Client-Id": self.client_id,
            "X-Kinchart-Nonce": server_nonce,
            "X-Kinchart-Mac": mac,
        }
        signed = Signed(method, path, headers, raw, client_nonce, server_nonce)
        self.sent.append(signed)
        return signed

    def open(self, signed: Signed, status: int, content_type: str, raw: bytes) -> Any:
        """The answer's JSON. A sealed answer must open for this request's nonces and status; an unsealed
        one is an error from before authentication (never a success)."""
        if content_type != SEALED:
            if 200 <= status < 300:
                raise NotVerified(f"an unsealed {status} answer to a signed request")
            return json.loads(raw) if raw else None
        aad = "\n".join(
            ("kinchart/response/v1", self.client_id, signed.client_nonce, signed.server_nonce, str(status))
        ).encode()
        plain = AESGCM(self.seal_key).decrypt(raw[:12], raw[12:], aad)
        return json.loads(plain) if plain else None

    # ---- synchronous transport (urllib) -------------------------------------------------------------

    def hello(self, base: str, timeout: float = 30) -> tuple[str, str]:
        client_nonce, body = self.hello_request()
        status, _, raw = send(
            base,
            "POST",
            "/api/hello",
            body,
            {**self.base_headers(), "Content-Type": "application/json"},
            timeout,
        )
        return client_nonce, self.accept_hello(client_nonce, status, json.loads(raw) if raw else None)

    def prepare(self, base: str, method: str, path: str, body: Any = None, timeout: float = 30) -> Signed:
        client_nonce, server_nonce = self.hello(base, timeout)
        return self.sign(method, path, client_nonce, server_nonce, body)

    def send_signed(self, base: str, signed: Signed, timeout: float = 30) -> tuple[int, Any]:
        status, ctype, raw = send(base, signed.method, signed.path, signed.body, signed.headers, timeout)
        return status, self.open(signed, status, ctype, raw)

    def call(
        self, base: str, method: str, path: str, body: Any = None, timeout: float = 30
    ) -> tuple[int, Any]:
        return self.send_signed(base, self.prepare(base, method, path, body, timeout), timeout)

    # ---- asynchronous transport (aiohttp) -----------------------------------------------------------

    async def ahello(
        self, session: aiohttp.ClientSession, base: str, host: str | None = None
    ) -> tuple[str, str]:
        client_nonce, body = self.hello_request()
        headers = {
            **self.base_headers(),
            "Content-Type": "application/json",
            **({"Host": host} if host else {}),
        }
        async with session.post(base + "/api/hello", data=body, headers=headers) as r:
            answer = await r.json(content_type=None)
            return client_nonce, self.accept_hello(client_nonce, r.status, answer)

    async def aprepare(
        self, session: aiohttp.ClientSession, base: str, method: str, path: str, body: Any = None
    ) -> Signed:
        client_nonce, server_nonce = await self.ahello(session, base)
        return self.sign(method, path, client_nonce, server_nonce, body)

    async def asend_signed(
        self,
        session: aiohttp.ClientSession,
        base: str,
        signed: Signed,
        timeout: aiohttp.ClientTimeout | None = None,
    ) -> tuple[int, Any]:
        async with session.request(
            signed.method,
            base + signed.path,
            data=signed.body,
            headers=signed.headers,
            allow_redirects=False,
            **({"timeout": timeout} if timeout else {}),
        ) as r:
            raw = await r.read()
            return r.status, self.open(signed, r.status, r.content_type, raw)

    async def acall(
        self,
        session: aiohttp.ClientSession,
        base: str,
        method: str,
        path: str,
        body: Any = None,
        timeout: aiohttp.ClientTimeout | None = None,
    ) -> tuple[int, Any]:
        signed = await self.aprepare(session, base, method, path, body)
        return await self.asend_signed(session, base, signed, timeout)


def send(
    base: str, method: str, path: str, body: bytes | None, headers: dict[str, str], timeout: float = 30
) -> tuple[int, str, bytes]:
    """One plain HTTP request: status, content type (without parameters) and raw body."""
    req = urllib.request.Request(base + path, data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.headers.get_content_type(), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get_content_type(), exc.read()


def pair(
    base: str,
    code: str,
    origin: str | None = DEFAULT_ORIGIN,
    name: str = "test",
    client_header: str = "test/1",
) -> ApiClient:
    headers = {"X-Kinchart-Client": client_header, "Content-Type": "application/json"}
    if origin:
        headers["Origin"] = origin
    status, _, raw = send(
        base, "POST", "/api/pair", json.dumps({"code": code, "client_name": name}).encode(), headers
    )
    assert status == 201, (status, raw)
    answer = json.loads(raw)
    return ApiClient(answer["client_id"], unb64u(answer["key"]), origin, client_header)


async def apair(
    session: aiohttp.ClientSession,
    base: str,
    code: str,
    origin: str | None = DEFAULT_ORIGIN,
    name: str = "test",
    client_header: str = "test/1",
    host: str | None = None,
) -> ApiClient:
    headers = {
        "X-Kinchart-Client": client_header,
        **({"Origin": origin} if origin else {}),
        **({"Host": host} if host else {}),
    }
    async with session.post(
        base + "/api/pair", json={"code": code, "client_name": name}, headers=headers
    ) as r:
        assert r.status == 201, (r.status, await r.text())
        answer = await r.json()
    return ApiClient(answer["client_id"], unb64u(answer["key"]), origin, client_header)
