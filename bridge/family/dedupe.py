"""Dedupe: the same fact seen more than once becomes one entry listing every source.

Three steps, all pure and deterministic (records are processed in capture order, so the same records
always give the same entries, the same ids and the same history):

1. **Group** by the kind's *hard* natural key (member + kind + the fields below). Two records in
   different groups are never the same fact.
2. **Cluster** within a group by the *soft* key: fields that, when both records show them, must agree
   (a list page shows a result's date, its detail page the minute: the date-only row joins the timed
   result; two results of the same test the same day at different minutes stay apart). Two different
   records of the *same capture* are never merged (a page does not show one fact twice).
3. **Version** within a cluster: records that agree on the kind's *content* fields are merged (the
   richer record is the base, nulls are filled from the others, the longer of a preview and a full
   text wins). A test result's status ranks pending < preliminary < final < corrected: a higher status
   supersedes, the earlier version is kept as history. Otherwise a later capture that disagrees on a
   content field (a changed value, an appointment now cancelled, a medicine now discontinued)
   supersedes the earlier one, which is kept as history.

Natural keys (hard | soft | content):

| kind | hard | soft | content |
| --- | --- | --- | --- |
| test_result | title, day | minute, component names (must overlap) | component values, narrative (+ status rank) |
| note | title, day | minute, author, department | text |
| message | subject (without RE:/FW:), day | minute, sender | body, direction |
| visit | day | minute, provider, department, title | - |
| appointment | day | minute, provider, department | status |
| medication | ingredient, strength, organization | - | status, instructions |
| immunization | vaccine, day | - | - |
| allergy | allergen | - | - |
| problem | problem | - | status |
| bill | organization, statement day, title | account | amount due |
| document | capture, position | - | - |

Titles, names and organizations are compared in their normalized form (normalize.py). Organization is
part of the key only for medications (each system's list is reconciled separately, see meds.py) and
bills: a result, a visit, an immunization shown by two systems through record sharing is one entry.

The entry id is a hash of the group key; when a group holds more than one cluster, the soft values
are added to tell them apart. So a result's id does not change when its detail page refines the
date-only row of a list page, and reparsing the same captures gives the same ids.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .meds import parse_drug
from .models import Entry, Provenance, Version
from .normalize import day_of, digest, minute_of, norm_org, norm_text, person_name, wall


@dataclass(slots=True, eq=False)
class RecordItem:
    """One stored record, filed under a member, with its provenance. `order` (capture time in UTC,
    capture id, position) is the processing order of dedupe: use `make_item` to build one. Treat it as
    read-only (not frozen only because a frozen dataclass is several times slower to build, and one
    is built per record at every unlock)."""

    record_id: int
    capture_id: str
    ordinal: int  # position of the record within its capture
    member_id: str
    data: dict[str, Any]
    prov: Provenance
    kind: str
    order: tuple[str, str, int]


def make_item(
    record_id: int, capture_id: str, ordinal: int, member_id: str, data: dict[str, Any], prov: Provenance
) -> RecordItem:
    kind = data.get("kind")
    return RecordItem(
        record_id=record_id,
        capture_id=capture_id,
        ordinal=ordinal,
        member_id=member_id,
        data=data,
        prov=prov,
        kind=kind if isinstance(kind, str) and kind else "document",
        order=(instant(prov.captured_at), capture_id, ordinal),
    )


_SHARED_MAX = 40  # longer strings (notes, message bodies, narratives) are rarely repeated


def share_strings(data: dict[str, Any], memo: dict[str, str]) -> None:
    """Make equal strings of a record (and of its components) one object, in place: records decoded
    one capture at a time repeat "final", "mg/dL", a provider's name, a reference range... as
    separate copies, about a third of what the index holds in memory. The record is unchanged as a
    value (same keys in the same order, equal strings). `memo` lives for one build only."""
    share = memo.setdefault
    for k, v in data.items():
        t = v.__class__
        if t is str:
            if len(v) <= _SHARED_MAX:
                data[k] = share(v, v)
        elif t is list:
            for c in v:
                if c.__class__ is dict:
                    for k2, x in c.items():
                        if x.__class__ is str and len(x) <= _SHARED_MAX:
                            c[k2] = share(x, x)
        elif t is dict:  # a capture meta's patient
            share_strings(v, memo)


def instant(captured_at: str | None) -> str:
    """A sortable UTC form of a capture time (captures carry offsets)."""
    if not captured_at:
        return ""
    if len(captured_at) == 20 and captured_at[-1] == "Z" and _UTC_SECONDS.match(captured_at):
        return captured_at[:19]  # what the bridge writes: already UTC, to the second
    return _instant(captured_at)


# (an impossible day such as 30 February passes this and loses its "Z": it still sorts the same)
_UTC_SECONDS = re.compile(r"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\dZ\Z")


@functools.lru_cache(maxsize=1 << 14)
def _instant(captured_at: str) -> str:
    try:
        dt = datetime.fromisoformat(captured_at.replace("Z", "+00:00"))
    except ValueError:
        return captured_at
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC).replace(tzinfo=None)
    return dt.isoformat()


_RE_PREFIX = re.compile(r"^\s*((re|fw|fwd)\s*:\s*)+", re.I)


@functools.lru_cache(maxsize=1 << 14)
def subject_key(subject: str | None) -> str:
    return norm_text(_RE_PREFIX.sub("", subject or ""))


# ---------------------------------------------------------------------------------------- keys


def _s(data: dict[str, Any], name: str) -> str | None:
    v = data.get(name)
    return v if isinstance(v, str) else None


def _hard(item: RecordItem) -> tuple[str, ...]:
    d = item.data
    k = item.kind
    title = norm_text(_s(d, "title"))
    day = day_of(_s(d, "occurred_at"))
    alone = ("", item.capture_id, str(item.ordinal))  # nothing to recognize the fact by
    if k in ("test_result", "note", "immunization", "allergy", "problem") and not title:
        return alone
    if k in ("test_result", "note", "immunization"):
        return (title, day)
    if k == "message":
        return (subject_key(_s(d, "thread_subject") or _s(d, "title")), day)
    if k in ("visit", "appointment"):
        return (day,)
    if k == "medication":
        drug = parse_drug(_s(d, "title"))
        if not drug.ingredient:
            return alone
        return (drug.ingredient, drug.strength or "", norm_org(item.prov.organization))
    if k in ("allergy", "problem"):
        return (title,)
    if k == "bill":
        return (norm_org(item.prov.organization), day, title)
    # document and anything unknown: one entry per record of a capture
    return (item.capture_id, str(item.ordinal))


def group_key(item: RecordItem) -> tuple[str, ...]:
    return (item.member_id, item.kind, *_hard(item))


def _components(d: dict[str, Any]) -> list[dict[str, Any]]:
    comps = d.get("components")
    return [c for c in comps if isinstance(c, dict)] if isinstance(comps, list) else []


SoftFn = Callable[[dict[str, Any]], str]
_SOFT: dict[str, tuple[tuple[str, SoftFn], ...]] = {
    "test_result": (("minute", lambda d: minute_of(_s(d, "occurred_at"))),),
    "note": (
        ("minute", lambda d: minute_of(_s(d, "occurred_at"))),
        ("author", lambda d: person_name(_s(d, "author"))),
        ("department", lambda d: norm_text(_s(d, "department"))),
    ),
    "message": (
        ("minute", lambda d: minute_of(_s(d, "occurred_at"))),
        ("sender", lambda d: person_name(_s(d, "sender"))),
    ),
    "visit": (
        ("minute", lambda d: minute_of(_s(d, "occurred_at"))),
        ("provider", lambda d: person_name(_s(d, "provider"))),
        ("department", lambda d: norm_text(_s(d, "department"))),
        ("title", lambda d: norm_text(_s(d, "title"))),
    ),
    "appointment": (
        ("minute", lambda d: minute_of(_s(d, "occurred_at"))),
        ("provider", lambda d: person_name(_s(d, "provider"))),
        ("department", lambda d: norm_text(_s(d, "department"))),
    ),
    "bill": (("account", lambda d: norm_text(_s(d, "account"))),),
}
_CONTENT: dict[str, tuple[str, ...]] = {
    "test_result": ("components", "narrative"),
    "note": ("text",),
    "message": ("body", "direction"),
    "appointment": ("status",),
    "medication": ("status", "instructions"),
    "problem": ("status",),
    "bill": ("amount_due",),
    "document": ("text",),
}
_LONG_TEXT = frozenset({"narrative", "text", "body", "summary_text", "comments", "instructions"})
_UNDATED_APART = frozenset({"test_result", "note", "message"})
STATUS_RANK = {"pending": 0, "preliminary": 1, "final": 2, "corrected": 3}


def _comp_names(d: dict[str, Any]) -> frozenset[str]:
    return frozenset(norm_text(str(c.get("name") or "")) for c in _components(d)) - {""}


# ---------------------------------------------------------------------------------------- clusters


@dataclass
class _Cluster:
    soft: dict[str, str] = field(default_factory=dict)
    comps: set[str] = field(default_factory=set)
    items: list[RecordItem] = field(default_factory=list)
    captures: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def add(self, item: RecordItem, soft: dict[str, str], comps: frozenset[str]) -> None:
        for k, v in soft.items():
            if v and not self.soft.get(k):
                self.soft[k] = v
        self.comps |= comps
        self.items.append(item)
        self.captures.setdefault(item.capture_id, []).append(item.data)


def _match(cluster: _Cluster, item: RecordItem, soft: dict[str, str], comps: frozenset[str]) -> int:
    """-1 when the record cannot be this cluster's fact, else how many soft fields agree."""
    same_capture = cluster.captures.get(item.capture_id)
    if same_capture is not None and all(d != item.data for d in same_capture):
        return -1
    if (
        item.kind in _UNDATED_APART
        and not day_of(_s(item.data, "occurred_at"))
        and _conflicts(item.kind, cluster.items[-1].data, item.data)
    ):
        return -1  # no date to tell a correction from another result: keep both
    score = 0
    for k, v in soft.items():
        cv = cluster.soft.get(k)
        if v and cv:
            if v != cv:
                return -1
            score += 1
    if comps and cluster.comps:
        if not comps & cluster.comps:
            return -1
        score += 1
    return score


