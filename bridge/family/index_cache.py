"""The timeline index kept between unlocks, so that opening a vault of decades of records does not
mean decrypting and merging every record again before the first page.

Building the index decodes every record and merges them (dedupe.py): about 3 s at 100,000 records,
most of it creating a million Python objects. The cache holds the result, the merged entries in
their sorted order, and is read in two steps:

- at unlock, only what the timeline query filters on (entry id, sort key, member, kind) and the
  capture metas: a few hundred milliseconds;
- an entry's content (record, sources, history) when it is first read, a chunk of `CHUNK` entries
  at a time (neighbours on the timeline are read together).

It also keeps which records make each natural-key group (dedupe.py) and which entries they made, so
that a few changed captures (`kinchart import` of a page) are applied to the cache (`update`) by
rebuilding only their groups, from their records and those of the captures sharing a group with
them: the same entries a full build would make, without building the whole index.

The cache is sealed by the vault (`Vault.write_cache`: AES-GCM under the data key, bound to the
vault) and is used only while it is current: made from the vault content it was made from
(`Vault.content_stamp`) by this very family code (`code_stamp`). Anything else is ignored and the
index is built from the records as before; losing the cache costs time, never data.
"""

from __future__ import annotations

import functools
import hashlib
import operator
import struct
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import orjson

from .dedupe import RecordItem, build_group, group_key
from .index import Indexed, TimelineIndex, sort_key
from .models import Entry, Provenance, Version

NAME = "timeline"
FORMAT = 2
CHUNK = 64  # entries (of one member and kind) decoded together when one of them is first read
_MAGIC = b"KCIX"
_LEVEL = 1  # the cache is written at lock time: fast compression, it is rewritten often

Metas = dict[str, dict[str, Any]]
Group = list[Any]  # [natural key, [[capture id, ordinal], ...] of its records, [entry id, ...]]
# Light rows, metas, groups and the groups of each capture are each kept in BUCKETS sections by a
# hash of their id, so that `update` decodes and re-encodes only the few a page touches.
BUCKETS = 32
_KINDS = 4  # light rows (by entry id), metas (by capture id), groups (by key), capture groups
_FIXED = _KINDS * BUCKETS  # sections before the entry chunks
_LIGHT, _METAS, _GROUPS, _CAPS = (k * BUCKETS for k in range(_KINDS))


def _bucket(text: str) -> int:
    return zlib.crc32(text.encode()) % BUCKETS


def _key_bucket(key: tuple[str, ...] | list[str]) -> int:
    return _bucket("\0".join(key))


def _pack(value: Any) -> bytes:
    return zlib.compress(orjson.dumps(value), _LEVEL)


def _unpack(section: bytes) -> Any:
    return orjson.loads(zlib.decompress(section))


@functools.cache
def code_stamp() -> str:
    """A hash of the family code that builds entries: a cache written by other code is not used."""
    h = hashlib.sha256(f"kinchart index cache {FORMAT}".encode())
    for path in sorted(Path(__file__).parent.glob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:32]


def _prov(p: Provenance) -> list[Any]:
    return [
        p.capture_id,
        p.record_id,
        p.url,
        p.vendor,
        p.organization,
        p.parser,
        p.parser_version,
        p.page_kind,
        p.captured_at,
    ]


def _payload(e: Entry) -> list[Any]:
    return [
        e.occurred_at,
        e.title,
        e.organization,
        list(e.organizations),
        e.record,
        [_prov(p) for p in e.sources],
        [[h.record, [_prov(p) for p in h.sources]] for h in e.history],
    ]


def dump(index: TimelineIndex, metas: Metas, stamp: str) -> bytes:
    """The cache of a full index and the capture metas it was built with, for vault content `stamp`.

    Entries are chunked by member and kind (in timeline order within each), so that a member's
    trends decode only that member's results, and a timeline page the few chunks it shows."""
    light: list[list[Any]] = []
    chunks: list[bytes] = []
    _add_chunks(((ix.key, ix.entry) for ix in index.indexed()), light, chunks, 0)
    sections: list[Any] = [[] for _ in range(BUCKETS)] + [{} for _ in range(3 * BUCKETS)]
    for row in light:
        sections[_LIGHT + _bucket(row[0])].append(row)
    for cid, meta in metas.items():
        sections[_METAS + _bucket(cid)][cid] = meta
    caps: dict[str, set[int]] = {}
    for key, items, eids in index.groups():
        b = _key_bucket(key)
        sections[_GROUPS + b]["\0".join(key)] = [[it.capture_id, it.ordinal] for it in items], list(eids)
        for it in items:
            caps.setdefault(it.capture_id, set()).add(b)
    for cid, buckets in caps.items():
        sections[_CAPS + _bucket(cid)][cid] = sorted(buckets)
    return _assemble([_pack(x) for x in sections], chunks, len(light), stamp)


