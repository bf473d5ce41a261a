"""athenahealth Patient Portal ("Patient Portal powered by athenahealth").

Page kinds read (the page type is the `data-testid` of the first known element inside `main`; the
URL path says the same and is the fallback):

- `test-result-detail` (lab, imaging, other) -> `test_result`; `test-results-list` -> `test_result_list`
- `messages-page` with a `message-thread` -> `message_thread`; without one -> `message_list`
- `appointments-page` -> `appointment_list`; `medications-page` -> `medication_list`
- `visit-summary` -> `visit`; `visit-summaries-page` -> `visit_list`
- `allergies-page`, `immunizations-page`, `problems-page` -> the matching lists (markup modelled on the
  medications page: the reference README names only their routes)
- `billing-page` (or the `/billing` route) -> `billing`, read by visible labels (`..billing`: a
  guess, no billing page is modeled)
- any other page of the portal -> `unknown`, its main text kept as one `document` record

Order of extraction, per field: `data-testid` hooks and `<time datetime>` first, then visible labels
(`dt`/`dd` pairs, table headers), then the vendor's CSS classes (kept below as named constants).

Patient: the record being viewed, i.e. the proxy subject, never the logged-in caregiver. Taken from
the patient switcher's current name, else its selected option, else its aria-label, else the family
access banner; null when none of these is shown. `.pp-account-menu__name` (the caregiver) is never read.

Claiming: an athenahealth-shaped URL path (optionally behind a practice-id or locale prefix) plus a
markup fingerprint (the "powered by athenahealth" product string, the `#pp-config` practice config or
the portal's app shell). Never the host.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from selectolax.lexbor import LexborHTMLParser, LexborNode

from bridge.records import ParseResult, Patient

from .. import billing
from ..base import Draft
from ..page import Frame, Page
from ..skeleton import claims, first_matching, keep_text, note_context
from ..text import clean
from . import records, results
from .dom import first_text, is_root_path, paragraphs, route_path, text_of, tid, tid_text, when

NAME = "athenahealth"
VERSION = "1"

# Route prefixes of the portal app, optionally behind a practice id (`/98213/…`) or locale (`/es/…`).
_ROUTE = re.compile(
    r"^/(?:\d[\w-]*/|[a-z]{2}(?:-[a-z]{2})?/)?"
    r"(?P<route>home|test-results|messages|appointments|health-record|billing|health-reminders|account"
    r"|forms|documents|questionnaires|profile)(?:/|$)",
    re.I,
)
_BRAND = "athenahealth"

# The root `data-testid` inside `main` -> page kind.
ROOT_KINDS: dict[str, str] = {
    "test-result-detail": "test_result",
    "test-results-list": "test_result_list",
    "messages-page": "message_list",  # becomes message_thread when it holds a thread
    "message-thread": "message_thread",
    "appointments-page": "appointment_list",
    "medications-page": "medication_list",
    "visit-summary": "visit",
    "visit-summaries-page": "visit_list",
    "visit-summaries-list": "visit_list",
    "allergies-page": "allergy_list",
    "immunizations-page": "immunization_list",
    "problems-page": "problem_list",
    "billing-page": "billing",
    "billing-summary": "billing",
    "statements-page": "billing",
}
# URL path -> page kind, when the DOM shows no known root.
PATH_KINDS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"/test-results/[^/]+/[^/]+/?$"), "test_result"),
    (re.compile(r"/test-results/?$"), "test_result_list"),
    (re.compile(r"/messages/[^/]+/[^/]+/?$"), "message_thread"),
    (re.compile(r"/messages(?:/[^/]+)?/?$"), "message_list"),
    (re.compile(r"/appointments/?$"), "appointment_list"),
    (re.compile(r"/health-record/medications/?$"), "medication_list"),
    (re.compile(r"/health-record/allergies/?$"), "allergy_list"),
    (re.compile(r"/health-record/immunizations/?$"), "immunization_list"),
    (re.compile(r"/health-record/problems/?$"), "problem_list"),
    (re.compile(r"/health-record/visit-summaries/[^/]+/?$"), "visit"),
    (re.compile(r"/health-record/visit-summaries/?$"), "visit_list"),
    (re.compile(r"/billing(?:/[^/]+)?/?$"), "billing"),
)

# Vendor classes (fallbacks only).
CLS_APP = ".pp-app"
CLS_PRACTICE = ".pp-header__practice-name"
CLS_SWITCHER_NAME = ".pp-patient-switcher__name"
CLS_SWITCHER_DOB = ".pp-patient-switcher__dob"
CLS_OPTION_NAME = ".pp-patient-switcher__option-name"
CLS_OPTION_DOB = ".pp-patient-switcher__option-dob"
CLS_POWERED = ".pp-footer__powered"


# ---------------------------------------------------------------------------------------------
# Claiming
# ---------------------------------------------------------------------------------------------


def _path_shape_ok(url: str) -> bool:
    path = route_path(url)
    return bool(_ROUTE.match(path)) or is_root_path(path)


def _brand_marked(tree: LexborHTMLParser) -> bool:
    """The product string or the practice config that only this portal carries."""
    meta = tree.css_first('meta[name="application-name"]')
    if meta is not None and _BRAND in (meta.attributes.get("content") or "").lower():
        return True
    for node in tree.css(f"{CLS_POWERED}, footer p, footer span, footer a"):
        if "powered by athenahealth" in (text_of(node) or "").lower():
            return True
    config = tree.css_first("script#pp-config")
    if config is not None and _BRAND in (config.text(deep=True) or "").lower():
        return True
    return any(
        _BRAND in (link.attributes.get("href") or "").lower()
        for link in tree.css('link[rel="preconnect"], link[rel="dns-prefetch"]')
    )


def _shell_marked(tree: LexborHTMLParser) -> bool:
    """The portal's app shell: `#root > .pp-app` with the patient context and a known page root."""
    if tree.css_first(f'#root {CLS_APP}, [data-testid="app-root"]') is None:
        return False
    if tree.css_first('[data-testid="patient-context"], [data-testid="practice-name"]') is None:
        return False
    return any(tree.css_first(f'[data-testid="{testid}"]') is not None for testid in ROOT_KINDS)