def _cluster(items: Sequence[RecordItem]) -> list[_Cluster]:
    clusters: list[_Cluster] = []
    for item in sorted(items, key=lambda i: i.order):
        spec = _SOFT.get(item.kind, ())
        soft = {name: fn(item.data) for name, fn in spec}
        comps = _comp_names(item.data) if item.kind == "test_result" else frozenset()
        best: _Cluster | None = None
        best_score = -1
        for c in clusters:
            s = _match(c, item, soft, comps)
            if s > best_score:
                best, best_score = c, s
        if best is None:
            best = _Cluster()
            clusters.append(best)
        best.add(item, soft, comps)
    return clusters


# ---------------------------------------------------------------------------------------- versions


def _empty(v: Any) -> bool:
    return v is None or v == "" or v == []


def _norm_long(v: str) -> str:
    return " ".join(v.split()).rstrip(".…").rstrip()


def _text_compatible(a: str, b: str) -> bool:
    x, y = _norm_long(a), _norm_long(b)
    return x.startswith(y) or y.startswith(x)


def _comp_value(c: dict[str, Any]) -> str:
    return "".join(str(c.get("value") or "").split()).casefold()


def _conflicts(kind: str, a: dict[str, Any], b: dict[str, Any]) -> bool:
    for f in _CONTENT.get(kind, ()):
        if f == "components":
            mine = {norm_text(str(c.get("name") or "")): _comp_value(c) for c in _components(a)}
            for c in _components(b):
                n = norm_text(str(c.get("name") or ""))
                if n in mine and mine[n] and _comp_value(c) and mine[n] != _comp_value(c):
                    return True
            continue
        va, vb = a.get(f), b.get(f)
        if _empty(va) or _empty(vb):
            continue
        if isinstance(va, str) and isinstance(vb, str):
            if f in _LONG_TEXT:
                if not _text_compatible(va, vb):
                    return True
            elif norm_text(va) != norm_text(vb):
                return True
        elif va != vb:
            return True
    return False


