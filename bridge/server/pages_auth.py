"""The dashboard's doors: first run (create the passphrase), unlock and lock.

Every POST checks the session, the CSRF token, the exact Origin and Sec-Fetch-Site.
"""

from __future__ import annotations

from aiohttp import web

from bridge.vault import VaultError, WrongPassphrase

from .render import render
from .sessions import SESSIONS, Session, check_csrf, check_same_origin, redirect
from .state import STATE

routes = web.RouteTableDef()
MIN_PASSPHRASE = 8


def session_or_redirect(request: web.Request) -> Session:
    state = request.app[STATE]
    if not state.exists:
        raise web.HTTPSeeOther("/setup")
    session = request.app[SESSIONS].get(request)
    if session is None or not session.authenticated or not state.unlocked:
        raise web.HTTPSeeOther("/unlock")
    state.touch()
    return session


async def checked_form(request: web.Request, session: Session | None) -> dict[str, str]:
    check_same_origin(request)
    form = await request.post()
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    check_csrf(session, values.get("csrf"))
    return values


@routes.get("/setup")
async def setup_page(request: web.Request) -> web.StreamResponse:
    if request.app[STATE].exists:
        raise web.HTTPSeeOther("/")
    sid, session = request.app[SESSIONS].begin()
    response = render("setup.html", csrf=session.csrf, error=None)
    request.app[SESSIONS].set_cookie(response, sid)
    return response


@routes.post("/setup")
async def setup_submit(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    sessions = request.app[SESSIONS]
    form = await checked_form(request, sessions.get(request))
    if state.exists:
        raise web.HTTPSeeOther("/")
    passphrase, again = form.get("passphrase", ""), form.get("again", "")
    error = None
    if len(passphrase) < MIN_PASSPHRASE:
        error = f"Choose a passphrase of at least {MIN_PASSPHRASE} characters."
    elif passphrase != again:
        error = "The two passphrases differ."
    if error:
        session = sessions.get(request)
        return render("setup.html", status=400, csrf=session.csrf if session else "", error=error)
    state.create(passphrase)
    response = redirect("/members")  # first run goes on to adding the family
    sessions.set_cookie(response, sessions.begin(authenticated=True)[0])
    return response


@routes.get("/unlock")
async def unlock_page(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    if not state.exists:
        raise web.HTTPSeeOther("/setup")
    sid, session = request.app[SESSIONS].begin()
    response = render("unlock.html", csrf=session.csrf, error=None)
    request.app[SESSIONS].set_cookie(response, sid)
    return response


@routes.post("/unlock")
async def unlock_submit(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    sessions = request.app[SESSIONS]
    session = sessions.get(request)
    form = await checked_form(request, session)
    try:
        state.unlock(form.get("passphrase", ""))
    except WrongPassphrase:
        return render(
            "unlock.html",
            status=403,
            csrf=session.csrf if session else "",
            error="That passphrase does not open this vault.",
        )
    except VaultError as exc:
        return render("unlock.html", status=500, csrf=session.csrf if session else "", error=str(exc))
    response = redirect("/")
    sessions.set_cookie(response, sessions.begin(authenticated=True)[0])
    return response


@routes.post("/lock")
async def lock_submit(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    await checked_form(request, request.app[SESSIONS].get(request))
    await state.lock_keeping_index()
    request.app[SESSIONS].end_all()
    raise web.HTTPSeeOther("/unlock")