def _add_chunks(
    entries: Iterable[tuple[tuple[int, str, str], Entry]],
    light: list[list[Any]],
    chunks: list[bytes],
    base: int,
) -> None:
    """Append the light rows and the chunks of `entries` (in timeline order); chunk numbers from `base`."""
    by_group: dict[tuple[str, str], list[tuple[tuple[int, str, str], Entry]]] = {}
    for key, e in entries:
        by_group.setdefault((e.member_id, e.kind), []).append((key, e))
    for _, rows in sorted(by_group.items()):
        for start in range(0, len(rows), CHUNK):
            payloads = []
            for slot, (key, e) in enumerate(rows[start : start + CHUNK]):
                light.append([e.id, key[0], key[1], e.member_id, e.kind, base + len(chunks), slot])
                payloads.append(_payload(e))
            chunks.append(_pack(payloads))


def _assemble(fixed: list[bytes], chunks: list[bytes], count: int, stamp: str) -> bytes:
    sections = [*fixed, *chunks]
    header = orjson.dumps(
        {
            "format": FORMAT,
            "code": code_stamp(),
            "stamp": stamp,
            "count": count,
            "sizes": [len(s) for s in sections],
        }
    )
    return b"".join([_MAGIC, struct.pack(">I", len(header)), header, *sections])


class _Chunks:
    """The undecoded entry chunks of a loaded cache, and the rows of each (index.Lazy)."""

    def __init__(self, chunks: list[bytes | None]) -> None:
        self.chunks = chunks
        # (slot in the chunk, row): a chunk updated in place keeps entries no row refers to any more
        self.rows: list[list[tuple[int, Indexed]]] = [[] for _ in chunks]

    def fill(self, position: int) -> None:
        if position >= len(self.chunks):
            raise RuntimeError("this index was released: the vault was locked meanwhile")
        blob = self.chunks[position]
        if blob is None:  # already decoded
            return
        payloads = orjson.loads(zlib.decompress(blob))
        self.chunks[position] = None
        provs: dict[tuple[str, int], Provenance] = {}

        def prov(p: list[Any]) -> Provenance:
            key = (p[0], p[1])
            hit = provs.get(key)
            if hit is None:
                hit = provs[key] = Provenance(*p)
            return hit

        for slot, ix in self.rows[position]:
            at, title, org, orgs, record, sources, history = payloads[slot]
            ix.materialize(
                Entry(
                    ix.key[2],
                    ix.kind,
                    ix.member_id,
                    at,
                    title,
                    org,
                    tuple(orgs),
                    record,
                    tuple(prov(p) for p in sources),
                    tuple(Version(r, tuple(prov(p) for p in s)) for r, s in history) if history else (),
                )
            )
        self.rows[position] = []

    def release(self) -> None:
        self.chunks = []
        self.rows = []


def stamp_of(blob: bytes) -> str | None:
    """The vault content stamp a cache was made for (None: not a cache of this format and code)."""
    header = _header(blob)
    return header["stamp"] if header else None


def _header(blob: bytes) -> dict[str, Any] | None:
    if blob[:4] != _MAGIC or len(blob) < 8:
        return None
    (size,) = struct.unpack(">I", blob[4:8])
    try:
        header = orjson.loads(blob[8 : 8 + size])
    except orjson.JSONDecodeError:
        return None
    if not isinstance(header, dict) or header.get("format") != FORMAT or header.get("code") != code_stamp():
        return None
    header["_start"] = 8 + size
    return header


def _sections(blob: bytes, stamp: str) -> tuple[dict[str, Any], list[bytes]] | None:
    header = _header(blob)
    if header is None or header.get("stamp") != stamp:
        return None
    pos = header["_start"]
    sections: list[bytes] = []
    for size in header["sizes"]:
        sections.append(blob[pos : pos + size])
        pos += size
    return header, sections


