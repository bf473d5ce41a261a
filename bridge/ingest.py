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
from collections import Counter
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from bridge.parsers import ParserInfo
from bridge.parsers.budget import parse_within_budget
from bridge.receipt import MemberRef, Receipt
from bridge.records import ParseResult
from bridge.vault import TamperedData

if TYPE_CHECKING:
    from bridge.family import Family
    from bridge.vault import Vault

log = logging.getLogger(__name__)


def parse_capture(capture: dict[str, Any]) -> tuple[ParserInfo, ParseResult, str | None]:
    """Parse within the parse budget, never raising: a parser crash becomes a generic parse plus the
    error, and a page over budget (too slow, too large) a document plus the reason (see
    `bridge.parsers.budget`). Safe to call from several threads at once."""
    return parse_within_budget(capture)


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
        # why the vendor's parser gave the page to the generic one (the markup changed, or the page
        # never shows what it reads): reported by import and reparse, shown in the captures inbox
        "fallback": info.fallback.as_meta() if info.fallback else None,
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
        fallback=meta.get("fallback"),
        member=member,
        needs_assignment=needs_assignment,
        candidates=candidates,
    )
    receipt.summary = receipt.describe()
    return receipt


def not_understood(meta: dict[str, Any]) -> bool:
    """Whether a page was not read as its portal's page because of a fault to fix: a parser crash or
    a page over the parse budget (`error`), or markup its parser no longer recognises (a fallback
    "markup_changed"); a page that simply shows nothing the parser reads is not a fault."""
    fallback = meta.get("fallback") or {}
    return bool(meta.get("error")) or fallback.get("category") == "markup_changed"


def reparse_all(vault: Vault, progress: Any = None, family: Family | None = None) -> dict[str, int]:
    """Rebuild every record from the stored captures with today's parsers; count what changed.

    Each capture is parsed with no lock held and rewritten under the family's lock (when the bridge
    runs it: `family`), one at a time, so saves and dashboard pages go on between two captures; the
    caller refreshes the family's index once at the end."""
    changed = unchanged = failed = damaged = 0
    for row in vault.list_captures():
        try:
            capture = vault.get_capture(row.id)
        except TamperedData:  # reported by the vault's integrity check; the rest is reparsed
            damaged += 1
            continue
        parsed = parse_capture(capture)
        with family_first(family):
            before = [r.data for r in vault.records_for(row.id)]
            meta = store_parse(vault, row.id, capture, keep=vault.get_capture_meta(row.id), parsed=parsed)
            after = [r.data for r in vault.records_for(row.id)]
        if not_understood(meta):
            failed += 1
        if before == after:
            unchanged += 1
        else:
            changed += 1
        if progress is not None:
            progress()
    return {
        "captures": changed + unchanged + damaged,
        "changed": changed,
        "unchanged": unchanged,
        "failed": failed,
        "damaged": damaged,
    }
