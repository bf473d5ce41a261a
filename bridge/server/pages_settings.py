"""Settings: pair and revoke browsers, portal accounts with their proxy access and expiry, idle lock."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bridge.family import ACCESS_LEVELS

from .render import render
from .sessions import redirect
from .views import View, change, form_of, read, view

routes = web.RouteTableDef()
SETTINGS_COLLECTION = "settings"
SETTINGS_KEY = "dashboard"


def _page(v: View, code: str | None = None, status: int = 200) -> web.Response:
    names = {m.id: m.name for m in v.family.list_members()}
    return render(
        "settings.html",
        status=status,
        csrf=v.csrf,
        code=code,
        clients=v.state.pairing.clients(),
        accounts=v.family.list_accounts(),
        names=names,
        access_levels=ACCESS_LEVELS,
        idle_lock=v.state.idle_lock_minutes,
    )


@routes.get("/settings")
async def settings_page(request: web.Request) -> web.StreamResponse:
    return await read(_page, await view(request))


@routes.post("/settings/pair")
async def new_pair_code(request: web.Request) -> web.StreamResponse:
    v, _ = await form_of(request)
    code = await read(v.state.pairing.new_code)
    return await read(_page, v, code=code)


@routes.post("/settings/clients/{client_id}/revoke")
async def revoke_client(request: web.Request) -> web.StreamResponse:
    v, _ = await form_of(request)
    await read(v.state.pairing.revoke, request.match_info["client_id"])
    return redirect("/settings")


@routes.post("/settings/accounts/{account_id}")
async def set_proxy(request: web.Request) -> web.StreamResponse:
    v, form = await form_of(request)
    account_id = request.match_info["account_id"]
    if await read(v.family.get_account, account_id) is None:
        raise web.HTTPNotFound(text="No such portal account.")
    level = form.get("access_level") or None
    if level is not None and level not in ACCESS_LEVELS:
        raise web.HTTPBadRequest(text="Unknown access level.")
    await change(
        v,
        v.family.set_proxy,
        account_id,
        relationship=form.get("relationship") or None,
        access_level=level,
        expires_on=form.get("expires_on") or None,
    )
    return redirect("/settings")


@routes.post("/settings/idle-lock")
async def set_idle_lock(request: web.Request) -> web.StreamResponse:
    v, form = await form_of(request)
    try:
        minutes = int(form.get("minutes", ""))
    except ValueError:
        minutes = 0
    if not 1 <= minutes <= 24 * 60:
        return await read(_page, v, status=400)
    v.state.idle_lock_minutes = minutes

    def save() -> None:
        saved: dict[str, Any] = v.vault.get_doc(SETTINGS_COLLECTION, SETTINGS_KEY) or {}
        saved["idle_lock_minutes"] = minutes
        v.vault.put_doc(SETTINGS_COLLECTION, SETTINGS_KEY, saved)

    await change(v, save)
    return redirect("/settings")
