"""The API the extension speaks (docs/api.md): ping, pair, captures, members, assign."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from aiohttp import web

from bridge import __version__
from bridge.capture import BadCapture, validate_capture
from bridge.ingest import file_and_receipt, ingest
from bridge.vault import VaultError

from .errors import CLIENT_HEADER, api_error, locked
from .guards import _bearer
from .pairing import PairingError
from .state import STATE

routes = web.RouteTableDef()


async def _json_body(request: web.Request) -> Any:
    raw = await request.read()
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise web.HTTPBadRequest(text="not UTF-8") from None
    except ValueError:
        raise web.HTTPBadRequest(text="not JSON") from None
    except RecursionError:  # e.g. [[[[...]]]] 100,000 deep: the decoder's recursion limit, not a crash
        raise web.HTTPBadRequest(text="JSON nested too deeply") from None


async def _body(request: web.Request) -> Any | web.Response:
    try:
        return await _json_body(request)
    except web.HTTPBadRequest as exc:
        return api_error(400, "bad_json", f"The request body is {exc.text}.")


@routes.get("/api/ping")
async def ping(request: web.Request) -> web.Response:
    state = request.app[STATE]
    token = _bearer(request)
    paired = bool(token and state.pairing.client_for_token(token))
    return web.json_response(
        {
            "name": "kinchart",
            "version": __version__,
            "exists": state.exists,
            "locked": not state.unlocked,
            "paired": paired,
        }
    )


@routes.post("/api/pair")
async def pair(request: web.Request) -> web.Response:
    state = request.app[STATE]
    body = await _body(request)
    if isinstance(body, web.Response):
        return body
    if not isinstance(body, dict) or not isinstance(body.get("code"), str):
        return api_error(400, "bad_request", "Send the pairing code shown in the dashboard.")
    raw_name = body.get("client_name")
    name = raw_name if isinstance(raw_name, str) else request.headers.get(CLIENT_HEADER, "")
    try:
        token, client = state.pairing.redeem(body["code"], name, request.headers.get("Origin"))
    except PairingError as exc:
        status = {"locked_out": 429, "code_expired": 403}.get(exc.code, 403)
        return api_error(status, exc.code, str(exc))
    return web.json_response({"token": token, "client_id": client.id}, status=201)


@routes.post("/api/captures")
async def post_capture(request: web.Request) -> web.Response:
    started = time.perf_counter()
    state = request.app[STATE]
    body = await _body(request)
    if isinstance(body, web.Response):
        return body
    try:
        capture = validate_capture(body)
    except BadCapture as exc:
        return api_error(400, "bad_capture", str(exc))
    async with state.write_lock:
        if not state.unlocked:
            return locked()
        vault = state.require_vault()
        try:
            # In a worker thread (the vault and the family model lock for that): parsing a pathological
            # page can take many seconds, and the bridge must keep answering meanwhile.
            receipt = await asyncio.get_running_loop().run_in_executor(
                None, ingest, vault, capture, state.family
            )
        except VaultError as exc:  # a damaged or unwritable vault: say so in the API's own error shape
            return api_error(
                500,
                "vault_error",
                f"{exc} The page may not have been saved: keep it open and "
                "check the vault from the Kinchart dashboard.",
            )
        state.touch()
    # The bridge's own share of the round trip (read, validate, store, parse, file), for bench/roundtrip.py.
    timing = {"Server-Timing": f"bridge;dur={(time.perf_counter() - started) * 1000:.1f}"}
    return web.json_response(
        receipt.model_dump(mode="json"), status=200 if receipt.duplicate else 201, headers=timing
    )


@routes.get("/api/members")
async def members(request: web.Request) -> web.Response:
    state = request.app[STATE]
    family = state.family
    if not state.unlocked:
        return locked()
    found = family.list_members() if family else []
    return web.json_response(
        {
            "members": [
                {"id": m.id, "name": m.name, "dob": m.dob, "relationship": m.relationship} for m in found
            ]
        }
    )


@routes.post("/api/captures/{capture_id}/assign")
async def assign(request: web.Request) -> web.Response:
    state = request.app[STATE]
    body = await _body(request)
    if isinstance(body, web.Response):
        return body
    if not state.unlocked:
        return locked()
    family = state.family
    vault = state.require_vault()
    capture_id = request.match_info["capture_id"]
    if family is None or not vault.has_capture(capture_id):
        return api_error(404, "not_found", "That capture is not in the vault.")
    if not isinstance(body, dict):
        return api_error(400, "bad_request", "Say which member this is.")
    async with state.write_lock:
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
        family.assign(capture_id, member_id)
        receipt = file_and_receipt(vault, capture_id, False, family)
    return web.json_response(receipt.model_dump(mode="json"))
