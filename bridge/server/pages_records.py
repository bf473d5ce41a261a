"""One fact on its own page (every kind, with its sources and history), lab trends, reconciled medicines."""

from __future__ import annotations

from aiohttp import web

from bridge.family import TimelineQuery
from bridge.presentation.charts import trend_svg

from .render import render
from .views import View, read, view

routes = web.RouteTableDef()
TABLE_ROWS = 100  # values listed under a trend chart


@routes.get("/entries/{entry_id}")
async def entry_page(request: web.Request) -> web.StreamResponse:
    v = await view(request)
    return await read(_entry_page, v, request.match_info["entry_id"])


def _entry_page(v: View, entry_id: str) -> web.Response:
    entry = v.family.get_entry(entry_id)
    if entry is None:
        raise web.HTTPNotFound(text="That record is not in the vault (a reparse may have replaced it).")
    member = v.family.get_member(entry.member_id)
    thread = []
    if entry.kind == "message":
        subject = entry.record.get("thread_subject") or entry.title
        thread = [
            e
            for e in v.family.iter_entries(
                TimelineQuery(member_ids=[entry.member_id], kinds=["message"], limit=None, newest_first=False)
            )
            if (e.record.get("thread_subject") or e.title) == subject and e.organization == entry.organization
        ]
    return render("entry.html", csrf=v.csrf, entry=entry, member=member, r=entry.record, thread=thread)


@routes.get("/members/{member_id}/results")
async def results_page(request: web.Request) -> web.StreamResponse:
    v = await view(request)
    return await read(_results_page, v, request.match_info["member_id"])


def _results_page(v: View, member_id: str) -> web.Response:
    member = v.member(member_id)
    series = v.family.trends(member.id)
    charts = [(s, trend_svg(s)) for s in sorted(series, key=lambda s: (-len(s.points), s.name))]
    # the table under each chart lists the latest TABLE_ROWS values; past that it says so
    # and links to the member's timeline, which pages through every result
    tables = {s.analyte: s.points[-TABLE_ROWS:] for s, _ in charts}
    recent = v.family.timeline(TimelineQuery(member_ids=[member.id], kinds=["test_result"], limit=20))
    return render(
        "results.html",
        csrf=v.csrf,
        member=member,
        charts=charts,
        tables=tables,
        table_rows=TABLE_ROWS,
        recent=recent.entries,
    )


@routes.get("/members/{member_id}/medications")
async def medications_page(request: web.Request) -> web.StreamResponse:
    v = await view(request)
    return await read(_medications_page, v, request.match_info["member_id"])


def _medications_page(v: View, member_id: str) -> web.Response:
    member = v.member(member_id)
    groups = v.family.reconcile_medications(member.id)
    return render(
        "medications.html",
        csrf=v.csrf,
        member=member,
        active=[g for g in groups if g.active],
        inactive=[g for g in groups if not g.active],
    )
