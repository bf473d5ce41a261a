"""The one ingest path, shared by the HTTP API and `kinchart import`:

1. store the raw capture, encrypted, and commit (the capture is the truth);
2. parse it through the registry (a failure keeps the capture, with its error and a document record),
   for a large page while 1. runs in a worker thread (compression, encryption and SQLite's commit
   release the GIL);
3. store the records encrypted, with provenance (capture id, parser name and version);
4. file it under a family member (or leave it waiting for "who is this?").
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections import Counter
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from bridge.parsers import Page, ParserInfo, parse_page
from bridge.parsers import generic as generic_parser
from bridge.receipt import MemberRef, Receipt
from bridge.records import ParseResult

if TYPE_CHECKING:
    from bridge.family import Family
    from bridge.vault import Vault

log = logging.getLogger(__name__)


#: Deeper nesting than a browser's own parser ever builds (Blink stops at 512) is flattened before
#: parsing: the HTML tree builder's work grows with depth squared (100,000 nested <div>s took minutes).
MAX_PARSE_DEPTH = 2000
_CONTAINERS = (
    "div",
    "span",
    "section",
    "article",
    "main",
    "nav",
    "header",
    "footer",
    "aside",
    "a",
    "b",
    "i",
    "u",
    "s",
    "em",
    "strong",
    "small",
    "big",
    "font",
    "form",
    "fieldset",
    "center",
    "blockquote",
    "ul",
    "ol",
    "dl",
    "table",
    "tbody",
    "thead",
    "tfoot",
    "label",
    "button",
    "code",
    "pre",
    "sub",
    "sup",
    "abbr",
    "cite",
    "q",
    "mark",
    "details",
    "summary",
    "figure",
    "figcaption",
)
#: What ``re.I`` also takes for these letters (Unicode case folding); kept so the guard matches as it did.
_FOLDS = {"i": "\u0130\u0131", "k": "\u212a", "s": "\u017f"}


def _container_regex(names: Iterable[str], literal_levels: int = 2) -> re.Pattern[str]:
    """A container tag, opening or closing (group 1 is "/" for a closing one), in any letter case.

    The same matches as ``<(/?)(?:div|span|...)(?=[\\s>/])`` with ``re.I``, in a quarter of its time
    (20 ms on a 2 MB page before): the names form a trie, one branch per letter instead of one per name,
    and in its first `literal_levels` levels each case of a letter has a branch of its own, starting with
    a plain literal, which the regex engine rejects much faster than a character class or a letter
    under ``re.I``. Most of the time left goes to the '<' of other tags (an SVG sprite's)."""
    trie: dict[str, Any] = {}
    for name in names:
        node = trie
        for ch in name:
            node = node.setdefault(ch, {})
        node[""] = {}

    def branch(node: dict[str, Any], level: int) -> str:
        alternatives = []
        for ch, child in sorted(node.items()):
            if not ch:
                continue
            variants = sorted({ch.lower(), ch.upper(), *_FOLDS.get(ch, "")})
            rest = branch(child, level + 1)
            if level < literal_levels:
                alternatives += [v + rest for v in variants]
            else:
                alternatives.append("[" + "".join(variants) + "]" + rest)
        if not alternatives:
            return ""
        body = alternatives[0] if len(alternatives) == 1 else "(?:" + "|".join(alternatives) + ")"
        return f"(?:{body})?" if "" in node else body

    return re.compile(rf"<(/?){branch(trie, 0)}(?=[\s>/])")


_CONTAINER = _container_regex(_CONTAINERS)


def _deepest(html: str, stop_above: int | None = None) -> int:
    """How deep container tags nest in `html` (a closing tag never takes the depth below 0); once it
    exceeds `stop_above`, that depth is returned without looking further."""
    depth = deepest = 0
    limit = stop_above if stop_above is not None else len(html)
    for closing in _CONTAINER.findall(html):
        if closing:
            if depth:
                depth -= 1
        else:
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    break
    return deepest


def _flatten_deep_nesting(html: str) -> str:
    """The page with container tags beyond MAX_PARSE_DEPTH removed (their text stays); unchanged (the
    same object), and cheap, for any page a browser could have built by parsing (a depth of at most 512)."""
    if html.count("<") <= MAX_PARSE_DEPTH:  # the depth cannot exceed the number of tags
        return html
    if _deepest(html, stop_above=MAX_PARSE_DEPTH) <= MAX_PARSE_DEPTH:
        return html
    depth = 0

    def keep(m: re.Match[str]) -> str:
        nonlocal depth
        if m.group(1):
            depth = max(depth - 1, 0)
            return m.group(0) if depth < MAX_PARSE_DEPTH else " "
        depth += 1
        return m.group(0) if depth <= MAX_PARSE_DEPTH else " "

    return _CONTAINER.sub(keep, html)


def _parseable(capture: dict[str, Any]) -> dict[str, Any]:
    frames = capture.get("frames") or []
    flat = [_flatten_deep_nesting(f.get("html") or "") for f in frames]
    if all(
        new is f.get("html") or (not new and not f.get("html")) for new, f in zip(flat, frames, strict=True)
    ):
        return capture
    return {**capture, "frames": [{**f, "html": new} for new, f in zip(flat, frames, strict=True)]}


def parse_capture(capture: dict[str, Any]) -> tuple[ParserInfo, ParseResult, str | None]:
    """Parse, never raising: an unexpected parser crash becomes a generic parse plus the error."""
    capture = _parseable(capture)  # (only what is parsed; the stored capture is never changed)
    page = Page.from_capture(capture)
    try:
        info, result = parse_page(page)
        return info, result, None
    except Exception as exc:  # a parser bug must not lose the capture
        log.warning("parser crashed on capture (%s)", type(exc).__name__)
        result = generic_parser.parse(Page.from_capture(capture))
        error = f"{type(exc).__name__}: {exc}"
        result.warnings.insert(0, f"the parser failed ({error}); the page was kept as a document")
        return ParserInfo(generic_parser.NAME, generic_parser.VERSION), result, error


def capture_meta(
    capture: dict[str, Any], info: ParserInfo, result: ParseResult, error: str | None
) -> dict[str, Any]:
    return {
        "url": capture["url"],
        "title": capture.get("title"),
        "captured_at": capture.get("captured_at"),
        "portal_host": urlsplit(capture["url"]).hostname or "",
        "frame_urls": [f.get("url") for f in capture["frames"]],
        "extension_version": capture.get("extension_version"),
        "vendor": result.vendor,
        "page_kind": result.page_kind,
        "parser": info.name,
        "parser_version": info.version,
        "patient": result.patient.model_dump() if result.patient else None,
        "organization": result.organization,
        "warnings": result.warnings,
        "error": error,
        "counts": dict(Counter(r.kind for r in result.records)),
    }


Parsed = tuple[ParserInfo, ParseResult, str | None]


def store_parse(
    vault: Vault,
    capture_id: str,
    capture: dict[str, Any],
    keep: dict[str, Any] | None = None,
    parsed: Parsed | None = None,
) -> dict[str, Any]:
    """Parse a stored capture (unless `parsed` is its parse already) and (re)write its meta and
    records; filing fields in `keep` survive."""
    info, result, error = parsed or parse_capture(capture)
    meta = capture_meta(capture, info, result, error)
    if keep:
        meta.update({k: v for k, v in keep.items() if k in {"member_id", "status"}})
    records = [r.model_dump(mode="json") for r in result.records]
    with vault.transaction():
        vault.replace_records(capture_id, records)
        vault.set_capture_meta(capture_id, meta)
    return meta


def ingest(vault: Vault, capture: dict[str, Any], family: Family | None = None) -> Receipt:
    """Store, parse, file; the receipt says what happened. `capture` must be validated already.

    Two commits: the raw capture alone first (durable before anything can fail), then everything
    derived from it (records, meta, filing) in one transaction, before the receipt is returned. A large
    page is parsed while it is being stored (compressed, encrypted, committed: in a worker thread, see
    `Vault.put_capture_while`); nothing derived from it is written before it is committed.
    """
    capture_id, duplicate, parsed = vault.put_capture_while(capture, lambda: parse_capture(capture))
    with family_first(family):
        try:
            with vault.transaction():
                if not duplicate:
                    store_parse(vault, capture_id, capture, parsed=parsed)
                else:
                    meta = vault.get_capture_meta(capture_id)
                    if not meta or "parser" not in meta:  # stored, but its parse never committed (a crash)
                        store_parse(vault, capture_id, capture, parsed=parsed)
                return file_and_receipt(vault, capture_id, duplicate, family)
        except BaseException:
            if family is not None:
                family.refresh()  # the in-memory index may hold what was just rolled back
            raise


def family_first(family: Family | None) -> contextlib.AbstractContextManager[Any]:
    """The family's lock, taken before any vault transaction that files into the family: the one lock
    order (`Family.exclusive`). Only the filing is under it; the page was parsed and stored before."""
    return family.exclusive() if family is not None else contextlib.nullcontext()


IMPORT_BATCH = 50


def ingest_many(
    vault: Vault,
    captures: Iterable[dict[str, Any] | Exception],
    family: Family | None = None,
    batch: int = IMPORT_BATCH,
    on_result: Callable[[Receipt | Exception], None] | None = None,
) -> None:
    """Bulk ingest (`kinchart import`): the same path, committed every `batch` captures instead of twice
    per capture. A batch is acknowledged (reported through `on_result`) only once it is committed; an
    interrupted import loses at most the batch in flight, and running it again makes no duplicates.
    Items that are exceptions (a file that could not be read) are passed through to `on_result`."""
    pending: list[Receipt | Exception] = []

    def flush() -> None:
        for item in pending:
            if on_result is not None:
                on_result(item)
        pending.clear()

    items = iter(captures)
    while True:
        chunk = [c for _, c in zip(range(batch), items, strict=False)]
        if not chunk:
            break
        with family_first(family), vault.transaction():
            for capture in chunk:
                pending.append(capture if isinstance(capture, Exception) else ingest(vault, capture, family))
        flush()


def file_and_receipt(vault: Vault, capture_id: str, duplicate: bool, family: Family | None) -> Receipt:
    needs_assignment = False
    member: MemberRef | None = None
    candidates: list[MemberRef] = []
    if family is not None:
        filing = family.file_capture(capture_id)
        needs_assignment = filing.needs_assignment
        if filing.member_id:
            m = family.get_member(filing.member_id)
            if m is not None:
                member = MemberRef(id=m.id, name=m.name)
        candidates = [MemberRef(id=c.id, name=c.name) for c in filing.candidates]
    meta = vault.get_capture_meta(capture_id)
    receipt = Receipt(
        capture_id=capture_id,
        hash=capture_id,
        duplicate=duplicate,
        vendor=meta.get("vendor"),
        page_kind=meta.get("page_kind"),
        parser=meta.get("parser"),
        parser_version=meta.get("parser_version"),
        patient=meta.get("patient"),
        organization=meta.get("organization"),
        counts=meta.get("counts") or {},
        warnings=meta.get("warnings") or [],
        error=meta.get("error"),
        member=member,
        needs_assignment=needs_assignment,
        candidates=candidates,
    )
    receipt.summary = receipt.describe()
    return receipt


def reparse_all(vault: Vault, progress: Any = None, family: Family | None = None) -> dict[str, int]:
    """Rebuild every record from the stored captures with today's parsers; count what changed.

    Each capture is parsed with no lock held and rewritten under the family's lock (when the bridge
    runs it: `family`), one at a time, so saves and dashboard pages go on between two captures; the
    caller refreshes the family's index once at the end."""
    changed = unchanged = failed = 0
    for row in vault.list_captures():
        capture = vault.get_capture(row.id)
        parsed = parse_capture(capture)
        with family_first(family):
            before = [r.data for r in vault.records_for(row.id)]
            meta = store_parse(vault, row.id, capture, keep=vault.get_capture_meta(row.id), parsed=parsed)
            after = [r.data for r in vault.records_for(row.id)]
        if meta.get("error"):
            failed += 1
        if before == after:
            unchanged += 1
        else:
            changed += 1
        if progress is not None:
            progress()
    return {"captures": changed + unchanged, "changed": changed, "unchanged": unchanged, "failed": failed}
