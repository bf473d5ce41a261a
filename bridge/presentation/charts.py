"""Lab trend charts as server-rendered SVG: no script, prints as it shows, and hover works through each
point's <title>. Each point is marked with its source health system; reference bands are shaded."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime

from markupsafe import Markup, escape

from bridge.family import Series, TrendPoint

from .filters import nice_date

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 16, 56
# Colour-blind-safe colours, each with its own marker shape, one per health system.
MARKERS = [("#1f5f8b", "circle"), ("#b35806", "square"), ("#4d7c0f", "diamond"), ("#7b3294", "triangle")]


def _day(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return (
            datetime.fromisoformat(value[:19]).date() if len(value) > 10 else date.fromisoformat(value[:10])
        )
    except ValueError:
        return None


def _marker(shape: str, x: float, y: float, colour: str) -> str:
    if shape == "square":
        return f'<rect x="{x - 4.5:.1f}" y="{y - 4.5:.1f}" width="9" height="9" fill="{colour}"/>'
    if shape == "diamond":
        return f'<path d="M{x:.1f} {y - 6:.1f} L{x + 6:.1f} {y:.1f} L{x:.1f} {y + 6:.1f} L{x - 6:.1f} {y:.1f} Z" fill="{colour}"/>'
    if shape == "triangle":
        return f'<path d="M{x:.1f} {y - 6:.1f} L{x + 6:.1f} {y + 5:.1f} L{x - 6:.1f} {y + 5:.1f} Z" fill="{colour}"/>'
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{colour}"/>'


def _band(points: list[TrendPoint]) -> tuple[float | None, float | None]:
    """The reference range most sources gave (bands differ between labs; the commonest is drawn)."""
    common = Counter(
        (p.ref_low, p.ref_high) for p in points if p.ref_low is not None or p.ref_high is not None
    )
    return common.most_common(1)[0][0] if common else (None, None)


MAX_PLOTTED = 160  # markers per chart; past this the chart shows a sample (and says so)


def _spread(idx: list[int], k: int) -> list[int]:
    """k of the indexes, evenly spread (all when there are no more than k)."""
    if k <= 0:
        return []
    if len(idx) <= k:
        return idx
    step = len(idx) / k
    return [idx[int(j * step)] for j in range(k)]


def _sample(points: list[tuple[date, TrendPoint]], cap: int) -> list[tuple[date, TrendPoint]]:
    """At most `cap` of the date-sorted points: the first and the last, every flagged one while they
    fill no more than half the chart (else an even sample of them), the rest spread evenly."""
    n = len(points)
    if n <= cap:
        return points
    keep = {0, n - 1}
    flagged = [i for i, (_, p) in enumerate(points) if p.flag and 0 < i < n - 1]
    normal = [i for i, (_, p) in enumerate(points) if not p.flag and 0 < i < n - 1]
    room = cap - 2
    take_normal = min(len(normal), max(room - len(flagged), room // 2))
    keep.update(_spread(flagged, room - take_normal))
    keep.update(_spread(normal, take_normal))
    return [points[i] for i in sorted(keep)]


# The family model hands out the same (immutable) Series object until its index changes, so the
# drawing is kept per object: held here, an object's id cannot be reused while its entry lives.
_DRAWN: dict[tuple[int, str], tuple[Series, Markup]] = {}
_DRAWN_MAX = 256


def trend_svg(series: Series, link_prefix: str = "/entries/") -> Markup:
    key = (id(series), link_prefix)
    hit = _DRAWN.get(key)
    if hit is not None and hit[0] is series:
        return hit[1]
    svg = _trend_svg(series, link_prefix)
    if len(_DRAWN) >= _DRAWN_MAX:
        _DRAWN.clear()
    _DRAWN[key] = (series, svg)
    return svg


def _trend_svg(series: Series, link_prefix: str) -> Markup:
    points = [
        (d, p) for p in series.points if (d := _day(p.occurred_at)) is not None and p.series_value is not None
    ]
    unit = series.unit or ""
    if not points:
        return Markup('<p class="empty">No numeric values to chart yet.</p>')
    points.sort(key=lambda dp: dp[0])
    all_points, shown_all = points, len(points)
    points = _sample(points, MAX_PLOTTED)
    low, high = _band([p for _, p in points])
    values = [p.series_value for _, p in points if p.series_value is not None]
    lo_v = min([*values, *(v for v in (low, high) if v is not None)])
    hi_v = max([*values, *(v for v in (low, high) if v is not None)])
    if hi_v == lo_v:
        hi_v, lo_v = hi_v + 1, lo_v - 1
    pad = (hi_v - lo_v) * 0.08
    lo_v, hi_v = lo_v - pad, hi_v + pad
    d0, d1 = points[0][0], points[-1][0]
    span = max((d1 - d0).days, 1)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(d: date) -> float:
        return LEFT + plot_w * ((d - d0).days / span if len(points) > 1 else 0.5)

    def y(v: float) -> float:
        return TOP + plot_h * (1 - (v - lo_v) / (hi_v - lo_v))

    orgs = list(dict.fromkeys(p.organization or "Unknown source" for _, p in points))
    style = {org: MARKERS[i % len(MARKERS)] for i, org in enumerate(orgs)}
    title = f"{series.name} over time" + (f", in {unit}" if unit else "")
    parts = [
        f'<svg class="trend" viewBox="0 0 {WIDTH} {HEIGHT + 18 * ((len(orgs) + 1) // 2)}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    if low is not None or high is not None:
        band_top = y(high) if high is not None else TOP
        band_bottom = y(low) if low is not None else TOP + plot_h
        label = f"Reference range {low if low is not None else ''}–{high if high is not None else ''} {unit}".strip()
        parts.append(
            f'<rect class="band" x="{LEFT}" y="{band_top:.1f}" width="{plot_w}" '
            f'height="{max(band_bottom - band_top, 1):.1f}" fill="#dfeee0"><title>{escape(label)}</title></rect>'
        )
    parts.append(
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{LEFT + plot_w}" y2="{TOP + plot_h}" stroke="#8b95a1"/>'
    )
    parts.append(f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}" stroke="#8b95a1"/>')
    for v in (lo_v + pad, hi_v - pad):
        parts.append(
            f'<text x="{LEFT - 6}" y="{y(v) + 4:.1f}" text-anchor="end" font-size="11">{escape(f"{v:g}")}</text>'
        )
    parts.append(
        f'<text x="{LEFT}" y="{TOP + plot_h + 16}" font-size="11">{escape(nice_date(d0.isoformat()))}</text>'
    )
    if d1 != d0:
        parts.append(
            f'<text x="{LEFT + plot_w}" y="{TOP + plot_h + 16}" text-anchor="end" font-size="11">'
            f"{escape(nice_date(d1.isoformat()))}</text>"
        )
    path = " ".join(
        f"{'M' if i == 0 else 'L'}{x(d):.1f} {y(p.series_value or 0):.1f}" for i, (d, p) in enumerate(points)
    )
    parts.append(f'<path d="{path}" fill="none" stroke="#8b95a1" stroke-width="1.2"/>')
    for d, p in points:
        colour, shape = style[p.organization or "Unknown source"]
        shown = f"{p.value} {p.unit or ''}".strip()
        flag = f" ({p.flag})" if p.flag else ""
        tip = f"{shown}{flag} on {nice_date(d.isoformat())}, {p.organization or 'unknown source'}"
        parts.append(
            f'<a href="{escape(link_prefix + p.entry_id)}"><g class="point">'
            f"{_marker(shape, x(d), y(p.series_value or 0), colour)}<title>{escape(tip)}</title></g></a>"
        )
    for i, org in enumerate(orgs):
        colour, shape = style[org]
        lx, ly = LEFT + (i % 2) * 300, HEIGHT - 18 + 18 * (i // 2)
        parts.append(_marker(shape, lx, ly, colour))
        parts.append(f'<text x="{lx + 10}" y="{ly + 4}" font-size="12">{escape(org)}</text>')
    parts.append("</svg>")
    if len(points) < shown_all:
        flagged = sum(1 for _, p in points if p.flag)
        all_flagged = sum(1 for _, p in all_points if p.flag)
        which = (
            "every flagged value"
            if flagged == all_flagged
            else f"{flagged} of the {all_flagged} flagged values"
        )
        parts.append(
            f'<p class="muted chart-note">For legibility the chart plots {len(points)} of {shown_all} '
            f"values: the first, the latest, {which} and an even sample of the others. The table "
            "below and the timeline list the values themselves.</p>"
        )
    return Markup("".join(parts))  # noqa: S704 - every text above went through escape(); the rest are numbers
