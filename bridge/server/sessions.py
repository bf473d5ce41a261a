"""Dashboard sessions: an HttpOnly, SameSite=Strict cookie after the passphrase, a CSRF token per
session, and the exact-Origin + Sec-Fetch-Site check on every state-changing request."""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass, field

from aiohttp import web

COOKIE = "kinchart_session"


# Sessions that only carry a form's CSRF token (the setup and unlock pages) are cheap for anyone to
# make; keep at most this many, dropping the oldest.
MAX_ANONYMOUS = 200


@dataclass
class Session:
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    created: float = field(default_factory=time.monotonic)
    # True only after the passphrase was given (unlock or first-run setup) in this session.
    authenticated: bool = False


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
    def set_cookie(response: web.StreamResponse, sid: str) -> None:
        response.set_cookie(COOKIE, sid, httponly=True, samesite="Strict", path="/")

    def get(self, request: web.Request) -> Session | None:
        sid = request.cookies.get(COOKIE)
        return self._by_id.get(sid) if sid else None

    def end_all(self) -> None:
        """Locking ends every dashboard session."""
        self._by_id.clear()


def redirect(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


def check_same_origin(request: web.Request) -> None:
    """A state-changing request must come from the dashboard itself."""
    expected = f"http://{request.headers.get('Host', '')}"
    if request.headers.get("Origin") != expected or request.headers.get("Sec-Fetch-Site") != "same-origin":
        raise web.HTTPForbidden(text="Cross-site request refused.")


def check_csrf(session: Session | None, submitted: str | None) -> None:
    if session is None or not submitted or not hmac.compare_digest(session.csrf, submitted):
        raise web.HTTPForbidden(text="The form expired. Reload the page and try again.")


SESSIONS: web.AppKey[Sessions] = web.AppKey("sessions", Sessions)
