"""Epic MyChart, classic pages: the server-rendered (ASP.NET + Handlebars) generation.

Page kinds read: `test_result` (order detail, lab or imaging), `test_result_list` (the result list and
one component's history table), `medication_list`, `immunization_list`, `allergy_list`,
`problem_list`, `billing`, `health_summary` (Home: the upcoming visits), `appointment_list` (the
Visits page, or any other page of visit cards: upcoming ones scheduled, past ones completed, a
"Canceled" badge cancelled). Any other classic page becomes one `document` record with the main
content's text.

Claiming: the URL path must not be a PX (`/app/...`) path and must look like a classic route
(`inside.asp`, `Home`, `Clinical/*`, `Billing/*`, ... after any prefix: `/MyChart`, `/MyChartPRD`,
`/mychart` or none), and the markup must carry the classic layout's fingerprint (the
`md_<area>_<controller>_<action>` body class, the `$$WP` settings, the proxy menu, or one of the
content hooks below). An unknown path is claimed only on a strong fingerprint. Never the host.

Order of extraction: the page kind from the content hooks (then the body class, then the path);
whose record it is from the print header (`Name: … | DOB: …`), else the proxy menu's current
entry, else Home's "You're viewing …" line; the organization from the header logo's `alt`, else the
footer. Then the kind's reader (`classic_results`, `classic_lists`).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from bridge.records import ParseResult, Patient

from ..base import Draft
from ..page import Frame, Page
from ..skeleton import first_present, keep_text, note_context
from ..text import clean, paragraphs_of
from . import classic_lists, classic_results
from .classic_common import Node, Root, classes, date_field, first, first_value, raw_text

VENDOR = "epic_mychart"
Reader = Callable[[Node, Draft], None]

# Content hooks, in priority order: selector -> (page kind, reader).
KIND_HOOKS: tuple[tuple[str, tuple[str, Reader]], ...] = (
    ("#TestResultsDetailPage", ("test_result", classic_results.read_detail)),
    ("h1.resultNameHeading", ("test_result", classic_results.read_detail)),
    ("table.TRPTableList", ("test_result_list", classic_results.read_trend)),
    ("ul.TestResultsList", ("test_result_list", classic_results.read_list)),
    ("#MedicationsPageContent", ("medication_list", classic_lists.read_medications)),
    ("#ImmunizationsPageContent", ("immunization_list", classic_lists.read_immunizations)),
    ("#AllergiesPageContent", ("allergy_list", classic_lists.read_allergies)),
    ("#HealthIssuesPageContent", ("problem_list", classic_lists.read_problems)),
    ("#BillingSummaryPageContent", ("billing", classic_lists.read_billing)),
    (".ba_card", ("billing", classic_lists.read_billing)),
    ("#HomePage", ("health_summary", classic_lists.read_home)),
    ("#UpcomingVisitsCard", ("health_summary", classic_lists.read_home)),
)
# `md_<area>_<controller>_<action>` body classes (and route tails) when the content hook is missing,
# e.g. an empty list that renders only a "no data" line.
ROUTE_KINDS: dict[str, tuple[str, Reader]] = {
    "home": ("health_summary", classic_lists.read_home),
    "clinical_testresults_details": ("test_result", classic_results.read_detail),
    "clinical_testresults": ("test_result_list", classic_results.read_list),
    "clinical_medications": ("medication_list", classic_lists.read_medications),
    "clinical_immunizations": ("immunization_list", classic_lists.read_immunizations),
    "clinical_allergies": ("allergy_list", classic_lists.read_allergies),
    "clinical_healthissues": ("problem_list", classic_lists.read_problems),
    "billing_summary": ("billing", classic_lists.read_billing),
}
# Routes matched whole: `Visits/VisitDetails` and the like are other pages than the visit list.
EXACT_ROUTE_KINDS: dict[str, tuple[str, Reader]] = {
    "visits": ("appointment_list", classic_lists.read_visits),
    "visits_index": ("appointment_list", classic_lists.read_visits),
}
# Visit cards outside Home (the Visits page has no confirmed hook of its own).
VISIT_CARDS = "li.visit .visitType"
# Hooks distinctive enough to count as a fingerprint (not `#HomePage` or `.printheader`, which any site
# might use).
_EPIC_HOOKS = ", ".join(
    ["a.proxySubjectLink", "span.proxySelectorDropDownNameEllipsis"]
    + [s for s, _ in KIND_HOOKS if s not in {"#HomePage"}]
)
_BODY_CLASS = re.compile(r"^md_(?!px_)(?P<route>[a-z0-9]+(?:_[a-z0-9]+)+)$")
# First path segments (after any prefix) of classic routes, lower-cased.
CLASSIC_ROUTES = frozenset(
    {
        "inside.asp",
        "home",
        "clinical",
        "billing",
        "visits",
        "messaging",
        "healthsummary",
        "healthadvisories",
        "documents",
        "personalinformation",
        "preferences",
        "insurance",
        "friendsandfamily",
        "shareeverywhere",
        "security",
        "letters",
        "questionnaires",
        "scheduling",
        "default.asp",
        "careteam",
        "medicaladvice",
    }
)
_PROXY_CURRENT = "a.proxySubjectLink.currentContext, a.proxySubjectLink[aria-current='true']"
_PRINT_FIELD_END = r"(?=\||\bDOB:|\bMRN:|\bPCP:|$)"
_PRINT_NAME = re.compile(rf"\bName:\s*(?P<v>.+?)\s*{_PRINT_FIELD_END}", re.I)
_PRINT_DOB = re.compile(rf"\bDOB:\s*(?P<v>.+?)\s*{_PRINT_FIELD_END}", re.I)
_VIEWING = re.compile(r"\byou(?:'|’)re viewing\s+(?P<v>.+?)\.?\s*$", re.I)
_GENERIC_LOGO = re.compile(r"^(?:my\s?chart|logo|home|.*\blogo)$", re.I)
_COPYRIGHT = re.compile(r"^(?:©|\(c\)|copyright)?\s*(?:\d{4}(?:\s*[-–]\s*\d{4})?)?\s*(?:©)?\s*", re.I)


# --- claiming -----------------------------------------------------------------------------------


def _segments(path: str) -> list[str]:
    return [s for s in path.lower().split("/") if s]


def _is_px_path(segments: list[str]) -> bool:
    return "app" in segments


def _route_shape(segments: list[str]) -> bool:
    """A classic route after any prefix, or the bare instance root (`/`, `/MyChart/`)."""
    if len(segments) <= 1 and not any("." in s for s in segments):
        return True
    return any(s in CLASSIC_ROUTES for s in segments[:3])


def _body_route(frame: Frame) -> str | None:
    """`md_clinical_testresults_details` -> "clinical_testresults_details"; None for PX or no class."""
    body = frame.body
    for name in classes(body):
        m = _BODY_CLASS.match(name)
        if m:
            return m["route"]
    return None


def _is_classic(frame: Frame, route_shape: bool) -> bool:
    """Whether the markup says "classic MyChart" strongly enough: two of the body route class, the
    `$$WP` globals and the Epic hooks, or one of them on a classic route. The hooks are a walk over the
    whole tree, so they are looked for only when they decide (most pages of other portals have a
    classic-looking path of neither, and are settled without it)."""
    body = frame.body
    if body is None or any(name.startswith("md_px_") for name in classes(body)):
        return False
    score = int(_body_route(frame) is not None) + int("$$WP" in frame.html)
    if score >= 2 or (score == 1 and route_shape):
        return True
    if score == 0 and not route_shape:
        return False  # the hooks alone would score 1, off a classic route: not enough
    return frame.css_first(_EPIC_HOOKS) is not None


def _classic_frame(page: Page) -> Frame | None:
    for frame in page.frames or [page.top]:
        segments = _segments(frame.path)
        if _is_px_path(segments):
            continue
        if _is_classic(frame, _route_shape(segments)):
            return frame
    return None


def can_parse(page: Page) -> bool:
    if _is_px_path(_segments(page.path)):
        return False
    return _classic_frame(page) is not None


# --- whose record, which organization -----------------------------------------------------------


def patient_of(tree_root: Root) -> Patient | None:
    """The person whose record is shown: under proxy access the family member, not the caregiver."""
    for header in tree_root.css("div.printheader, .printheader"):
        text = raw_text(header) or ""
        name = _PRINT_NAME.search(text)
        if name:
            dob = _PRINT_DOB.search(text)
            return Patient(
                name=clean(name["v"]), dob=date_field(dob["v"] if dob else None, "DOB", lambda _: None)
            )
    current = tree_root.css_first(_PROXY_CURRENT)
    if current is None:
        current = next(
            (
                a
                for a in tree_root.css("a.proxySubjectLink")
                if (a.attributes.get("title") or "").lower().startswith("currently accessing")
            ),
            None,
        )
    if current is not None:
        name_text = raw_text(current.css_first("span.proxySelectorDropDownNameEllipsis"))
        if name_text:
            return Patient(name=name_text, dob=None)
    welcome = first_value(tree_root, "h1.welcomeMessage", ".welcomeMessage")
    m = _VIEWING.search(welcome or "")
    if m:
        return Patient(name=clean(m["v"]), dob=None)
    button_name = raw_text(tree_root.css_first("#proxyMenuButton .proxyCurrentName, .proxyCurrentName"))
    if button_name:
        return Patient(name=button_name, dob=None)
    return None


def organization_of(tree_root: Root) -> str | None:
    logo = first(tree_root, "#header .hdr_logo img.logo", "#header img.logo", ".hdr_logo img", "img.logo")
    alt = clean(logo.attributes.get("alt")) if logo is not None else None
    if alt and not _GENERIC_LOGO.match(alt):
        return alt
    footer = first_value(tree_root, ".footer_org")
    if footer:
        return clean(_COPYRIGHT.sub("", footer)) or None
    return None


# --- parse --------------------------------------------------------------------------------------


def _kind(frame: Frame) -> tuple[str, Reader | None]:
    candidates = [_body_route(frame) or ""]
    segments = _segments(frame.path)
    candidates.append("_".join(segments[-2:]))
    candidates.append(segments[-1] if segments else "")
    if any(route in EXACT_ROUTE_KINDS for route in candidates) and frame.css_first(VISIT_CARDS) is not None:
        # The Visits page may reuse Home's "Upcoming Visits" card: it is still the visit list.
        return "appointment_list", classic_lists.read_visits
    hooked = first_present(KIND_HOOKS, frame.css_first)
    if hooked is not None:
        return hooked
    for route in candidates:
        if route in EXACT_ROUTE_KINDS:
            return EXACT_ROUTE_KINDS[route]
        for key, (kind, reader) in ROUTE_KINDS.items():
            if route == key or route.startswith(key + "_"):
                return kind, reader
    if frame.css_first(VISIT_CARDS) is not None:
        return "appointment_list", classic_lists.read_visits
    return "unknown", None


def _main(root: Root) -> Node | None:
    return first(root, "main#main", "main", "[role='main']", "#main")


def _document(frame: Frame, page: Page, draft: Draft) -> None:
    """A classic page no reader knows: its main text, so nothing captured is unreadable."""
    if frame.css_first("input[type='password']") is not None:
        draft.warn("the page is a sign-in page and shows nothing clinical")
        return
    main = _main(frame.tree)
    keep_text(
        draft,
        paragraphs_of(main),
        lambda: first_value(main, "h1") or clean(page.title) or first_value(frame.tree, "title"),
    )


def parse(page: Page) -> ParseResult:
    frame = _classic_frame(page) or page.top
    draft = Draft(vendor=VENDOR)
    tree = frame.tree
    note_context(draft, patient_of(tree), organization_of(tree), dob=False)
    kind, reader = _kind(frame)
    draft.page_kind = kind
    root = _main(tree) or tree.body
    if reader is None:
        _document(frame, page, draft)
    elif root is not None:
        reader(root, draft)
    return draft.result()
