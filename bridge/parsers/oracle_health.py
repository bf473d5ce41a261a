"""Oracle Health / Cerner portals (HealtheLife, MyHealthOne, HealtheIntent patient portal).

Claims a page by URL path shape plus markup, never by host: a record-host document under
`/person/<digits>/...` with the consumer pagelet markup, or a `/pages/...` shell with its pagelet
frame or person header (see `oracle_health_context`).

Page kinds read (the kind follows the URL path, else the markup):
  results and result history -> test_result_list, imaging study -> test_result (`oracle_health_results`);
  open-notes -> note_list, messaging folder -> message_list, conversation -> message_thread,
  scheduling -> appointment_list, medications, immunizations, allergies, problems
  (`oracle_health_records`); billing -> bills read by their labels (`athenahealth_billing`, a guess).

Frames: when a capture holds the record host's document (the shell's iframe), that frame is parsed,
with its patient and organization; a shell captured alone gives no records and a warning naming
the frame's URL, whose document must be captured on its own.

Order of extraction: URL (page kind, person id), then `dt` labels and structure, then the vendor's
class hooks (named constants in each module). `li[data-normalcy]` is ignored: it is always "Normal".
"""

from __future__ import annotations

from selectolax.lexbor import LexborNode

from bridge.records import Document, ParseResult

from . import oracle_health_records as records
from . import oracle_health_results as results
from .athenahealth_billing import read_bills
from .base import Draft
from .oracle_health_context import (
    is_record_frame,
    is_shell_frame,
    is_unaddressed_record,
    is_unaddressed_shell,
    kind_of,
    organization_of,
    pagelet_url,
    patient_of,
)
from .oracle_health_dom import select, text_of
from .page import Frame, Page
from .text import clean, paragraphs_of

NAME = "oracle_health"
VERSION = "1"
MAIN = "main#main-content, main.consumer-main, main, [role=main]"
USER_NAME = ".user-menu-name"  # the logged-in account holder: never the patient, but on the patient's side
ERROR_ALERT = ".consumer-alert-error, .consumer-alert[role=alert]"
# What a shell route's frame holds, for the warning that names the frame.
SHELL_CONTENT: dict[str, str] = {
    "test_result_list": "results",
    "note_list": "notes",
    "message_list": "messages",
    "message_thread": "messages",
    "appointment_list": "appointments",
    "medication_list": "medications",
    "immunization_list": "immunizations",
    "allergy_list": "allergies",
    "problem_list": "health issues",
    "health_summary": "health summaries",
    "billing": "billing records",
}
NO_RECORDS = "the page shows no records that could be read"


def _record_frames(page: Page) -> list[Frame]:
    found = [f for f in page.frames if is_record_frame(f)]
    if not found and page.frames and is_unaddressed_record(page.top):
        found = [page.top]
    return found


def can_parse(page: Page) -> bool:
    if not page.frames:
        return False
    return bool(_record_frames(page)) or is_shell_frame(page.top) or is_unaddressed_shell(page.top)


def _context(draft: Draft, frames: list[Frame]) -> None:
    """Patient and organization from the first frame that shows them (the record frame first)."""
    dob_shown = False
    for frame in frames:
        if draft.patient is None:
            draft.patient, dob_shown = patient_of(frame)
        if draft.organization is None:
            draft.organization = organization_of(frame)
    if draft.patient is None:
        draft.warn("the page does not name the patient")
    elif draft.patient.dob is None:
        draft.warn(
            "patient date of birth is not shown on the page"
            if not dob_shown
            else "patient date of birth could not be read"
        )
    if draft.organization is None:
        draft.warn("the page does not name the health system")