def richness(d: dict[str, Any]) -> int:
    n = 0
    for k, v in d.items():
        if k == "components" and isinstance(v, list):
            n += 2 * len(v) + sum(1 for c in v if isinstance(c, dict) for x in c.values() if not _empty(x))
        elif not _empty(v):
            n += 1
    return n


def merge_records(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Merge two records of the same fact: the richer is the base, nulls are filled from the other,
    components are united by name, the most precise time and the longer text win."""
    base, other = (a, b) if richness(a) >= richness(b) else (b, a)
    out = dict(base)
    for k, v in other.items():
        cur = out.get(k)
        if _empty(v):
            continue
        if _empty(cur):
            out[k] = v
        elif k == "components" and isinstance(cur, list) and isinstance(v, list):
            out[k] = _merge_components(cur, v)
        elif isinstance(cur, list) and isinstance(v, list):
            out[k] = cur + [x for x in v if x not in cur]
        elif k in ("occurred_at", "resulted_at") and isinstance(cur, str) and isinstance(v, str):
            if len(wall(v)) > len(wall(cur)) and wall(v).startswith(wall(cur)):
                out[k] = v
        elif (
            k in _LONG_TEXT
            and isinstance(cur, str)
            and isinstance(v, str)
            and len(_norm_long(v)) > len(_norm_long(cur))
            and _text_compatible(cur, v)
        ):
            out[k] = v
    return out


def _merge_components(a: list[Any], b: list[Any]) -> list[Any]:
    out: list[Any] = []
    index: dict[str, int] = {}
    for c in a:
        if isinstance(c, dict):
            index[norm_text(str(c.get("name") or ""))] = len(out)
        out.append(c)
    for c in b:
        if not isinstance(c, dict):
            continue
        n = norm_text(str(c.get("name") or ""))
        if n in index:
            cur = out[index[n]]
            out[index[n]] = {**cur, **{k: v for k, v in c.items() if _empty(cur.get(k)) and not _empty(v)}}
        else:
            index[n] = len(out)
            out.append(c)
    return out


@dataclass
class _Version:
    record: dict[str, Any]
    items: list[RecordItem]

    @property
    def rank(self) -> int | None:
        st = self.record.get("status")
        return STATUS_RANK.get(st) if isinstance(st, str) else None

    def add(self, item: RecordItem) -> None:
        self.record = merge_records(self.record, item.data)
        self.items.append(item)


def _versions(kind: str, items: Sequence[RecordItem]) -> tuple[_Version, list[_Version]]:
    ranked = kind == "test_result"
    current: _Version | None = None
    history: list[_Version] = []
    for item in items:  # already in capture order
        if current is None:
            current = _Version(item.data, [item])
            continue
        st = item.data.get("status")
        r_item = STATUS_RANK.get(st) if ranked and isinstance(st, str) else None
        r_cur = current.rank if ranked else None
        if r_item is not None and r_cur is not None and r_item < r_cur:
            # a lesser status seen again (a stale list page): it belongs to history
            for h in history:
                if h.rank == r_item and not _conflicts(kind, h.record, item.data):
                    h.add(item)
                    break
            else:
                history.append(_Version(item.data, [item]))
            continue
        if (r_item is not None and r_cur is not None and r_item > r_cur) or _conflicts(
            kind, current.record, item.data
        ):
            history.append(current)
            current = _Version(item.data, [item])
            continue
        current.add(item)
    assert current is not None
    return current, history


# ---------------------------------------------------------------------------------------- entries


def _sources(items: Iterable[RecordItem]) -> tuple[Provenance, ...]:
    seen: dict[tuple[str, int], Provenance] = {}
    for it in sorted(items, key=lambda i: i.order):
        seen.setdefault((it.capture_id, it.record_id), it.prov)
    return tuple(seen.values())


_ORGS: dict[str, tuple[str]] = {}


def _orgs_of(org: str) -> tuple[str]:
    t = _ORGS.get(org)
    if t is None:
        if len(_ORGS) > 4096:
            _ORGS.clear()
        t = _ORGS[org] = (org,)
    return t


def single_entry(key: tuple[str, ...], it: RecordItem) -> Entry:
    """The entry of a group holding one record (no clustering, no versions, the record shared as is)."""
    rec = it.data
    org = it.prov.organization
    at, title = rec.get("occurred_at"), rec.get("title")
    return Entry(
        digest("entry", *key),
        key[1],
        key[0],
        at if isinstance(at, str) else None,
        title if isinstance(title, str) else None,
        org,
        _orgs_of(org) if org else (),
        rec,
        (it.prov,),
    )


def build_group(key: tuple[str, ...], items: Sequence[RecordItem]) -> list[Entry]:
    """All entries of one natural-key group (see the module docstring)."""
    if len(items) == 1:  # the common case: a fact seen once
        return [single_entry(key, items[0])]
    clusters = _cluster(items)
    base = digest("entry", *key)
    ids: list[str]
    if len(clusters) == 1:
        ids = [base]
    else:
        ids = [digest("entry", *key, *(f"{k}={v}" for k, v in sorted(c.soft.items()))) for c in clusters]
        if len(set(ids)) < len(ids):  # only component sets tell them apart
            ids = [digest(i, *sorted(c.comps)) for i, c in zip(ids, clusters, strict=True)]
        seen: dict[str, int] = {}
        for n, i in enumerate(ids):
            if i in seen:
                ids[n] = digest(i, str(n))
            seen[i] = n
    member_id, kind = key[0], key[1]
    out: list[Entry] = []
    for entry_id, cluster in zip(ids, clusters, strict=True):
        current, history = _versions(kind, cluster.items)
        sources = _sources(current.items)
        all_orgs = {it.prov.organization for it in cluster.items if it.prov.organization}
        rec = current.record
        out.append(
            Entry(
                id=entry_id,
                kind=kind,
                member_id=member_id,
                occurred_at=_s(rec, "occurred_at"),
                title=_s(rec, "title"),
                organization=sources[-1].organization if sources else None,
                organizations=tuple(sorted(all_orgs)),
                record=rec,
                sources=sources,
                history=tuple(Version(record=h.record, sources=_sources(h.items)) for h in history),
            )
        )
    return out


def build_entries(items: Iterable[RecordItem]) -> list[Entry]:
    groups: dict[tuple[str, ...], list[RecordItem]] = {}
    for it in items:
        groups.setdefault(group_key(it), []).append(it)
    out: list[Entry] = []
    for key in sorted(groups):
        out.extend(build_group(key, groups[key]))
    return out
