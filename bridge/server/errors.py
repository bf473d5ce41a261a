"""JSON errors that say what went wrong and what to do, the same shape on every API route."""

from __future__ import annotations

from aiohttp import web

from bridge import __version__

BRIDGE_HEADER = "X-Kinchart-Bridge"
CLIENT_HEADER = "X-Kinchart-Client"


def api_error(status: int, code: str, message: str) -> web.Response:
    return web.json_response(
        {"error": code, "message": message}, status=status, headers={BRIDGE_HEADER: __version__}
    )


def locked() -> web.Response:
    return api_error(423, "locked", "The vault is locked. Unlock it in the Kinchart dashboard.")
