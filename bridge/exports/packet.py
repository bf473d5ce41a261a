"""`html`: the printable "new doctor" packet, one section per member: who, allergies, problems, the
reconciled active medications, recent abnormal results with trend charts, immunizations, recent
visits and upcoming appointments, then the timeline, every item with its source system and date.

One self-contained HTML file (templates/export_packet.html): inline CSS, inline SVG charts
(bridge.presentation.charts, the dashboard's own), no script, no external resource, a
Content-Security-Policy that allows none. Every value passes through Jinja's autoescaping: captured
content is hostile input, so a `<script>` in a message body comes out as text. The PDF export prints this very HTML (pdf.py).

The same timeline query feeds every section (the medication and trend views are the family model's
pure functions over those entries), so the export's member, date and kind filters apply throughout.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import jinja2
from markupsafe import Markup

from bridge.family import Entry, Family, Member, Series
from bridge.family.meds import MedGroup, reconcile
from bridge.family.trends import analyte_of, trends
from bridge.presentation.charts import trend_svg
from bridge.presentation.filters import FILTERS

from .common import ExportOptions, Progress, chosen_members, detail, entries, sources_label
from .ics_format import is_upcoming, start_of

TEMPLATES = Path(__file__).resolve().parent / "templates"
TEMPLATE = "export_packet.html"


@functools.cache
def environment() -> jinja2.Environment:
    """The packet's Jinja environment: autoescaping everything, the dashboard's date and label filters
    (built on first use)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(FILTERS)
    env.filters["sources"] = sources_label
    env.filters["detail"] = detail
    return env


RECENT_ABNORMAL = 15  # flagged results shown
MAX_CHARTS = 6  # trend charts per member
CHART_POINTS = 40  # the most recent results on a chart
RECENT_VISITS = 10
MAX_IMMUNIZATIONS = 100  # doses listed, most recent first (a real record has far fewer)
INACTIVE_PROBLEMS = frozenset({"resolved", "inactive", "historical", "deleted"})


@dataclass
class Flagged:
    entry: Entry
    components: list[dict[str, Any]]


@dataclass
class Chart:
    series: Series  # the points charted (the most recent CHART_POINTS)
    total: int  # how many results the whole series has
    svg: Markup


@dataclass
class MemberPacket:
    member: Member
    systems: list[str]
    allergies: list[Entry] = field(default_factory=list)
    problems: list[Entry] = field(default_factory=list)
    medications: list[MedGroup] = field(default_factory=list)
    abnormal: list[Flagged] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    immunizations: list[Entry] = field(default_factory=list)
    immunizations_total: int = 0
    visits: list[Entry] = field(default_factory=list)
    upcoming: list[Entry] = field(default_factory=list)
    timeline: list[Entry] = field(default_factory=list)
    timeline_total: int = 0


def _latest_by_title(items: Iterable[Entry]) -> list[Entry]:
    """One entry per title (the latest), sorted by title."""
    by: dict[str, Entry] = {}
    for e in items:  # oldest first: later ones win
        by[" ".join((e.title or "").split()).casefold()] = e
    return sorted(by.values(), key=lambda e: (e.title or "").casefold())


def member_packet(m: Member, items: list[Entry], opts: ExportOptions) -> MemberPacket:
    """The packet sections of one member from their entries (oldest first)."""
    by_kind: dict[str, list[Entry]] = {}
    for e in items:
        by_kind.setdefault(e.kind, []).append(e)
    systems = sorted({o for e in items for o in e.organizations if o})
    p = MemberPacket(member=m, systems=systems)
    p.allergies = _latest_by_title(by_kind.get("allergy", []))
    p.problems = [
        e
        for e in _latest_by_title(by_kind.get("problem", []))
        if str(e.record.get("status") or "").strip().lower() not in INACTIVE_PROBLEMS
    ]
    p.medications = [g for g in reconcile(by_kind.get("medication", [])) if g.active]
    results = by_kind.get("test_result", [])
    flagged: list[Flagged] = []
    for e in reversed(results):
        comps = [c for c in e.record.get("components") or [] if isinstance(c, dict) and c.get("flag")]
        if comps:
            flagged.append(Flagged(e, comps))
            if len(flagged) >= RECENT_ABNORMAL:
                break
    p.abnormal = flagged
    if flagged:
        wanted = {analyte_of(str(c.get("name")), f.entry.title)[0] for f in flagged for c in f.components}
        series = [sr for sr in trends(results, min_points=2) if sr.analyte in wanted]
        series.sort(key=lambda sr: (-len(sr.points), sr.name))
        for sr in series[:MAX_CHARTS]:
            pts = sr.points[-CHART_POINTS:]
            recent = replace(
                sr,
                points=pts,
                organizations=tuple(
                    sorted(
                        {
                            o
                            for pt in pts
                            for o in (pt.organizations or ((pt.organization,) if pt.organization else ()))
                        }
                    )
                ),
            )
            p.charts.append(Chart(recent, len(sr.points), trend_svg(recent, link_prefix="#e-")))
    doses = by_kind.get("immunization", [])
    p.immunizations_total = len(doses)
    p.immunizations = list(reversed(doses))[:MAX_IMMUNIZATIONS]
    p.visits = list(reversed(by_kind.get("visit", [])))[:RECENT_VISITS]
    now = opts.wall_now()
    upcoming: list[Entry] = []
    for e in by_kind.get("appointment", []):
        start = start_of(e.occurred_at)
        if (
            start is not None
            and e.record.get("status") in ("scheduled", "requested", None)
            and is_upcoming(start, now)
        ):
            upcoming.append(e)
    p.upcoming = upcoming
    p.timeline_total = len(items)
    newest = [e for e in reversed(items) if e.occurred_at] + [e for e in items if not e.occurred_at]
    p.timeline = newest if opts.timeline_limit is None else newest[: opts.timeline_limit]
    return p


def build(family: Family, opts: ExportOptions, progress: Progress | None = None) -> list[MemberPacket]:
    members = chosen_members(family, opts)
    grouped: dict[str, list[Entry]] = {m.id: [] for m in members}
    n = 0
    for e in entries(family, opts):
        bucket = grouped.get(e.member_id)
        if bucket is not None:
            bucket.append(e)
        n += 1
        if progress is not None and n % 5000 == 0:
            progress(n, 0)
    out = [member_packet(m, grouped[m.id], opts) for m in members]
    if progress is not None:
        progress(n, n)
    return out


def render(packets: list[MemberPacket], opts: ExportOptions) -> str:
    filters = [f"{len(packets)} member{'s' if len(packets) != 1 else ''}"]
    if opts.since or opts.until:
        filters.append(f"from {opts.since or 'the beginning'} to {opts.until or 'today'}")
    if opts.kinds is not None:
        filters.append("kinds: " + ", ".join(sorted(opts.kinds)))
    return (
        environment()
        .get_template(TEMPLATE)
        .render(
            packets=packets,
            generated=datetime.now(UTC).astimezone(),
            filters="; ".join(filters),
            timeline_limit=opts.timeline_limit,
        )
    )


def html(family: Family, opts: ExportOptions, progress: Progress | None = None) -> str:
    return render(build(family, opts, progress), opts)


def write(family: Family, opts: ExportOptions, out: IO[bytes], progress: Progress | None = None) -> int:
    """Write the packet; return how many members."""
    packets = build(family, opts, progress)
    out.write(render(packets, opts).encode("utf-8"))
    return len(packets)