def load(blob: bytes, stamp: str) -> tuple[TimelineIndex, Metas] | None:
    """The partial index and the capture metas of a cache made for vault content `stamp` by this
    code; None for any other cache."""
    found = _sections(blob, stamp)
    if found is None:
        return None
    header, sections = found
    light = [row for b in range(BUCKETS) for row in _unpack(sections[_LIGHT + b])]
    metas: Metas = {}
    for b in range(BUCKETS):
        metas.update(_unpack(sections[_METAS + b]))
    src = _Chunks(list(sections[_FIXED:]))
    if len(light) != header["count"]:
        return None
    lazy, of_chunk = Indexed.lazy, src.rows
    rows: list[Indexed] = []
    for eid, flag, wall, member_id, kind, chunk, slot in light:
        ix = lazy(src, chunk, (flag, wall, eid), member_id, kind)
        of_chunk[chunk].append((slot, ix))
        rows.append(ix)
    rows.sort(key=_KEY)  # runs of timeline order, one per member and kind: a merge
    return TimelineIndex.from_sorted(rows, src), metas


_KEY = operator.attrgetter("key")


def update(
    blob: bytes,
    stamp: str,
    new_stamp: str,
    metas: Metas,
    items_of: Callable[[str], list[RecordItem]],
) -> bytes | None:
    """The cache `blob` (made for vault content `stamp`) brought to vault content `new_stamp`, where
    only the captures of `metas` (their metas now) differ: their records, their meta or their filing.
    `items_of(capture)` gives a capture's filed records as the index would ([] when it is not filed).
    Only the natural-key groups those captures had or now have records in are rebuilt, from all their
    records: a group's entries depend on its records alone (dedupe.py), so the result answers as the
    cache of a full build (only where entries sit in the chunks differs). Entries replaced stay,
    unreferenced, in their old chunks until the next full write. None when `blob` is not a current
    cache of `stamp`."""
    found = _sections(blob, stamp)
    if found is None:
        return None
    header, sections = found
    fixed = sections[:_FIXED]
    decoded: dict[int, Any] = {}

    def section(n: int) -> Any:
        if n not in decoded:
            decoded[n] = _unpack(fixed[n])
        return decoded[n]

    changes = {cid: items_of(cid) for cid in metas}
    fresh: dict[tuple[str, ...], list[RecordItem]] = {}
    for items in changes.values():
        for it in items:
            fresh.setdefault(group_key(it), []).append(it)
    touched: set[tuple[str, ...]] = set(fresh)
    for cid in changes:
        for b in section(_CAPS + _bucket(cid)).get(cid, ()):
            for name, (refs, _) in section(_GROUPS + b).items():
                if any(ref[0] == cid for ref in refs):
                    touched.add(tuple(name.split("\0")))
    records: dict[str, list[RecordItem]] = {}  # the unchanged captures sharing a touched group

    def item(capture_id: str, ordinal: int) -> RecordItem:
        got = records.get(capture_id)
        if got is None:
            got = records[capture_id] = items_of(capture_id)
        return got[ordinal]

    removed: set[str] = set()
    added: list[Entry] = []
    caps: dict[str, set[int]] = {cid: set() for cid in changes}
    for key in touched:
        b = _key_bucket(key)
        groups = section(_GROUPS + b)
        name = "\0".join(key)
        old = groups.pop(name, None)
        kept: list[RecordItem] = []
        if old is not None:
            removed.update(old[1])
            kept = [item(cid, n) for cid, n in old[0] if cid not in changes]
        together = kept + fresh.get(key, [])
        if not together:
            continue
        entries = build_group(key, together)
        groups[name] = [[it.capture_id, it.ordinal] for it in together], [e.id for e in entries]
        added.extend(entries)
        for cid in changes:
            if any(it.capture_id == cid for it in together):
                caps[cid].add(b)
    for cid, buckets in caps.items():
        held = section(_CAPS + _bucket(cid))
        if buckets:
            held[cid] = sorted(buckets)
        else:
            held.pop(cid, None)
    for cid, meta in metas.items():
        section(_METAS + _bucket(cid))[cid] = meta
    count = header["count"]
    for eid in removed:
        rows = section(_LIGHT + _bucket(eid))
        kept_rows = [row for row in rows if row[0] != eid]
        count -= len(rows) - len(kept_rows)
        rows[:] = kept_rows
    chunks = sections[_FIXED:]
    light: list[list[Any]] = []
    new_chunks: list[bytes] = []
    _add_chunks(sorted(((sort_key(e), e) for e in added), key=_FIRST), light, new_chunks, len(chunks))
    for row in light:
        section(_LIGHT + _bucket(row[0])).append(row)
    count += len(light)
    for n, value in decoded.items():
        fixed[n] = _pack(value)
    return _assemble(fixed, chunks + new_chunks, count, new_stamp)


_FIRST = operator.itemgetter(0)
