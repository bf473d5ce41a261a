"""The in-memory index: every filed record decrypted once per unlock, grouped by natural key, the
merged entries kept sorted by time with a folded search text. Nothing of it touches the disk.

Updates are incremental: filing, moving or removing a capture recomputes only the natural-key groups
its records belong to (dedupe.py) and moves only those entries in the sorted order.
"""

from __future__ import annotations

import bisect
import itertools
import operator
from collections.abc import Iterable, Iterator
from typing import Protocol

from .dedupe import RecordItem, build_group, group_key, single_entry
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

# A handful of distinct organization sets serve every entry: one shared frozenset each.
_ORG_SETS: dict[tuple[str, ...], frozenset[str]] = {}


def _org_set(orgs: tuple[str, ...]) -> frozenset[str]:
    s = _ORG_SETS.get(orgs)
    if s is None:
        if len(_ORG_SETS) > 4096:
            _ORG_SETS.clear()
        s = _ORG_SETS[orgs] = frozenset(norm_org(o) for o in orgs)
    return s


class Lazy(Protocol):
    """Where an entry loaded from the index cache is materialized from (index_cache.py)."""

    def fill(self, position: int) -> None: ...

    def release(self) -> None: ...


class Indexed:
    """An entry with what the query filters on. The folded search text is built on the first text
    query that reaches the entry (most entries are never searched), then kept.

    An Indexed loaded from the index cache knows only its key, member and kind until its entry is
    first read: then its whole chunk of the cache is decoded (`Lazy.fill` sets `_entry`)."""

    __slots__ = ("_blob", "_entry", "_pos", "_src", "key", "kind", "member_id")

    def __init__(self, entry: Entry, key: tuple[int, str, str]) -> None:
        self._entry: Entry | None = entry
        self._src: Lazy | None = None
        self._pos = 0
        self.key = key
        self.member_id = entry.member_id
        self.kind = entry.kind
        self._blob: str | None = None

    @classmethod
    def lazy(cls, src: Lazy, pos: int, key: tuple[int, str, str], member_id: str, kind: str) -> Indexed:
        ix = cls.__new__(cls)
        ix._entry = None
        ix._src = src
        ix._pos = pos
        ix.key = key
        ix.member_id = member_id
        ix.kind = kind
        ix._blob = None
        return ix

    @property
    def entry(self) -> Entry:
        e = self._entry
        if e is None:
            assert self._src is not None
            self._src.fill(self._pos)
            e = self._entry
            assert e is not None
        return e

    def materialize(self, entry: Entry) -> None:
        self._entry = entry
        self._src = None

    @property
    def orgs(self) -> frozenset[str]:
        return _org_set(self.entry.organizations)

    @property
    def blob(self) -> str:
        b = self._blob
        if b is None:
            b = self._blob = _blob(self.entry)
        return b


def indexed(e: Entry) -> Indexed:
    return Indexed(e, sort_key(e))


Subset = tuple[list[Indexed], list[tuple[int, str, str]]]
_SUBSETS = 64  # cached (members, kinds) subsets per index version
_KEY = operator.attrgetter("key")
_GENERATIONS = itertools.count(1)


def span(keys: list[tuple[int, str, str]], since: str, until: str) -> tuple[int, int]:
    """[lo, hi) of the dated entries (in sorted `keys`) whose wall time w has since <= w <= until."""
    lo = bisect.bisect_left(keys, (1, since, "")) if since else bisect.bisect_left(keys, (1, "", ""))
    hi = bisect.bisect_right(keys, (1, until, "\uffff")) if until else len(keys)
    return lo, max(lo, hi)


def undated(keys: list[tuple[int, str, str]]) -> int:
    return bisect.bisect_left(keys, (1, "", ""))


