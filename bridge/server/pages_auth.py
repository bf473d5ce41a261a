"""The dashboard's doors: first run (create the passphrase), unlock and lock.

Every POST checks the session, the CSRF token, the exact Origin and Sec-Fetch-Site. A logged-in page
needs both the session cookie and the session's address secret (see `sessions`).
"""

from __future__ import annotations

from aiohttp import web

from bridge.vault import VaultError, WrongPassphrase

from .render import render
from .sessions import COOKIE, SESSIONS, URL_PREFIX, Session, check_csrf, check_same_origin, redirect
from .state import STATE
from .unlock_throttle import UNLOCK_THROTTLE

routes = web.RouteTableDef()
#: routes that live under the session prefix only (the others here are the open doors)
session_routes = web.RouteTableDef()
MIN_PASSPHRASE = 8


def session_or_redirect(request: web.Request) -> Session:
    """The logged-in session this request proves (cookie and address secret), else off to unlock."""
    state = request.app[STATE]
    if not state.exists:
        raise web.HTTPSeeOther("/setup")
    found = request.app[SESSIONS].logged_in(request)
    if found is None or not state.unlocked:
        raise web.HTTPSeeOther("/unlock")
    session = found[1]
    state.touch()
    request[URL_PREFIX] = session.prefix
    return session


async def checked_form(request: web.Request, session: Session | None) -> dict[str, str]:
    check_same_origin(request)
    form = await request.post()
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    check_csrf(session, values.get("csrf"))
    return values


def _form_page(request: web.Request, template: str, path: str) -> web.StreamResponse:
    sid, session = request.app[SESSIONS].begin()
    response = render(template, csrf=session.csrf, error=None)
    request.app[SESSIONS].set_form_cookie(response, sid, path)
    return response


def _logged_in(location: str, request: web.Request) -> web.StreamResponse:
    """Start a logged-in session and go to its first page (inside its prefix)."""
    sessions = request.app[SESSIONS]
    sid, session = sessions.begin(authenticated=True)
    response = redirect(session.prefix + location)
    sessions.set_cookie(response, sid, session)
    return response


@routes.get("/setup")
async def setup_page(request: web.Request) -> web.StreamResponse:
    if request.app[STATE].exists:
        raise web.HTTPSeeOther("/unlock")
    return _form_page(request, "setup.html", "/setup")


@routes.post("/setup")
async def setup_submit(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    session = request.app[SESSIONS].form_session(request)
    form = await checked_form(request, session)
    if state.exists:
        raise web.HTTPSeeOther("/unlock")
    passphrase, again = form.get("passphrase", ""), form.get("again", "")
    error = None
    if len(passphrase) < MIN_PASSPHRASE:
        error = f"Choose a passphrase of at least {MIN_PASSPHRASE} characters."
    elif passphrase != again:
        error = "The two passphrases differ."
    if error:
        return render("setup.html", status=400, csrf=session.csrf if session else "", error=error)
    try:
        await state.create(passphrase)
    except VaultError:
        raise web.HTTPSeeOther("/unlock") from None  # made meanwhile by another setup form
    return _logged_in("/members", request)  # first run goes on to adding the family


@routes.get("/unlock")
async def unlock_page(request: web.Request) -> web.StreamResponse:
    """The unlock form. It never ends or replaces a logged-in session, so a link or an <img> from any
    page cannot log the caregiver out (only the Lock button's checked POST does)."""
    if not request.app[STATE].exists:
        raise web.HTTPSeeOther("/setup")
    return _form_page(request, "unlock.html", "/unlock")


@routes.post("/unlock")
async def unlock_submit(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    session = request.app[SESSIONS].form_session(request)
    form = await checked_form(request, session)
    csrf = session.csrf if session else ""
    throttle = request.app[UNLOCK_THROTTLE]
    async with throttle.one_at_a_time:
        wait = throttle.wait_seconds()
        if wait:
            response = render(
                "unlock.html",
                status=429,
                csrf=csrf,
                error=f"Too many wrong passphrases. Wait {wait} second{'s' if wait != 1 else ''}, then try again.",
            )
            response.headers["Retry-After"] = str(wait)
            return response
        try:
            await state.unlock_in_worker(form.get("passphrase", ""))
        except WrongPassphrase:
            throttle.failed()
            return render(
                "unlock.html", status=403, csrf=csrf, error="That passphrase does not open this vault."
            )
        except VaultError as exc:
            return render("unlock.html", status=500, csrf=csrf, error=str(exc))
        throttle.succeeded()
    return _logged_in("/", request)


@session_routes.post("/lock")
async def lock_submit(request: web.Request) -> web.StreamResponse:
    """Lock the vault: every session ends, and this browser forgets its cookie."""
    session = session_or_redirect(request)
    await checked_form(request, session)
    await request.app[STATE].lock_keeping_index()
    request.app[SESSIONS].end_all()
    response = redirect("/unlock")
    response.del_cookie(COOKIE, path=session.prefix)
    return response