def can_parse(page: Page) -> bool:
    return claims(
        page,
        lambda p: _path_shape_ok(p.url or p.top.url),
        lambda top: _brand_marked(top.tree) or _shell_marked(top.tree),
    )


# ---------------------------------------------------------------------------------------------
# Page context: patient, organization, page kind
# ---------------------------------------------------------------------------------------------

_YOU = re.compile(r"\s*\((?:you|yourself|me)\)\s*$", re.I)
_VIEWING_LABEL = re.compile(r"currently viewing\s+(?P<name>.+?)\s*\.?$", re.I)
_BANNER = re.compile(r"viewing\s+(?P<name>.+?)(?:'s|’s|'|’)\s+(?:health\s+)?record", re.I)
_NOT_A_NAME = re.compile(r"^(?:your\b|you\b|my\b|patient$|select\b)", re.I)


def _strip_you(name: str | None) -> str | None:
    """A shown name without "(you)" or a trailing "DOB: …"; None for "your record" and the like."""
    if not name:
        return None
    name = clean(re.sub(r"\s*\bDOB\b:?.*$", "", _YOU.sub("", name)))
    name = clean(_YOU.sub("", name or ""))
    return None if not name or _NOT_A_NAME.match(name) else name


def _patient(tree: LexborHTMLParser) -> Patient | None:
    """Whose record is shown: the switcher's current patient, never the account holder."""
    root = tree.body
    if root is None:
        return None
    context = tid(root, "patient-context")
    name = _strip_you(tid_text(root, "current-patient-name") or first_text(context, CLS_SWITCHER_NAME))
    dob_node = tid(root, "current-patient-dob") or (context.css_first(CLS_SWITCHER_DOB) if context else None)
    selected = None
    if context is not None:
        selected = context.css_first('[role="option"][aria-selected="true"]')
    if name is None and selected is not None:
        name = _strip_you(first_text(selected, CLS_OPTION_NAME) or text_of(selected))
    if name is None and context is not None:
        button = context.css_first("button[aria-label]")
        m = _VIEWING_LABEL.search(clean(button.attributes.get("aria-label")) or "") if button else None
        name = _strip_you(m["name"]) if m else None
    if name is None:
        banner = tid(root, "family-access-banner")
        m = _BANNER.search(text_of(banner) or "")
        name = _strip_you(m["name"]) if m else None
    if name is None:
        return None
    dob = when(dob_node, date_only=True) if dob_node is not None else None
    if dob is None and selected is not None and _strip_you(first_text(selected, CLS_OPTION_NAME)) == name:
        dob = when(selected.css_first(CLS_OPTION_DOB), date_only=True)
    return Patient(name=name, dob=dob)


