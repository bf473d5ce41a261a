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
from collections.abc import Callable

from selectolax.lexbor import LexborNode

from bridge.records import ParseResult, Patient

from ..base import Draft
from ..page import Frame, Page
from ..skeleton import claims, fingerprinted, first_matching, keep_text, note_context
from ..text import clean, paragraphs_of, text_of
from . import px_messages, px_results, px_summary, px_visits
from .px_context import Context as PxContext
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
    return claims(
        page, lambda p: activity(p.path) is not None, lambda top: fingerprinted(top.html, FINGERPRINTS)
    )


def _main(frame: Frame) -> LexborNode | None:
    return frame.css_first(MAIN) or frame.body


# Activity (the path after `/app/`) -> page kind, first match wins; the message center is decided by
# its content, the single-activity lists by LIST_ACTIVITIES.
ACTIVITY_KINDS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^test-results/details"), "test_result"),
    (re.compile(r"^test-results$"), "test_result_list"),
    (re.compile(r"^visits/past-details"), "visit"),
    (re.compile(r"^visits/note"), "note"),
    (re.compile(r"^(?:visits|visits/upcoming|visits/past|appointments)$"), "appointment_list"),
    (re.compile(r"^health-summary$"), "health_summary"),
)

Reader = Callable[[Draft, LexborNode, PxContext], object]


def _list_page(draft: Draft, main: LexborNode, ctx: PxContext) -> None:
    px_summary.parse_list_page(draft, main, draft.page_kind)


READERS: dict[str, Reader] = {
    "test_result": lambda draft, main, ctx: px_results.parse_detail(draft, main),
    "test_result_list": lambda draft, main, ctx: px_results.parse_list(draft, main, ctx.names()),
    "message_thread": px_messages.parse_thread,
    "message_list": lambda draft, main, ctx: px_messages.parse_conversation_list(draft, main),
    "visit": lambda draft, main, ctx: px_visits.parse_visit(draft, main),
    "note": lambda draft, main, ctx: px_visits.parse_note(draft, main),
    "appointment_list": lambda draft, main, ctx: px_visits.parse_appointments(draft, main),
    "health_summary": lambda draft, main, ctx: px_summary.parse_summary(draft, main),
    **dict.fromkeys(px_summary.LIST_PAGE_KINDS, _list_page),
}


def page_kind(act: str, main: LexborNode) -> str:
    if act.startswith("communication-center"):
        if px_messages.has_thread(main):
            return "message_thread"
        return "message_list" if act in {"communication-center", "communication-center/inbox"} else "unknown"
    return first_matching(ACTIVITY_KINDS, act) or LIST_ACTIVITIES.get(act, "unknown")


def parse(page: Page) -> ParseResult:
    frame = page.top
    draft = Draft(vendor=VENDOR)
    main = _main(frame)
    act = activity(page.path) or ""
    if main is None:
        draft.warn("the page has no content")
        return draft.result()
    ctx = read_context(frame, main)
    note_context(draft, Patient(name=ctx.patient, dob=ctx.dob) if ctx.patient else None, ctx.organization)
    draft.page_kind = page_kind(act, main)
    reader = READERS.get(draft.page_kind)
    if reader is not None:
        reader(draft, main, ctx)
    else:
        # A PX page of a kind not read yet: keep its readable main text, so nothing captured is lost.
        keep_text(
            draft,
            paragraphs_of(main),
            lambda: text_of(main.css_first("h1")) or clean(page.title),
            "MyChart page",
        )
    return draft.result()
