"""The in-memory index: every filed record decrypted once per unlock, grouped by natural key, the
merged entries kept sorted by time with a folded search text. Nothing of it touches the disk.

Updates are incremental: filing, moving or removing a capture recomputes only the natural-key groups
its records belong to (dedupe.py) and moves only those entries in the sorted order.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from .dedupe import RecordItem, build_group, group_key
from .models import Entry
from .normalize import norm_org, search_fold, wall

# past this many changed entries a full re-sort beats one bisect per entry
_RESORT = 2000


def sort_key(entry: Entry) -> tuple[int, str, str]:
    """Undated entries sort before every dated one (so they come last, newest first)."""
    w = wall(entry.occurred_at)
    return (1 if w else 0, w, entry.id)


def _blob(entry: Entry) -> str:
    """The entry's search text: kind, title, organizations and the merged record's strings, folded
    like a query (case, accents, apostrophes); punctuation is kept, query words have none."""
    parts: list[str] = [entry.kind, entry.title or "", *entry.organizations]
    for k, v in entry.record.items():
        if isinstance(v, str):
            if k not in _NOT_SEARCHED:
                parts.append(v)
        elif isinstance(v, list):
            for x in v:
                if isinstance(x, str):
                    parts.append(x)
                elif isinstance(x, dict):
                    parts.extend(y for y in x.values() if isinstance(y, str))
    return search_fold(" ".join(parts))


_NOT_SEARCHED = frozenset({"kind", "occurred_at", "resulted_at"})


@dataclass(slots=True)
class Indexed:
    """An entry with what the query filters on, precomputed (the folded search text included)."""

    entry: Entry
    key: tuple[int, str, str]
    member_id: str
    kind: str
    orgs: frozenset[str]
    blob: str


def indexed(e: Entry) -> Indexed:
    return Indexed(entry=e, key=sort_key(e), member_id=e.member_id, kind=e.kind,
                   orgs=frozenset(norm_org(o) for o in e.organizations), blob=_blob(e))


class TimelineIndex:
    def __init__(self) -> None:
        self._by_capture: dict[str, list[RecordItem]] = {}
        self._groups: dict[tuple[str, ...], list[RecordItem]] = {}
        self._group_entries: dict[tuple[str, ...], list[str]] = {}
        self._entries: dict[str, Indexed] = {}
        self._keys: list[tuple[int, str, str]] = []
        self._sorted: list[Indexed] = []
        self.version = 0  # bumped on every change: views over the index are cached per version

    # ------------------------------------------------------------------ reading

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, entry_id: str) -> Entry | None:
        ix = self._entries.get(entry_id)
        return ix.entry if ix else None

    def entries(self) -> Iterator[Entry]:
        """All entries, oldest first."""
        return (ix.entry for ix in self._sorted)

    def indexed(self) -> list[Indexed]:
        """The sorted internal list (oldest first); read-only for the query."""
        return self._sorted

    def undated(self) -> int:
        """How many entries have no date (they sit at the start of the sorted list)."""
        return bisect.bisect_left(self._keys, (1, "", ""))

    def span(self, since: str, until: str) -> tuple[int, int]:
        """[lo, hi) of the dated entries whose wall time w has since <= w <= until ('' = open)."""
        lo = bisect.bisect_left(self._keys, (1, since, "")) if since else bisect.bisect_left(self._keys, (1, "", ""))
        hi = bisect.bisect_right(self._keys, (1, until, "\uffff")) if until else len(self._keys)
        return lo, max(lo, hi)

    def member_entries(self, member_id: str | None, kinds: Iterable[str] | None = None) -> list[Entry]:
        ks = set(kinds) if kinds is not None else None
        return [ix.entry for ix in self._sorted
                if (member_id is None or ix.entry.member_id == member_id)
                and (ks is None or ix.entry.kind in ks)]

    def captures(self) -> set[str]:
        return set(self._by_capture)

    def items_of(self, capture_id: str) -> list[RecordItem]:
        return list(self._by_capture.get(capture_id, ()))

    # ------------------------------------------------------------------ writing

    def load(self, items: Iterable[RecordItem]) -> None:
        """Replace everything (an unlock or a reparse)."""
        version = self.version
        self.__init__()  # type: ignore[misc]
        self.version = version + 1
        for it in items:
            self._by_capture.setdefault(it.capture_id, []).append(it)
            self._groups.setdefault(group_key(it), []).append(it)
        for key in self._groups:
            self._rebuild_group(key, sort=False)
        self._resort()

    def set_capture(self, capture_id: str, items: list[RecordItem]) -> None:
        """File (or re-file) one capture's records; an empty list removes the capture."""
        self.version += 1
        touched: set[tuple[str, ...]] = set()
        for old in self._by_capture.pop(capture_id, []):
            key = group_key(old)
            group = self._groups.get(key)
            if group is not None:
                group[:] = [i for i in group if i.capture_id != capture_id]
                touched.add(key)
        if items:
            self._by_capture[capture_id] = list(items)
            for it in items:
                key = group_key(it)
                self._groups.setdefault(key, []).append(it)
                touched.add(key)
        self._update(touched)

    def set_captures(self, changes: dict[str, list[RecordItem]]) -> None:
        for cid, items in changes.items():
            self.set_capture(cid, items)

    def _update(self, touched: set[tuple[str, ...]]) -> None:
        removed: list[Indexed] = []
        added: list[Indexed] = []
        for key in touched:
            for eid in self._group_entries.pop(key, []):
                ix = self._entries.pop(eid, None)
                if ix is not None:
                    removed.append(ix)
            if not self._groups.get(key):
                self._groups.pop(key, None)
                continue
            added.extend(self._rebuild_group(key, sort=False))
        if len(removed) + len(added) > _RESORT:
            self._resort()
            return
        for ix in removed:
            i = bisect.bisect_left(self._keys, ix.key)
            if i < len(self._keys) and self._keys[i] == ix.key and self._sorted[i] is ix:
                del self._keys[i]
                del self._sorted[i]
            else:  # an entry whose id was re-created within the same update: fall back
                self._resort()
                return
        for ix in added:
            i = bisect.bisect_right(self._keys, ix.key)
            self._keys.insert(i, ix.key)
            self._sorted.insert(i, ix)

    def _rebuild_group(self, key: tuple[str, ...], sort: bool) -> list[Indexed]:
        out: list[Indexed] = []
        ids: list[str] = []
        for e in build_group(key, self._groups[key]):
            ix = indexed(e)
            self._entries[e.id] = ix
            ids.append(e.id)
            out.append(ix)
        self._group_entries[key] = ids
        return out

    def _resort(self) -> None:
        self._sorted = sorted(self._entries.values(), key=lambda ix: ix.key)
        self._keys = [ix.key for ix in self._sorted]