def _organization(tree: LexborHTMLParser) -> str | None:
    root = tree.body
    name = tid_text(root, "practice-name") or first_text(root, CLS_PRACTICE)
    if name:
        return name
    config = tree.css_first("script#pp-config")
    if config is not None:
        try:
            data = json.loads(config.text(deep=True) or "{}")
        except ValueError:
            data = {}
        brand = data.get("brand") if isinstance(data, dict) else None
        practice = brand.get("practiceName") if isinstance(brand, dict) else None
        if isinstance(practice, str) and clean(practice):
            return clean(practice)
    # "<Page> | <Practice> | Patient Portal"
    title = tree.css_first("title")
    parts = [p for p in (clean(x) for x in (title.text() if title else "").split("|")) if p]
    return parts[1] if len(parts) == 3 else None


def _main(tree: LexborHTMLParser) -> LexborNode | None:
    return tree.css_first("main#main-content") or tree.css_first("main, [role=main]") or tree.body


def _root(main: LexborNode | None) -> tuple[LexborNode | None, str | None]:
    """The page's root element and its kind: the first known `data-testid` inside main."""
    if main is None:
        return None, None
    for node in main.css("[data-testid]"):
        kind = ROOT_KINDS.get(node.attributes.get("data-testid") or "")
        if kind is None:
            continue
        if kind == "message_list" and tid(node, "message-thread") is not None:
            kind = "message_thread"
        return node, kind
    return None, None


def _document(main: LexborNode | None, draft: Draft, title: Callable[[], str | None]) -> None:
    """A portal page no reader above fits: keep its readable main text so nothing is lost."""
    if main is None:
        return
    parts = [paragraphs(child) for child in main.iter() if child.tag not in {"nav", "aside", "form"}]
    keep_text(draft, "\n\n".join(p for p in parts if p), title, "athenahealth page")


# ---------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------


def _frame(page: Page) -> Frame:
    """The frame that holds the portal app (the top one in every capture seen so far)."""
    for frame in page.frames:
        if frame.css_first('main [data-testid], [data-testid="app-root"]') is not None:
            return frame
    return page.top


Reader = Callable[[LexborNode, str, Draft], None]
READERS: dict[str, Reader] = {
    "test_result": results.read_test_result,
    "test_result_list": results.read_test_result_list,
    "message_thread": records.read_message_thread,
    "message_list": records.read_message_list,
    "appointment_list": records.read_appointments,
    "medication_list": records.read_medications,
    "visit": records.read_visit,
    "visit_list": records.read_visit_list,
    "allergy_list": records.read_allergies,
    "immunization_list": records.read_immunizations,
    "problem_list": records.read_problems,
    "billing": lambda root, url, draft: billing.read_bills(root, draft),
}


def parse(page: Page) -> ParseResult:
    frame = _frame(page)
    tree = frame.tree
    url = page.url or frame.url
    draft = Draft(vendor=NAME)
    # The switcher shows no date of birth for most patients, and the practice is not always named.
    note_context(draft, _patient(tree), _organization(tree), dob=False, named_organization=False)
    main = _main(tree)
    # The page type from the DOM first; the URL path only when the DOM shows no known page root.
    root, kind = _root(main)
    from_dom = kind is not None
    if kind is None:
        kind = first_matching(PATH_KINDS, route_path(url))
        root = main
    draft.page_kind = kind or "unknown"
    reader = READERS.get(kind or "")
    if reader is not None and root is not None:
        reader(root, url, draft)
    if not draft.records and not from_dom:
        # Not a page we know, or one whose markup changed: keep its text so nothing is lost.
        _document(main, draft, lambda: first_text(main, "h1") or clean(page.title))
    return draft.result()
