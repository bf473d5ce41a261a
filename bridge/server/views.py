"""What every dashboard page needs first: a live session on an unlocked vault, and the family model."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from aiohttp import web

from bridge.family import Family, Member
from bridge.vault import Vault, VaultLocked

from .gate import GateClosed
from .pages_auth import checked_form, session_or_redirect
from .sessions import Session
from .state import STATE, BridgeState

_P = ParamSpec("_P")
_T = TypeVar("_T")


@dataclass
class View:
    session: Session
    state: BridgeState
    vault: Vault
    family: Family

    @property
    def csrf(self) -> str:
        return self.session.csrf

    def member(self, member_id: str) -> Member:
        member = self.family.get_member(member_id)
        if member is None:
            raise web.HTTPNotFound(text="No such family member.")
        return member


async def view(request: web.Request) -> View:
    """The page's session and the family model. The model is fetched in a worker thread: the first
    request after an unlock builds its index, and any request may wait for the family's lock while a
    capture is being filed. A handler then does its own work in a worker thread too (`read`, `change`)."""
    session = session_or_redirect(request)
    state = request.app[STATE]
    vault = state.require_vault()
    family = await asyncio.to_thread(lambda: state.family)
    if family is None:  # locked meanwhile
        raise web.HTTPSeeOther("/unlock")
    return View(session, state, vault, family)


async def read(fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
    """A page's work (queries, rendering) in a worker thread; a vault locked meanwhile sends the
    caregiver to the unlock page."""
    try:
        return await asyncio.to_thread(fn, *args, **kwargs)
    except VaultLocked:
        raise web.HTTPSeeOther("/unlock") from None


async def change(v: View, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
    """A form's change in a worker thread, holding the vault's gate open (locking waits for it)."""
    try:
        async with v.state.gate.held():
            return await asyncio.to_thread(fn, *args, **kwargs)
    except (GateClosed, VaultLocked):
        raise web.HTTPSeeOther("/unlock") from None


async def form_of(request: web.Request) -> tuple[View, dict[str, str]]:
    v = await view(request)
    form = await checked_form(request, v.session)
    return v, form


__all__ = ["View", "change", "form_of", "read", "view"]
