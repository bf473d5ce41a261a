"""Epic MyChart, the newer React ("PX") pages under `<prefix>/app/...`.

Claims a page when its URL path has an `/app/` segment (under any prefix: `/MyChart/app/`,
`/MyChartPRD/app/`, root `/app/`; never the host) and the markup carries the PX fingerprint (the
`pxbuild/epic.px.client.*` bundles, the `EpicPx` globals, or the `data-px-activity` root).

Page kinds, from the path after `/app/`, confirmed by the content:

| path | page_kind | module |
| --- | --- | --- |
| `test-results` | `test_result_list` | px_results |
| `test-results/details` | `test_result` | px_results |
| `communication-center/conversation` | `message_thread` | px_messages |
| `communication-center` (no open thread) | `message_list` | px_messages |
| `visits/past-details` | `visit` | px_visits |
| `visits/note` | `note` | px_visits |
| `visits` | `appointment_list` | px_visits |
| `health-summary` | `health_summary` | px_summary |
| `medications`, `allergies`, `immunizations`, `health-issues` | the matching `*_list` | px_summary |
| anything else | `unknown`, one `document` record of the main text | here |

Order of extraction on every page: the patient and organization from the header (px_context: the
patient chip, the patient menu, then the bootstrap script), then the page's own content, read only
inside `<main>` so that the menu drawer, dialogs and footer never leak into records. Hooks are
visible labels, headings, aria attributes and URL patterns; the few real vendor classes are named
constants in the modules that use them; hashed CSS-module classes are never read.
"""

from __future__ import annotations

import re

from selectolax.lexbor import LexborNode

from bridge.records import Document, ParseResult, Patient

from ..base import Draft
from ..page import Frame, Page
from ..text import clean, paragraphs_of, text_of
from . import px_messages, px_results, px_summary, px_visits
from .px_context import read_context

VENDOR = "epic_mychart"
_APP_PATH = re.compile(r"(?:^|/)app(?:/|$)(?P<activity>.*)", re.I)
FINGERPRINTS: tuple[str, ...] = (
    "epic.px.client",
    "/pxbuild/",
    "EpicPx",
    "webpackChunk_epic_px",
    "data-px-activity",
)
MAIN = "main, [role=main], #main"
# Single-activity list pages, read with the health summary's card readers. The activity names are not
# confirmed by public code; the page's own cards decide what is read.
LIST_ACTIVITIES: dict[str, str] = {
    "medications": "medication_list",
    "medication-list": "medication_list",
    "allergies": "allergy_list",
    "immunizations": "immunization_list",
    "health-issues": "problem_list",
    "problem-list": "problem_list",
    "problems": "problem_list",
}


def activity(path: str) -> str | None:
    """The path after the `/app/` segment, lower case, without a trailing slash ("" for `/app/`)."""
    m = _APP_PATH.search(path)
    if m is None:
        return None
    return m.group("activity").strip("/").lower()


def can_parse(page: Page) -> bool:
    if not page.frames or activity(page.path) is None:
        return False
    html = page.top.html
    return any(mark in html for mark in FINGERPRINTS)


def _main(frame: Frame) -> LexborNode | None:
    return frame.css_first(MAIN) or frame.body


def page_kind(act: str, main: LexborNode) -> str:
    if act.startswith("test-results/details"):
        return "test_result"
    if act == "test-results":
        return "test_result_list"
    if act.startswith("communication-center"):
        if px_messages.has_thread(main):
            return "message_thread"
        return "message_list" if act in {"communication-center", "communication-center/inbox"} else "unknown"
    if act.startswith("visits/past-details"):
        return "visit"
    if act.startswith("visits/note"):
        return "note"
    if act in {"visits", "visits/upcoming", "visits/past", "appointments"}:
        return "appointment_list"
    if act == "health-summary":
        return "health_summary"
    return LIST_ACTIVITIES.get(act, "unknown")


def parse(page: Page) -> ParseResult:
    frame = page.top
    draft = Draft(vendor=VENDOR)
    main = _main(frame)
    act = activity(page.path) or ""
    if main is None:
        draft.warn("the page has no content")
        return draft.result()
    ctx = read_context(frame, main)
    if ctx.patient:
        draft.patient = Patient(name=ctx.patient, dob=ctx.dob)
        if ctx.dob is None:
            draft.warn("patient date of birth is not shown on the page")
    else:
        draft.warn("the page does not say whose record it shows")
    draft.organization = ctx.organization
    if ctx.organization is None:
        draft.warn("the health system's name is not shown")

    kind = page_kind(act, main)
    draft.page_kind = kind
    if kind == "test_result":
        px_results.parse_detail(draft, main)
    elif kind == "test_result_list":
        px_results.parse_list(draft, main, ctx.names())
    elif kind == "message_thread":
        px_messages.parse_thread(draft, main, ctx)
    elif kind == "message_list":
        px_messages.parse_conversation_list(draft, main)
    elif kind == "visit":
        px_visits.parse_visit(draft, main)
    elif kind == "note":
        px_visits.parse_note(draft, main)
    elif kind == "appointment_list":
        px_visits.parse_appointments(draft, main)
    elif kind == "health_summary":
        px_summary.parse_summary(draft, main)
    elif kind in px_summary.LIST_PAGE_KINDS:
        px_summary.parse_list_page(draft, main, kind)
    else:
        _document(draft, main, page)
    return draft.result()


def _document(draft: Draft, main: LexborNode, page: Page) -> None:
    """A PX page of a kind not read yet: keep its readable main text, so nothing captured is lost."""
    text = paragraphs_of(main)
    title = text_of(main.css_first("h1")) or clean(page.title)
    if text:
        draft.records.append(Document(title=title or "MyChart page", occurred_at=None, text=text))