class TimelineIndex:
    def __init__(self) -> None:
        self._by_capture: dict[str, list[RecordItem]] = {}
        self._groups: dict[tuple[str, ...], list[RecordItem]] = {}
        self._group_entries: dict[tuple[str, ...], tuple[str, ...]] = {}
        self._entries: dict[str, Indexed] = {}
        self._keys: list[tuple[int, str, str]] = []
        self._sorted: list[Indexed] = []
        self._subsets: dict[tuple[frozenset[str] | None, frozenset[str] | None], Subset] = {}
        self._texts: dict[tuple[frozenset[str] | None, frozenset[str] | None, tuple[str, ...]], Subset] = {}
        self._subsets_version = -1
        self.version = 0  # bumped on every change: views over the index are cached per version
        self.generation = 0  # unique per load() in this process: a rebuilt index never matches old stamps
        self._member_stamp: dict[str, int] = {}  # member id -> version that last changed their entries
        # Loaded from the index cache: the entries are all here, but not the records behind them
        # (_by_capture, _groups), so the index can be read but not updated (Family swaps in a full
        # build, made in the background, before any change).
        self.partial = False
        self._source: Lazy | None = None

    def release(self) -> None:
        """Done with a partial index: its source and its rows refer to each other, a cycle the
        collector never sees (the index is frozen out of its generations), so it is broken here."""
        if self._source is not None:
            self._source.release()
            self._source = None

    @classmethod
    def from_sorted(cls, rows: list[Indexed], source: Lazy) -> TimelineIndex:
        """A read-only (partial) index of already merged, sorted entries (the index cache)."""
        index = cls()
        index._source = source
        index.version = 1
        index.generation = next(_GENERATIONS)
        index.partial = True
        index._sorted = rows
        index._keys = [ix.key for ix in rows]
        index._entries = {ix.key[2]: ix for ix in rows}
        return index

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
        return undated(self._keys)

    def span(self, since: str, until: str) -> tuple[int, int]:
        """[lo, hi) of the dated entries whose wall time w has since <= w <= until ('' = open)."""
        return span(self._keys, since, until)

    def _fresh(self) -> None:
        """Drop the cached subsets of an older index version."""
        if self._subsets_version != self.version:
            self._subsets.clear()
            self._texts.clear()
            self._subsets_version = self.version

    def subset(self, members: frozenset[str] | None, kinds: frozenset[str] | None) -> Subset:
        """The sorted entries (and their sort keys) of these members and kinds (None: any), computed
        once per index version: a member's page or a view does not scan the whole family each time."""
        if members is None and kinds is None:
            return self._sorted, self._keys
        self._fresh()
        key = (members, kinds)
        hit = self._subsets.get(key)
        if hit is None:
            base: list[Indexed] = self._sorted
            if members is not None and kinds is not None and (members, None) in self._subsets:
                base = self._subsets[(members, None)][0]
            rows = [
                ix
                for ix in base
                if (members is None or ix.member_id in members) and (kinds is None or ix.kind in kinds)
            ]
            if len(self._subsets) >= _SUBSETS:
                self._subsets.clear()
            hit = self._subsets[key] = (rows, [ix.key for ix in rows])
        return hit

    def matching(
        self, members: frozenset[str] | None, kinds: frozenset[str] | None, words: tuple[str, ...]
    ) -> Subset:
        """`subset` narrowed to the entries whose search text holds every folded word, cached per
        index version like the subsets (paging through a search does not search again)."""
        rows, keys = self.subset(members, kinds)
        if not words:
            return rows, keys
        self._fresh()
        key = (members, kinds, words)
        hit = self._texts.get(key)
        if hit is None:
            for word in words:
                rows = [ix for ix in rows if word in ix.blob]
            if len(self._texts) >= _SUBSETS:
                self._texts.clear()
            hit = self._texts[key] = (rows, [ix.key for ix in rows])
        return hit

    def member_entries(self, member_id: str | None, kinds: Iterable[str] | None = None) -> list[Entry]:
        rows, _ = self.subset(
            frozenset((member_id,)) if member_id is not None else None,
            frozenset(kinds) if kinds is not None else None,
        )
        return [ix.entry for ix in rows]

    def captures(self) -> set[str]:
        return set(self._by_capture)

    def items_of(self, capture_id: str) -> list[RecordItem]:
        return list(self._by_capture.get(capture_id, ()))

    def groups(self) -> Iterator[tuple[tuple[str, ...], list[RecordItem], tuple[str, ...]]]:
        """Each natural-key group: its key, its records and the ids of the entries made of them (what
        the index cache keeps so that a later change can be applied to it without a full build)."""
        for key, items in self._groups.items():
            yield key, items, self._group_entries.get(key, ())

    # ------------------------------------------------------------------ writing

    def load(self, items: Iterable[RecordItem]) -> None:
        """Replace everything (an unlock or a reparse)."""
        version = self.version
        self.__init__()  # type: ignore[misc]
        self.version = version + 1
        self.generation = next(_GENERATIONS)
        by_capture, groups = self._by_capture, self._groups
        for it in items:
            cap = by_capture.get(it.capture_id)
            if cap is None:
                by_capture[it.capture_id] = [it]
            else:
                cap.append(it)
            key = group_key(it)
            group = groups.get(key)
            if group is None:
                groups[key] = [it]
            else:
                group.append(it)
        entries, group_entries = self._entries, self._group_entries
        for key, group in groups.items():
            if len(group) == 1:  # most facts are seen once: no clustering, no versions
                e = single_entry(key, group[0])
                entries[e.id] = Indexed(e, sort_key(e))
                group_entries[key] = (e.id,)
            else:
                self._rebuild_group(key, sort=False)
        self._resort()

    def set_capture(self, capture_id: str, items: list[RecordItem]) -> None:
        """File (or re-file) one capture's records; an empty list removes the capture."""
        if self.partial:
            raise RuntimeError("a partial (cached) index cannot be updated")
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
        for key in touched:
            self._member_stamp[key[0]] = self.version
        self._update(touched)

    def stamp(self, member_id: str | None = None) -> tuple[int, int]:
        """What a view over the index is valid for: the whole index's version, or with `member_id`
        the version that last changed that member's entries (filing a capture for one member leaves
        the others' cached trends and medicines valid)."""
        if member_id is None:
            return self.generation, self.version
        return self.generation, self._member_stamp.get(member_id, 0)

    def set_captures(self, changes: dict[str, list[RecordItem]]) -> None:
        for cid, items in changes.items():
            self.set_capture(cid, items)

    def _update(self, touched: set[tuple[str, ...]]) -> None:
        removed: list[Indexed] = []
        added: list[Indexed] = []
        for key in touched:
            for eid in self._group_entries.pop(key, ()):
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
        self._group_entries[key] = tuple(ids)
        return out

    def _resort(self) -> None:
        self._sorted = sorted(self._entries.values(), key=_KEY)
        self._keys = [ix.key for ix in self._sorted]
