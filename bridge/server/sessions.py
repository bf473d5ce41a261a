"""Dashboard sessions: the cookie alone is not enough.

Cookies are not isolated by port, so a page on `127.0.0.1:<another port>` the caregiver reaches by a link
receives whatever cookie is scoped to `/`. So a logged-in session has two secrets, both checked:

- the cookie (HttpOnly, SameSite=Strict), whose Path is scoped to the session's own prefix, and
- a per-session secret in every dashboard address: `/s/<secret>/members`, `/s/<secret>/settings`, ...

The browser sends the cookie only under that prefix, which no other origin knows (Referrer-Policy
same-origin keeps it out of Referer headers), and a replayed cookie without the matching prefix opens
nothing. Our own pages and redirects are given the prefix in one place: `session_urls` rewrites the
dashboard links in pages made by `render()` and the Location of redirects, once `session_or_redirect`
has checked the session, so the page handlers and templates keep writing plain paths like `/members`.

The unlock and setup forms get a separate, anonymous cookie scoped to their own path: it carries only the
form's CSRF token, and giving it out never touches a logged-in session. Every state-changing request also
needs the exact Origin, `Sec-Fetch-Site: same-origin` and the CSRF token.
"""

from __future__ import annotations

import hmac
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web
from multidict import CIMultiDict

COOKIE = "kinchart_session"
FORM_COOKIE = "kinchart_form"
#: the route variable holding the session's address secret (see `app.init_app`)
SECRET_VAR = "session_secret"  # noqa: S105 - the name of a route variable
SESSION_ROUTE_PREFIX = "/s/{" + SECRET_VAR + "}"

# Sessions that only carry a form's CSRF token (the setup and unlock pages) are cheap for anyone to
# make; keep at most this many, dropping the oldest.
MAX_ANONYMOUS = 200

# Dashboard paths that stay outside any session prefix.
_OPEN_PATHS = ("/s/", "/unlock", "/setup", "/static/", "/api/")
# A same-origin absolute path in an attribute of our own markup. Autoescaping turns every `"` in data
# into `&#34;`, so this only matches what a template (or the chart code) wrote itself.
_OWN_LINK = re.compile(r'\b(href|action|src|formaction)="(/(?!/)[^"]*)"')


@dataclass
class Session:
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    created: float = field(default_factory=time.monotonic)
    # True only after the passphrase was given (unlock or first-run setup) in this session.
    authenticated: bool = False
    # The secret in this session's dashboard addresses (only used once authenticated).
    url_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))

    @property
    def prefix(self) -> str:
        return f"/s/{self.url_secret}"


class Sessions:
    def __init__(self) -> None:
        self._by_id: dict[str, Session] = {}

    def begin(self, authenticated: bool = False) -> tuple[str, Session]:
        sid = secrets.token_urlsafe(32)
        session = Session(authenticated=authenticated)
        if not authenticated:
            anonymous = [k for k, v in self._by_id.items() if not v.authenticated]
            for old in anonymous[: max(0, len(anonymous) - MAX_ANONYMOUS + 1)]:
                del self._by_id[old]
        self._by_id[sid] = session
        return sid, session

    @staticmethod
    def set_cookie(response: web.StreamResponse, sid: str, session: Session) -> None:
        """The logged-in session's cookie, sent by the browser only under the session's own prefix."""
        response.set_cookie(COOKIE, sid, httponly=True, samesite="Strict", path=session.prefix)

    @staticmethod
    def set_form_cookie(response: web.StreamResponse, sid: str, path: str) -> None:
        """The unlock or setup form's anonymous session, scoped to that form's own path."""
        response.set_cookie(FORM_COOKIE, sid, httponly=True, samesite="Strict", path=path)

    def form_session(self, request: web.Request) -> Session | None:
        """The anonymous session of the unlock or setup form (it only holds the form's CSRF token)."""
        for sid in _cookie_values(request, FORM_COOKIE):
            session = self._by_id.get(sid)
            if session is not None and not session.authenticated:
                return session
        return None

    def logged_in(self, request: web.Request) -> tuple[str, Session] | None:
        """The logged-in session this request proves, with both its cookie and its address secret."""
        secret = request.match_info.get(SECRET_VAR)
        if not secret:
            return None
        for sid in _cookie_values(request, COOKIE):
            session = self._by_id.get(sid)
            if (
                session is not None
                and session.authenticated
                and hmac.compare_digest(session.url_secret.encode(), secret.encode())
            ):
                return sid, session
        return None

    def end(self, sid: str) -> None:
        self._by_id.pop(sid, None)

    def end_all(self) -> None:
        """Locking ends every dashboard session."""
        self._by_id.clear()


def _cookie_values(request: web.Request, name: str) -> list[str]:
    """Every value the request sends for cookie `name`: a browser sends one per matching Path (say a
    stale one left from an older version), and `request.cookies` would keep only one of them."""
    values = []
    for header in request.headers.getall("Cookie", []):
        for part in header.split(";"):
            key, sep, value = part.strip().partition("=")
            if sep and key == name and value:
                values.append(value.strip('"'))
    return values


def redirect(location: str) -> web.Response:
    """A 303 to a dashboard path; `session_urls` puts the session's prefix in front."""
    return web.Response(status=303, headers={"Location": location})


def check_same_origin(request: web.Request) -> None:
    """A state-changing request must come from the dashboard itself."""
    expected = f"http://{request.headers.get('Host', '')}"
    if request.headers.get("Origin") != expected or request.headers.get("Sec-Fetch-Site") != "same-origin":
        raise web.HTTPForbidden(text="Cross-site request refused.")


def check_csrf(session: Session | None, submitted: str | None) -> None:
    if session is None or not submitted or not hmac.compare_digest(session.csrf, submitted):
        raise web.HTTPForbidden(text="The form expired. Reload the page and try again.")


class DashboardPage(web.Response):
    """A page made from our own templates: the only HTML whose links `session_urls` rewrites (never a
    captured page, which is served as a plain Response)."""


#: set by `session_or_redirect` once the request proved its session: the prefix for this answer's links
URL_PREFIX: web.RequestKey[str] = web.RequestKey("url_prefix", str)


def in_session(prefix: str, path: str) -> str:
    """`path` inside the session's prefix, unless it lives outside every session (static files, the
    unlock and setup forms, the API) or already has one."""
    if not path.startswith("/") or path.startswith("//") or path.startswith(_OPEN_PATHS) or path == "/s":
        return path
    return prefix + path


def _prefix_location(headers: CIMultiDict[str], prefix: str) -> None:
    location = headers.get("Location")
    if location is not None:
        headers["Location"] = in_session(prefix, location)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def session_urls(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Give our own links and redirects the session's prefix, only for a request that proved its
    session (so an unchecked or wrong prefix is never echoed back)."""
    try:
        response = await handler(request)
    except web.HTTPRedirection as exc:
        prefix = request.get(URL_PREFIX)
        if prefix:
            _prefix_location(exc.headers, prefix)
        raise
    prefix = request.get(URL_PREFIX)
    if prefix:
        _prefix_location(response.headers, prefix)
        if isinstance(response, DashboardPage) and response.text:
            response.text = _OWN_LINK.sub(lambda m: f'{m[1]}="{in_session(prefix, m[2])}"', response.text)
    return response


SESSIONS: web.AppKey[Sessions] = web.AppKey("sessions", Sessions)
