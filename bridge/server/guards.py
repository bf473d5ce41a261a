"""The guards every request passes, in this order (docs/api.md):

1. Host is exactly the bridge's own (DNS rebinding defence), else 421, on every route.
2. API routes: the client header (else a bare 404 that does not say Kinchart runs here), no web-page
   Origin, no token in the URL, JSON bodies only, a body-size limit, a paired token.
3. Dashboard routes: security headers and a strict CSP on every answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from multidict import CIMultiDict as MutableHeaders

from bridge import __version__

from .errors import BRIDGE_HEADER, CLIENT_HEADER, api_error
from .pairing import Client
from .state import STATE

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CLIENT: web.RequestKey[Client] = web.RequestKey("client", Client)

OPEN_API_ROUTES = {("GET", "/api/ping"), ("POST", "/api/pair")}
EXTENSION_SCHEMES = ("chrome-extension://", "moz-extension://")
TOKEN_PARAMS = {"token", "access_token", "auth", "authorization", "bearer"}

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
    return await handler(request)


def _bearer(request: web.Request) -> str | None:
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Bearer "):
        return auth[7:].strip() or None
    return None


@web.middleware
async def api_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith("/api/"):
        return await handler(request)
    # No client header: answer like any server that has no such page (no fingerprint).
    if not request.headers.get(CLIENT_HEADER):
        return web.Response(status=404, text="404: Not Found")
    state = request.app[STATE]
    origin = request.headers.get("Origin")
    if origin is not None and not origin.startswith(EXTENSION_SCHEMES):
        return api_error(403, "forbidden_origin", "Requests from web pages are not accepted.")
    if TOKEN_PARAMS & {k.lower() for k in request.query}:
        return api_error(
            400, "token_in_url", "Send the token in the Authorization header, never in the address."
        )
    if request.method in {"POST", "PUT", "PATCH", "DELETE"}:
        if request.content_length is not None and request.content_length > state.config.max_body:
            return api_error(413, "too_large", "The page is too large to save.")
        if request.content_type != "application/json":
            return api_error(415, "unsupported_media_type", "The bridge accepts JSON bodies only.")
    if (request.method, request.path) not in OPEN_API_ROUTES:
        token = _bearer(request)
        client = state.pairing.client_for_token(token) if token else None
        if client is None:
            return api_error(
                401,
                "not_paired",
                "This browser is not paired with Kinchart. Pair it with the code shown in the dashboard.",
            )
        # A token only works from the origin it was paired from: another extension cannot use a stolen one.
        # Chromium sends no Origin on an extension's GETs (it does on POSTs), so a missing Origin is
        # accepted for reads only; a present, different Origin is always refused.
        wrong = (
            origin != client.origin
            if origin is not None
            else (client.origin is not None and request.method not in {"GET", "HEAD"})
        )
        if wrong:
            return api_error(403, "forbidden_origin", "This token was paired from another origin.")
        request[CLIENT] = client
    try:
        response = await handler(request)
    except web.HTTPRequestEntityTooLarge:
        return api_error(413, "too_large", "The page is too large to save.")
    response.headers[BRIDGE_HEADER] = __version__
    return response


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
