"""The one merged-timeline query behind the dashboard and every export.

Filters: members, kinds, organizations (any source's, compared normalized), a date range on
`occurred_at` (local wall time; inclusive; an `until` date covers the whole day; undated entries are
left out by a date range), free text (every word must occur in the entry's folded text: kind, title,
organizations, every string field of the merged record; case and accent-insensitive). Sorted by
`occurred_at`, newest first by default; entries without a date come last. Paged by offset/limit
with the total count of matches.

Cost: the member and kind filters pick a sorted subset, and the text words narrow it (an entry's
search text is folded on the first text query that reaches it); both are cached per index version,
so paging does not filter again. The date range is two bisections of that; organizations are one
pass over what is left. A new query stays linear in the entries it has to look at, with no
decryption.
"""

from __future__ import annotations

from .index import Indexed, TimelineIndex, span, undated
from .models import TimelinePage, TimelineQuery
from .normalize import fold, norm_org, wall


def query(index: TimelineIndex, q: TimelineQuery) -> TimelinePage:
    members = frozenset(q.member_ids) if q.member_ids is not None else None
    kinds = frozenset(q.kinds) if q.kinds is not None else None
    rows: list[Indexed]
    words = tuple(dict.fromkeys(fold(q.text).split())) if q.text else ()
    rows, keys = index.matching(members, kinds, words)
    since = wall(q.since) if q.since else ""
    until = wall(q.until) if q.until else ""
    if until and len(until) == 10:
        until += "T99"  # the whole day: every 'YYYY-MM-DDTHH:MM:SS' of it sorts below
    if since or until:
        lo, hi = span(keys, since, until)
        rows = rows[lo:hi]
    elif not q.newest_first and (n := undated(keys)):
        rows = rows[n:] + rows[:n]  # undated last in this order too
    if q.organizations is not None:
        orgs = {norm_org(o) for o in q.organizations}
        rows = [ix for ix in rows if not ix.orgs.isdisjoint(orgs)]
    total = len(rows)
    offset = max(0, q.offset)
    limit = q.limit if q.limit is None else max(0, q.limit)
    end = total if limit is None else min(total, offset + limit)
    chosen = rows[max(0, total - end) : max(0, total - offset)][::-1] if q.newest_first else rows[offset:end]
    return TimelinePage(entries=[ix.entry for ix in chosen], total=total, offset=offset, limit=limit)
