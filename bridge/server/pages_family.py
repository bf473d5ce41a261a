"""The family overview, members, and each member's merged timeline (filters, search, paging)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from aiohttp import web

from bridge.family import TimelineQuery
from bridge.records import RECORD_KINDS

from .render import render
from .sessions import redirect
from .views import View, change, form_of, read, view

routes = web.RouteTableDef()
PAGE_SIZE = 50
RECENT_DAYS = 60


def _today() -> date:
    return datetime.now(UTC).date()


@routes.get("/")
async def overview(request: web.Request) -> web.StreamResponse:
    v = await view(request)
    return await read(_overview, v)


def _overview(v: View) -> web.Response:
    family = v.family
    members = family.list_members()
    today = _today()
    now = datetime.now()
    upcoming = family.upcoming_appointments(now=now)
    expiring = family.expiring(within_days=90, today=today)
    stale = family.stale(today=today)
    awaiting = family.awaiting_reply(today=today)
    since = (today - timedelta(days=RECENT_DAYS)).isoformat()
    accounts = family.list_accounts(today=today)
    cards: list[dict[str, Any]] = []
    for m in members:
        results = family.timeline(
            TimelineQuery(member_ids=[m.id], kinds=["test_result"], since=since, limit=200)
        )
        abnormal = [
            e for e in results.entries if any(c.get("flag") for c in e.record.get("components") or [])
        ][:8]
        cards.append(
            {
                "member": m,
                "upcoming": [u for u in upcoming if u.entry.member_id == m.id][:6],
                "abnormal": abnormal,
                "recent_results": results.total,
                "awaiting": [t for t in awaiting if t.member_id == m.id],
                "accounts": [a for a in accounts if a.member_id == m.id],
                "expiring": [x for x in expiring if x.account.member_id == m.id],
                "stale": [s for s in stale if s.account.member_id == m.id],
            }
        )
    clashes = [u for u in upcoming if u.clashes]
    unassigned = len(family.unassigned())
    names = {m.id: m.name for m in members}
    return render(
        "overview.html",
        csrf=v.csrf,
        cards=cards,
        clashes=clashes,
        names=names,
        unassigned=unassigned,
        has_captures=bool(v.vault.capture_count()),
        # what the vault found missing, older or damaged (never content: kinds and opaque ids)
        integrity=v.vault.integrity().lines(),
    )


@routes.get("/members")
async def members_page(request: web.Request) -> web.StreamResponse:
    v = await view(request)
    return await read(
        lambda: render("members.html", csrf=v.csrf, members=v.family.list_members(), error=None)
    )


@routes.post("/members")
async def add_member(request: web.Request) -> web.StreamResponse:
    v, form = await form_of(request)
    name = (form.get("name") or "").strip()
    if not name:
        return await read(
            lambda: render(
                "members.html",
                status=400,
                csrf=v.csrf,
                members=v.family.list_members(),
                error="Give the family member a name.",
            )
        )
    await change(
        v,
        v.family.create_member,
        name=name,
        dob=form.get("dob") or None,
        relationship=form.get("relationship") or None,
        notes=form.get("notes") or None,
    )
    return redirect("/members")


@routes.post("/members/{member_id}/rename")
async def rename_member(request: web.Request) -> web.StreamResponse:
    v, form = await form_of(request)
    member = await read(v.member, request.match_info["member_id"])
    name = (form.get("name") or "").strip()
    if name:
        await change(v, v.family.rename_member, member.id, name)
    return redirect("/members")


@routes.post("/members/merge")
async def merge_members(request: web.Request) -> web.StreamResponse:
    v, form = await form_of(request)
    keep = await read(v.member, form.get("keep", ""))
    drop = await read(v.member, form.get("drop", ""))
    if keep.id != drop.id:
        await change(v, v.family.merge_members, keep.id, drop.id)
    return redirect(f"/members/{keep.id}")


def _list(request: web.Request, name: str) -> list[str]:
    return [x for x in request.query.getall(name, []) if x]


@routes.get("/members/{member_id}")
async def member_timeline(request: web.Request) -> web.StreamResponse:
    v = await view(request)
    return await read(_member_timeline, v, request)


def _member_timeline(v: View, request: web.Request) -> web.Response:
    member = v.member(request.match_info["member_id"])
    kinds = [k for k in _list(request, "kind") if k in RECORD_KINDS]
    orgs = _list(request, "org")
    try:
        page = max(int(request.query.get("page", "1")), 1)
    except ValueError:
        page = 1
    since = request.query.get("since") or None
    until = request.query.get("until") or None
    text = (request.query.get("q") or "").strip() or None
    result = v.family.timeline(
        TimelineQuery(
            member_ids=[member.id],
            kinds=kinds or None,
            organizations=orgs or None,
            since=since,
            until=until,
            text=text,
            offset=(page - 1) * PAGE_SIZE,
            limit=PAGE_SIZE,
        )
    )
    accounts = [a for a in v.family.list_accounts() if a.member_id == member.id]
    all_orgs = sorted({a.organization for a in accounts if a.organization})
    pages = max((result.total + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    base_query = [(k, val) for k, val in request.query.items() if k != "page"]
    return render(
        "timeline.html",
        csrf=v.csrf,
        member=member,
        result=result,
        kinds=kinds,
        orgs=orgs,
        all_kinds=RECORD_KINDS,
        all_orgs=all_orgs,
        since=since or "",
        until=until or "",
        q=text or "",
        page=page,
        pages=pages,
        base_query=base_query,
    )
