"""The API the extension speaks (docs/api.md): ping, pair, captures, members, assign."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import orjson
from aiohttp import web

from bridge import __version__
from bridge.capture import BadCapture, validate_capture
from bridge.ingest import file_and_receipt, ingest
from bridge.vault import VaultError, VaultLocked

from . import api_auth
from .api_auth import b64u
from .errors import CLIENT_HEADER, api_error, locked
from .gate import GateClosed
from .pairing import PairingError
from .state import STATE

routes = web.RouteTableDef()


def decode_json(raw: bytes) -> tuple[Any, bool]:
    """The body's JSON value, and whether orjson decoded it (its text then holds no lone surrogate, which
    orjson refuses, so validation need not look for any).

    orjson's value where it gives one (twice the standard library's speed: 2 ms for a 2 MB capture
    instead of 4), else the standard library's, so every body orjson refuses gets the answer (value or
    error) it always got: lone surrogate escapes ("\\ud800"), NaN and Infinity, numbers out of its
    range (1e400), nesting deeper than 1,024, text that is not UTF-8. Where both decode a body, they give
    the same value, but for integers beyond 64 bits (orjson: a float; no endpoint reads a number) and
    for nesting between the standard library's limit (its recursion limit, about 1,000 less the stack in
    use: "nested too deeply") and orjson's 1,024."""
    try:
        return orjson.loads(raw), True
    except orjson.JSONDecodeError:
        return json.loads(raw.decode("utf-8")), False


async def _body(request: web.Request) -> tuple[Any, bool] | web.Response:
    """`decode_json` of the request's body, or the API's error for a body that is not JSON."""
    raw = await request.read()
    try:
        return decode_json(raw)
    except UnicodeDecodeError:
        problem = "not UTF-8"
    except ValueError:
        problem = "not JSON"
    except RecursionError:  # e.g. [[[[...]]]] 100,000 deep: the decoder's recursion limit, not a crash
        problem = "JSON nested too deeply"
    return api_error(400, "bad_json", f"The request body is {problem}.")


@routes.get("/api/ping")
async def ping(request: web.Request) -> web.Response:
    """Harmless by design (no credential, no Origin needed): whether a bridge is here, for the popup's
    status. It proves nothing: the extension trusts only a bridge that answers /api/hello."""
    state = request.app[STATE]
    return web.json_response(
        {"name": "kinchart", "version": __version__, "exists": state.exists, "locked": not state.unlocked}
    )


@routes.post("/api/pair")
async def pair(request: web.Request) -> web.Response:
    state = request.app[STATE]
    decoded = await _body(request)
    if isinstance(decoded, web.Response):
        return decoded
    body, _ = decoded
    if not isinstance(body, dict) or not isinstance(body.get("code"), str) or len(body["code"]) > 64:
        return api_error(400, "bad_request", "Send the pairing code shown in the dashboard.")
    raw_name = body.get("client_name")
    name = raw_name if isinstance(raw_name, str) else request.headers.get(CLIENT_HEADER, "")
    try:
        # Off the event loop: checking a code is deliberately slow (Argon2id, pairing.CODE_KDF).
        key, client = await asyncio.to_thread(
            state.pairing.redeem, body["code"], name, request.headers.get("Origin")
        )
    except PairingError as exc:
        status = {"locked_out": 429, "code_expired": 403}.get(exc.code, 403)
        return api_error(status, exc.code, str(exc))
    return web.json_response({"client_id": client.id, "key": b64u(key)}, status=201)


@routes.post("/api/captures")
async def post_capture(request: web.Request) -> web.Response:
    started = time.perf_counter()
    state = request.app[STATE]
    decoded = await _body(request)
    if isinstance(decoded, web.Response):
        return decoded
    body, well_formed = decoded
    try:
        capture = validate_capture(body, text_well_formed=well_formed)
    except BadCapture as exc:
        return api_error(400, "bad_capture", str(exc))
    # Saves do not wait for each other: each holds the gate open (a lock waits for it to finish) and
    # runs in a worker thread, where the page is stored, parsed, then filed under the family's lock.
    # Only the caregiver's own activity keeps the vault unlocked, not saves (no touch() here).
    try:
        async with state.gate.held():
            if not state.unlocked:
                return locked()
            vault = state.require_vault()
            try:
                receipt = await asyncio.to_thread(lambda: ingest(vault, capture, state.family))
            except VaultLocked:
                return locked()
            except VaultError as exc:  # a damaged or unwritable vault: say so in the API's own error shape
                return api_error(
                    500,
                    "vault_error",
                    f"{exc} The page may not have been saved: keep it open and "
                    "check the vault from the Kinchart dashboard.",
                )
    except GateClosed:
        return locked()
    # The bridge's own share of the round trip (read, validate, store, parse, file), for bench/roundtrip.py.
    timing = {"Server-Timing": f"bridge;dur={(time.perf_counter() - started) * 1000:.1f}"}
    return web.json_response(
        receipt.model_dump(mode="json"), status=200 if receipt.duplicate else 201, headers=timing
    )


