"""The one merged-timeline query behind the dashboard and every export.

Filters: members, kinds, organizations (any source's, compared normalized), a date range on
`occurred_at` (local wall time; inclusive; an `until` date covers the whole day), free text (every
word must occur in the entry's folded text: title, organizations, every string field of the merged
record; case and accent-insensitive). Sorted by `occurred_at`, newest first by default; entries
without a date come last. Paged by offset/limit with the total count of matches.
"""

from __future__ import annotations

from .index import Indexed, TimelineIndex
from .models import Entry, TimelinePage, TimelineQuery
from .normalize import fold, norm_org, wall


def query(index: TimelineIndex, q: TimelineQuery) -> TimelinePage:
    rows = index.indexed()
    members = set(q.member_ids) if q.member_ids is not None else None
    kinds = set(q.kinds) if q.kinds is not None else None
    orgs = {norm_org(o) for o in q.organizations} if q.organizations is not None else None
    since = wall(q.since) if q.since else ""
    until = wall(q.until) if q.until else ""
    if until and len(until) == 10:
        until += "T99"  # the whole day: every 'YYYY-MM-DDTHH:MM:SS' of it sorts below
    words = fold(q.text).split() if q.text else []
    offset = max(0, q.offset)
    limit = q.limit if q.limit is None else max(0, q.limit)

    def keep(ix: Indexed) -> bool:
        e = ix.entry
        if members is not None and e.member_id not in members:
            return False
        if kinds is not None and e.kind not in kinds:
            return False
        if orgs is not None and not (ix.orgs & orgs):
            return False
        if since or until:
            w = ix.key[1]
            if not w or (since and w < since) or (until and w > until):
                return False
        if words:
            blob = ix.blob
            return all(word in blob for word in words)
        return True

    # undated entries (key[0] == 0) sit at the start of the sorted list: newest first, they come last
    ordered = reversed(rows) if q.newest_first else iter(rows)
    unfiltered = members is None and kinds is None and orgs is None and not since and not until and not words
    if unfiltered:
        total = len(rows)
        end = total if limit is None else min(total, offset + limit)
        if q.newest_first:
            chosen = rows[max(0, total - end):max(0, total - offset)][::-1]
        else:
            chosen = rows[offset:end]
        return TimelinePage(entries=[ix.entry for ix in chosen], total=total, offset=offset, limit=limit)
    total = 0
    page: list[Entry] = []
    end_at = None if limit is None else offset + limit
    for ix in ordered:
        if keep(ix):
            if total >= offset and (end_at is None or total < end_at):
                page.append(ix.entry)
            total += 1
    return TimelinePage(entries=page, total=total, offset=offset, limit=limit)
