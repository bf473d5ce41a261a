"""The timeline index kept between unlocks, so that opening a vault of decades of records does not
mean decrypting and merging every record again before the first page.

Building the index decodes every record and merges them (dedupe.py): about 3 s at 100,000 records,
most of it creating a million Python objects. The cache holds the result, the merged entries in
their sorted order, and is read in two steps:

- at unlock, only what the timeline query filters on (entry id, sort key, member, kind) and the
  capture metas: a few hundred milliseconds;
- an entry's content (record, sources, history) when it is first read, a chunk of `CHUNK` entries
  at a time (neighbours on the timeline are read together).

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
from pathlib import Path
from typing import Any

import orjson

from .index import Indexed, TimelineIndex
from .models import Entry, Provenance, Version

NAME = "timeline"
FORMAT = 1
CHUNK = 64  # entries (of one member and kind) decoded together when one of them is first read
_MAGIC = b"KCIX"
_LEVEL = 1  # the cache is written at lock time: fast compression, it is rewritten often

Metas = dict[str, dict[str, Any]]


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
    groups: dict[tuple[str, str], list[Indexed]] = {}
    for ix in index.indexed():
        groups.setdefault((ix.member_id, ix.kind), []).append(ix)
    light: list[list[Any]] = []
    chunks: list[bytes] = []
    for _, rows in sorted(groups.items()):
        for start in range(0, len(rows), CHUNK):
            payloads = []
            for ix in rows[start : start + CHUNK]:
                e = ix.entry
                light.append([e.id, ix.key[0], ix.key[1], e.member_id, e.kind, len(chunks)])
                payloads.append(_payload(e))
            chunks.append(zlib.compress(orjson.dumps(payloads), _LEVEL))
    sections = [
        zlib.compress(orjson.dumps(light), _LEVEL),
        zlib.compress(orjson.dumps(metas), _LEVEL),
        *chunks,
    ]
    header = orjson.dumps(
        {
            "format": FORMAT,
            "code": code_stamp(),
            "stamp": stamp,
            "count": len(light),
            "sizes": [len(s) for s in sections],
        }
    )
    return b"".join([_MAGIC, struct.pack(">I", len(header)), header, *sections])


class _Chunks:
    """The undecoded entry chunks of a loaded cache, and the rows of each (index.Lazy)."""

    def __init__(self, chunks: list[bytes | None]) -> None:
        self.chunks = chunks
        self.rows: list[list[Indexed]] = [[] for _ in chunks]

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

        for ix, (at, title, org, orgs, record, sources, history) in zip(
            self.rows[position], payloads, strict=True
        ):
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


def load(blob: bytes, stamp: str) -> tuple[TimelineIndex, Metas] | None:
    """The partial index and the capture metas of a cache made for vault content `stamp` by this
    code; None for any other cache."""
    header = _header(blob)
    if header is None or header.get("stamp") != stamp:
        return None
    pos = header["_start"]
    sections: list[bytes] = []
    for size in header["sizes"]:
        sections.append(blob[pos : pos + size])
        pos += size
    light = orjson.loads(zlib.decompress(sections[0]))
    metas: Metas = orjson.loads(zlib.decompress(sections[1]))
    src = _Chunks(list(sections[2:]))
    if len(light) != header["count"]:
        return None
    lazy, of_chunk = Indexed.lazy, src.rows
    rows: list[Indexed] = []
    for eid, flag, wall, member_id, kind, chunk in light:
        ix = lazy(src, chunk, (flag, wall, eid), member_id, kind)
        of_chunk[chunk].append(ix)
        rows.append(ix)
    rows.sort(key=_KEY)  # runs of timeline order, one per member and kind: a merge
    return TimelineIndex.from_sorted(rows, src), metas


_KEY = operator.attrgetter("key")
