"""What every dashboard page needs first: a live session on an unlocked vault, and the family model."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from bridge.family import Family, Member
from bridge.vault import Vault

from .pages_auth import checked_form, session_or_redirect
from .sessions import Session
from .state import STATE, BridgeState


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


def view(request: web.Request) -> View:
    session = session_or_redirect(request)
    state = request.app[STATE]
    vault = state.require_vault()
    family = state.family
    if family is None:  # pragma: no cover - the family model ships with the bridge
        raise web.HTTPServiceUnavailable(text="The family model is not available.")
    return View(session, state, vault, family)


async def form_of(request: web.Request) -> tuple[View, dict[str, str]]:
    v = view(request)
    form = await checked_form(request, v.session)
    return v, form


__all__ = ["View", "form_of", "view"]