@routes.get("/api/members")
async def members(request: web.Request) -> web.Response:
    state = request.app[STATE]
    if not state.unlocked:
        return locked()

    def listing() -> list[dict[str, Any]]:
        family = state.family
        found = family.list_members() if family else []
        return [{"id": m.id, "name": m.name, "dob": m.dob, "relationship": m.relationship} for m in found]

    return web.json_response({"members": await asyncio.to_thread(listing)})


@routes.post("/api/captures/{capture_id}/assign")
async def assign(request: web.Request) -> web.Response:
    state = request.app[STATE]
    decoded = await _body(request)
    if isinstance(decoded, web.Response):
        return decoded
    body, _ = decoded
    if not state.unlocked:
        return locked()
    if not isinstance(body, dict):
        return api_error(400, "bad_request", "Say which member this is.")
    capture_id = request.match_info["capture_id"]

    def file_it() -> web.Response:
        family = state.family
        vault = state.require_vault()
        if family is None or not vault.has_capture(capture_id):
            return api_error(404, "not_found", "That capture is not in the vault.")
        if isinstance(body.get("member_id"), str):
            if family.get_member(body["member_id"]) is None:
                return api_error(404, "not_found", "That family member does not exist.")
            member_id = body["member_id"]
        elif isinstance(body.get("new_member"), dict) and isinstance(body["new_member"].get("name"), str):
            new = body["new_member"]
            member_id = family.create_member(
                name=new["name"], dob=new.get("dob") or None, relationship=new.get("relationship") or None
            ).id
        else:
            return api_error(400, "bad_request", "Say which member this is: member_id or new_member.")
        with family.exclusive():
            family.assign(capture_id, member_id)
            receipt = file_and_receipt(vault, capture_id, False, family)
        return web.json_response(receipt.model_dump(mode="json"))

    try:
        async with state.gate.held():
            return await asyncio.to_thread(file_it)
    except (GateClosed, VaultLocked):
        return locked()


@routes.post("/api/hello")
async def hello(request: web.Request) -> web.Response:
    """The bridge proves it holds the client's pairing key before the extension sends anything, and hands
    out the one-time nonce the next request must be signed on (bridge/server/api_auth.py)."""
    state = request.app[STATE]
    decoded = await _body(request)
    if isinstance(decoded, web.Response):
        return decoded
    body, _ = decoded
    client_id = body.get("client_id") if isinstance(body, dict) else None
    client_nonce = body.get("client_nonce") if isinstance(body, dict) else None
    if not isinstance(client_id, str) or not _is_nonce(client_nonce):
        return api_error(400, "bad_request", "Send client_id and a fresh 32-byte client_nonce.")
    assert isinstance(client_nonce, str)
    found = state.pairing.client_key(client_id)
    if found is None:
        return api_error(401, "not_paired", "This browser is not paired with Kinchart. Pair it again.")
    client, key = found
    if request.headers.get("Origin") != client.origin:
        return api_error(403, "forbidden_origin", "This browser was paired from another origin.")
    server_nonce = state.pairing.nonces.issue(client.id, client_nonce)
    is_locked = not state.unlocked
    proof = api_auth.hello_proof(
        api_auth.SessionKeys.from_key(key), client.id, client_nonce, server_nonce, is_locked
    )
    return web.json_response(
        {"server_nonce": server_nonce, "proof": proof, "locked": is_locked, "version": __version__}
    )


def _is_nonce(value: Any) -> bool:
    try:
        return isinstance(value, str) and len(api_auth.unb64u(value)) == api_auth.NONCE_BYTES
    except ValueError:
        return False


# The extension lists members with a signed POST (Chromium sends an extension's Origin on POSTs only).
routes.post("/api/members")(members)
