"""Oracle Health / Cerner portals (HealtheLife, MyHealthOne, HealtheIntent patient portal).

Claims a page by URL path shape plus markup, never by host: a record-host document under
`/person/<digits>/...` with the consumer pagelet markup, or a `/pages/...` shell with its pagelet
frame or person header (see `context`).

Page kinds read (the kind follows the URL path, else the markup):
  results and result history -> test_result_list, imaging study -> test_result (`results`);
  open-notes -> note_list, messaging folder -> message_list, conversation -> message_thread,
  scheduling -> appointment_list, medications, immunizations, allergies, problems
  (`records`); billing -> bills read by their labels (`..billing`, a guess).

Frames: when a capture holds the record host's document (the shell's iframe), that frame is parsed,
with its patient and organization; a shell captured alone gives no records and a warning naming
the frame's URL, whose document must be captured on its own.

Order of extraction: URL (page kind, person id), then `dt` labels and structure, then the vendor's
class hooks (named constants in each module). `li[data-normalcy]` is ignored: it is always "Normal".
"""

from __future__ import annotations

from collections.abc import Callable

from selectolax.lexbor import LexborNode

from bridge.records import ParseResult, Patient

from ..base import Draft
from ..billing import read_bills
from ..page import Frame, Page
from ..skeleton import keep_text, note_context
from ..text import clean, paragraphs_of
from . import records, results
from .context import (
    is_record_frame,
    is_shell_frame,
    is_unaddressed_record,
    is_unaddressed_shell,
    kind_of,
    organization_of,
    pagelet_url,
    patient_of,
)
from .dom import select, text_of

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
    patient: Patient | None = None
    organization: str | None = None
    dob_shown = False
    for frame in frames:
        if patient is None:
            patient, dob_shown = patient_of(frame)
        if organization is None:
            organization = organization_of(frame)
    note_context(draft, patient, organization, dob_unreadable=dob_shown)


def _thread(frame: Frame, root: LexborNode, draft: Draft) -> None:
    own = {clean(text_of(n)) for n in frame.css(USER_NAME)}
    own.add(draft.patient.name if draft.patient else None)
    records.parse_thread(root, draft, frozenset(n.lower() for n in own if n))


def _results(frame: Frame, root: LexborNode, draft: Draft) -> bool:
    if "/health-record/imaging" in frame.path:
        return results.parse_imaging(frame, root, draft)
    return results.parse_results(frame, root, draft)


# Page kind -> its reader; a reader's True says an empty page explained itself with a warning.
Reader = Callable[[Frame, LexborNode, Draft], bool | None]
READERS: dict[str, Reader] = {
    "test_result_list": _results,
    "test_result": results.parse_imaging,
    "note_list": lambda frame, root, draft: records.parse_notes(root, draft),
    "message_list": records.parse_message_list,
    "message_thread": _thread,
    "appointment_list": lambda frame, root, draft: records.parse_appointments(root, draft),
    "medication_list": lambda frame, root, draft: records.parse_medications(root, draft),
    "immunization_list": lambda frame, root, draft: records.parse_immunizations(root, draft),
    "allergy_list": lambda frame, root, draft: records.parse_allergies(root, draft),
    "problem_list": lambda frame, root, draft: records.parse_problems(root, draft),
}


def _parse_record_frame(frame: Frame, kind: str, draft: Draft) -> bool:
    """Read one record-host document into the draft; returns whether an empty page explained itself."""
    root: LexborNode | None = frame.css_first(MAIN) or frame.body
    if root is None:
        return False
    for alert in select(root, ERROR_ALERT):
        if text_of(alert):
            draft.warn(f"the portal reported an error: {text_of(alert)}")
    reader = READERS.get(kind)
    if reader is not None:
        return bool(reader(frame, root, draft))
    if kind == "billing" and _read_bills(root, draft):
        return False
    # A section this parser has no reader for (procedures, health content): keep its text.
    keep_text(draft, paragraphs_of(root), lambda: text_of(frame.css_first("h1")) or _head_title(frame))
    return False


def _head_title(frame: Frame) -> str | None:
    head_title = frame.css_first("title")
    return clean(head_title.text() if head_title else None)


def _read_bills(root: LexborNode, draft: Draft) -> bool:
    """Billing (no page modeled): statements read by their labels (billing is vendor-neutral); False
    when none is found, so that the page's text is kept instead."""
    before = len(draft.records)
    read_bills(root, draft)
    return len(draft.records) > before


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
        return draft.result(explained=_parse_record_frame(frame, draft.page_kind, draft))
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
    return draft.result(explained=True)
