"""The guards every request passes, in this order (docs/api.md):

1. Host is exactly the bridge's own (DNS rebinding defence), else 421, on every route; and no compressed
   body on any route (nothing is ever inflated, so no decompression bomb), else 415.
2. API routes: the client header (else a bare 404 that does not say Kinchart runs here), an extension
   Origin on everything but `GET /api/ping` (no web page, no Origin-less caller), no token in the URL,
   the body's type and size, and for every route but ping, pair and hello a request signed with the key
   made at pairing, on a one-time nonce (`api_auth`); its body is unsealed before the handler reads it,
   and the answer is sealed for the same nonce.
3. Dashboard routes: security headers and a strict CSP on every answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from multidict import CIMultiDict as MutableHeaders

from bridge import __version__

from . import api_auth
from .api_auth import SEALED_TYPE, BadSeal, SessionKeys
from .errors import BRIDGE_HEADER, CLIENT_HEADER, api_error
from .pairing import Client, PairingStoreError
from .state import STATE

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CLIENT: web.RequestKey[Client] = web.RequestKey("client", Client)

PING = ("GET", "/api/ping")
OPEN_API_ROUTES = {PING, ("POST", "/api/pair"), ("POST", "/api/hello")}
EXTENSION_SCHEMES = ("chrome-extension://", "moz-extension://")
TOKEN_PARAMS = {"token", "access_token", "auth", "authorization", "bearer"}
BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}

NOT_PAIRED = "This browser is not paired with Kinchart. Pair it with the code shown in the dashboard."
PAIR_AGAIN = (
    "Kinchart was updated and pairs browsers in a new, safer way. Pair this browser again with a new "
    "code from the dashboard (Settings → Pair)."
)

DASHBOARD_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    # same-origin, not no-referrer: under no-referrer browsers send "Origin: null" on our own form posts.
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


@web.middleware
async def host_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    state = request.app[STATE]
    if request.headers.get("Host", "") not in state.config.allowed_hosts:
        return web.Response(status=421, text="Misdirected Request")
    # Neither the extension nor a browser's form compresses a request body, so a compressed one is
    # refused before a byte of it is read: aiohttp would otherwise inflate it as it is read.
    if request.headers.get("Content-Encoding", "identity").strip().lower() not in {"", "identity"}:
        if request.path.startswith("/api/") and request.headers.get(CLIENT_HEADER):
            return api_error(415, "unsupported_encoding", "The bridge does not accept compressed bodies.")
        return web.Response(status=415, text="415: Unsupported Media Type")
    return await handler(request)


def _wants_bearer(request: web.Request) -> bool:
    return request.headers.get("Authorization", "").startswith("Bearer ")


@web.middleware
async def api_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith("/api/"):
        return await handler(request)
    # No client header: answer like any server that has no such page (no fingerprint).
    if not request.headers.get(CLIENT_HEADER):
        return web.Response(status=404, text="404: Not Found")
    try:
        response = await _api(request, handler)
    except PairingStoreError as exc:
        response = api_error(500, exc.code, str(exc))
    response.headers[BRIDGE_HEADER] = __version__
    return response


async def _api(request: web.Request, handler: Handler) -> web.StreamResponse:
    state = request.app[STATE]
    route = (request.method, request.path)
    origin = request.headers.get("Origin")
    if origin is not None and not origin.startswith(EXTENSION_SCHEMES):
        return api_error(403, "forbidden_origin", "Requests from web pages are not accepted.")
    if TOKEN_PARAMS & {k.lower() for k in request.query}:
        return api_error(400, "token_in_url", "Never put a credential in the address.")
    # Only ping (harmless) answers a caller that shows no extension Origin. The extension uses POST for
    # everything else, since Chromium sends an extension's Origin on POSTs but not on GETs.
    if origin is None and route != PING:
        return api_error(
            403, "no_origin", "Only the Kinchart extension may use this, and its requests carry an Origin."
        )
    signed = route not in OPEN_API_ROUTES
    if request.method in BODY_METHODS:
        if request.content_length is not None and request.content_length > state.config.max_body:
            return api_error(413, "too_large", "The page is too large to save.")
        wanted = SEALED_TYPE if signed else "application/json"
        if request.content_type != wanted:
            return api_error(415, "unsupported_media_type", f"The bridge accepts {wanted} bodies only.")
    if not signed:
        return await _handle(request, handler)
    if _wants_bearer(request):
        return api_error(401, "pair_again", PAIR_AGAIN)
    return await _signed(request, handler)


async def _handle(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPRequestEntityTooLarge:
        return api_error(413, "too_large", "The page is too large to save.")


async def _signed(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Check a signed request and unseal its body for the handler; seal the handler's answer."""
    state = request.app[STATE]
    client_id = request.headers.get(api_auth.CLIENT_ID_HEADER, "")
    nonce = request.headers.get(api_auth.NONCE_HEADER, "")
    mac = request.headers.get(api_auth.MAC_HEADER, "")
    found = state.pairing.client_key(client_id) if client_id and nonce and mac else None
    if found is None:
        return api_error(401, "not_paired", NOT_PAIRED)
    client, key = found
    # A key only works from the origin it was paired from: another extension cannot use it.
    if request.headers.get("Origin") != client.origin:
        return api_error(403, "forbidden_origin", "This browser was paired from another origin.")
    issued = state.pairing.nonces.take(nonce, client_id)  # spent now, whatever follows
    if issued is None:
        return api_error(401, "stale_nonce", "That request was already used or is too old. Try again.")
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return api_error(413, "too_large", "The page is too large to save.")
    keys = SessionKeys.from_key(key)
    path = request.raw_path
    if not api_auth.verify_mac(api_auth.request_mac(keys, request.method, path, client_id, nonce, raw), mac):
        return api_error(401, "bad_signature", "The request's signature is wrong. Pair this browser again.")
    try:
        body = (
            api_auth.unseal(keys, api_auth.request_aad(request.method, path, client_id, nonce), raw)
            if raw
            else b""
        )
    except BadSeal:
        return api_error(400, "bad_seal", "The request's body could not be opened. Pair this browser again.")
    request._read_bytes = body  # the handler reads the opened body, never the sealed one
    request[CLIENT] = client
    try:
        response = await _handle(request, handler)
    except web.HTTPException as exc:
        response = api_error(exc.status, "error", exc.text or exc.reason)
    return _sealed(response, keys, client_id, issued.client_nonce, nonce)


def _sealed(
    response: web.StreamResponse, keys: SessionKeys, client_id: str, client_nonce: str, nonce: str
) -> web.Response:
    plain = response.body if isinstance(response, web.Response) else None
    if not isinstance(plain, bytes | bytearray):
        plain = b""
    aad = api_auth.response_aad(client_id, client_nonce, nonce, response.status)
    kept = {k: v for k, v in response.headers.items() if k.lower() not in {"content-type", "content-length"}}
    return web.Response(
        status=response.status,
        body=api_auth.seal(keys, aad, bytes(plain)),
        content_type=SEALED_TYPE,
        headers=kept,
    )


def _apply_headers(request: web.Request, headers: MutableHeaders[str]) -> None:
    # The same headers on every answer, API included: the bare 404 for an API call without the client
    # header must be indistinguishable from any unknown path's 404 (no fingerprint), and API answers
    # should never be cached or framed either.
    for name, value in SECURITY_HEADERS.items():
        headers.setdefault(name, value)
    headers.setdefault("Content-Security-Policy", DASHBOARD_CSP)
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Cache-Control", "no-store")


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        _apply_headers(request, exc.headers)
        raise
    _apply_headers(request, response.headers)
    return response