def _parse_record_frame(frame: Frame, kind: str, draft: Draft) -> bool:
    """Read one record-host document into the draft; returns whether an empty page explained itself."""
    root: LexborNode | None = frame.css_first(MAIN) or frame.body
    if root is None:
        return False
    for alert in select(root, ERROR_ALERT):
        if text_of(alert):
            draft.warn(f"the portal reported an error: {text_of(alert)}")
    explained = False
    if kind == "test_result_list" and "/health-record/imaging" in frame.path:
        explained = results.parse_imaging(frame, root, draft)
    elif kind == "test_result_list":
        explained = results.parse_results(frame, root, draft)
    elif kind == "test_result":
        explained = results.parse_imaging(frame, root, draft)
    elif kind == "note_list":
        records.parse_notes(root, draft)
    elif kind == "message_list":
        records.parse_message_list(frame, root, draft)
    elif kind == "message_thread":
        own = {clean(text_of(n)) for n in frame.css(USER_NAME)}
        own.add(draft.patient.name if draft.patient else None)
        records.parse_thread(root, draft, frozenset(n.lower() for n in own if n))
    elif kind == "appointment_list":
        records.parse_appointments(root, draft)
    elif kind == "medication_list":
        records.parse_medications(root, draft)
    elif kind == "immunization_list":
        records.parse_immunizations(root, draft)
    elif kind == "allergy_list":
        records.parse_allergies(root, draft)
    elif kind == "problem_list":
        records.parse_problems(root, draft)
    elif kind == "billing" and _read_bills(root, draft):
        pass
    else:
        # A section this parser has no reader for (procedures, health content): keep its text.
        text = paragraphs_of(root)
        if text:
            head_title = frame.css_first("title")
            title = text_of(frame.css_first("h1")) or clean(head_title.text() if head_title else None)
            draft.records.append(Document(title=title or "Saved page", text=text))
    return explained


def _read_bills(root: LexborNode, draft: Draft) -> bool:
    """Billing (no page modeled): statements read by their labels (athenahealth_billing is
    vendor-neutral); False when none is found, so that the page's text is kept instead."""
    before = len(draft.records)
    read_bills(root, draft)
    return len(draft.records) > before


def _finish(draft: Draft, explained: bool) -> ParseResult:
    if not draft.records and not explained:
        draft.warn(NO_RECORDS)
    return ParseResult.model_validate(
        {
            "vendor": draft.vendor,
            "page_kind": draft.page_kind,
            "patient": draft.patient.model_dump() if draft.patient else None,
            "organization": draft.organization,
            "records": [r.model_dump() for r in draft.records],
            "warnings": draft.warnings,
        }
    )


def _main_record_frame(page: Page, frames: list[Frame]) -> Frame:
    """The record: the frame the shell loads, else the first record frame of a known kind.

    Other record-host frames (a "Learn more about this" health-content frame) are not the record.
    """
    wanted = pagelet_url(page.top) if not is_record_frame(page.top) else None
    if wanted:
        key = wanted.split("#", 1)[0].rstrip("/")
        for frame in frames:
            if frame.url.split("#", 1)[0].rstrip("/") == key:
                return frame
    return next((f for f in frames if kind_of(f) != "unknown"), frames[0])


def parse(page: Page) -> ParseResult:
    draft = Draft(vendor=NAME)
    frames = _record_frames(page)
    if frames:
        frame = _main_record_frame(page, frames)
        draft.page_kind = kind_of(frame)
        others = [f for f in page.frames if f is not frame]
        _context(draft, [frame, *others])
        return _finish(draft, _parse_record_frame(frame, draft.page_kind, draft))
    # The shell on its own: the record is in a frame whose document was not captured.
    shell = page.top
    draft.page_kind = kind_of(shell)
    _context(draft, [shell])
    url = pagelet_url(shell)
    if url:
        what = SHELL_CONTENT.get(draft.page_kind, "record contents")
        draft.warn(
            f"This is the portal shell page; the {what} are inside a frame ({url}) whose document "
            "must be captured separately, so this page holds no records."
        )
    else:
        draft.warn(
            "This is the portal shell page and it loads no record frame, so this page holds no records."
        )
    return _finish(draft, True)
