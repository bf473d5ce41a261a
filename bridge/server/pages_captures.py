"""Provenance and the captures inbox: every record back to the page it came from, shown sanitized in a
sandboxed frame; "who is this?" for unassigned captures; parse warnings; reparse."""

from __future__ import annotations

import nh3
from aiohttp import web

from bridge.ingest import not_understood
from bridge.reparse import ReparseOutcome
from bridge.reparse import reparse as reparse_vault

from .render import render
from .sessions import redirect
from .views import View, change, form_of, read, view

routes = web.RouteTableDef()
# The sanitized page may show its own images only if they are inline data; nothing is fetched.
FRAME_CSP = "default-src 'none'; img-src data:; style-src 'none'; frame-ancestors 'self'; sandbox"
ALLOWED_TAGS = nh3.ALLOWED_TAGS - {"img"} | {
    "main",
    "section",
    "article",
    "header",
    "footer",
    "nav",
    "time",
    "bdi",
}


LISTED = 200  # captures shown on the inbox page, newest first


def _inbox(v: View, report: ReparseOutcome | None = None) -> web.Response:
    rows = list(reversed(v.vault.list_captures()))
    members = v.family.list_members()
    return render(
        "captures.html",
        csrf=v.csrf,
        unassigned=v.family.unassigned(),
        members=members,
        captures=rows[:LISTED],
        total=len(rows),
        problems=[r for r in rows if not_understood(r.meta) or r.meta.get("warnings")][:LISTED],
        names={m.id: m.name for m in members},
        report=report,
    )


@routes.get("/captures")
async def captures_inbox(request: web.Request) -> web.StreamResponse:
    return await read(_inbox, await view(request))


@routes.post("/captures/{capture_id}/assign")
async def assign_capture(request: web.Request) -> web.StreamResponse:
    v, form = await form_of(request)
    capture_id = request.match_info["capture_id"]

    def file_it() -> None:
        if not v.vault.has_capture(capture_id):
            raise web.HTTPNotFound(text="No such capture.")
        member_id = form.get("member_id") or ""
        if member_id == "new":
            name = (form.get("new_name") or "").strip()
            if not name:
                raise web.HTTPBadRequest(text="Give the new family member a name.")
            member_id = v.family.create_member(
                name=name, dob=form.get("new_dob") or None, relationship=form.get("new_relationship") or None
            ).id
        v.member(member_id)
        v.family.assign(capture_id, member_id)

    await change(v, file_it)
    return redirect("/captures")


@routes.post("/reparse")
async def reparse(request: web.Request) -> web.StreamResponse:
    v, _form = await form_of(request)

    def run() -> web.Response:
        # In a worker thread (change), one capture at a time under the family's lock: saves and pages
        # go on meanwhile.
        return _inbox(v, reparse_vault(v.vault, v.family))

    return await change(v, run)


@routes.get("/captures/{capture_id}")
async def capture_page(request: web.Request) -> web.StreamResponse:
    v = await view(request)
    return await read(_capture_page, v, request.match_info["capture_id"])


def _capture_page(v: View, capture_id: str) -> web.Response:
    if not v.vault.has_capture(capture_id):
        raise web.HTTPNotFound(text="No such capture.")
    meta = v.vault.get_capture_meta(capture_id)
    records = v.vault.records_for(capture_id)
    member = v.family.get_member(meta["member_id"]) if meta.get("member_id") else None
    frames = meta.get("frame_urls") or [meta.get("url")]
    return render(
        "capture.html",
        csrf=v.csrf,
        capture_id=capture_id,
        meta=meta,
        records=records,
        member=member,
        frames=frames,
    )


async def _frame_html(request: web.Request) -> tuple[str, str]:
    v = await view(request)
    return await read(_frame_of, v, request)


def _frame_of(v: View, request: web.Request) -> tuple[str, str]:
    capture_id = request.match_info["capture_id"]
    if not v.vault.has_capture(capture_id):
        raise web.HTTPNotFound(text="No such capture.")
    capture = v.vault.get_capture(capture_id)
    try:
        index = int(request.query.get("frame", "0"))
        frame = capture["frames"][index]
    except (ValueError, IndexError):
        raise web.HTTPNotFound(text="No such frame.") from None
    return capture_id, str(frame.get("html") or "")


@routes.get("/captures/{capture_id}/view")
async def capture_view(request: web.Request) -> web.StreamResponse:
    """The captured page, sanitized (no script, no styles, no remote anything), for a sandboxed frame."""
    _, html = await _frame_html(request)
    clean = await read(
        nh3.clean,
        html,
        tags=ALLOWED_TAGS,
        clean_content_tags={"script", "style", "template", "noscript", "title"},
        link_rel="noopener noreferrer nofollow",
        url_schemes={"https", "http", "mailto"},
    )
    body = f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>Saved page</title></head><body>{clean}</body></html>'
    return web.Response(
        text=body,
        content_type="text/html",
        charset="utf-8",
        headers={"Content-Security-Policy": FRAME_CSP, "X-Frame-Options": "SAMEORIGIN"},
    )


@routes.get("/captures/{capture_id}/raw")
async def capture_raw(request: web.Request) -> web.StreamResponse:
    """The page exactly as captured, as a download: never rendered in the dashboard's origin."""
    capture_id, html = await _frame_html(request)
    return web.Response(
        body=html.encode("utf-8"),
        content_type="application/octet-stream",
        headers={
            "Content-Disposition": f'attachment; filename="kinchart-capture-{capture_id[:12]}.html"',
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )
