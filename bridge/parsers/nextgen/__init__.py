"""NextGen Patient Portal (PxP): the Angular app at `/<practice-slug>-<id>/portal/#/...`.

Page kinds read (the routed page component decides; the hash route says the same and is the fallback):

| component | page_kind | reader |
| --- | --- | --- |
| `pxp-result-detail` (`mat-card.pxp-result-card`, lab or imaging) | `test_result` | read_result_detail |
| `pxp-results-list` | `test_result_list` | read_result_list |
| `pxp-message-thread` | `message_thread` | read_message_thread |
| `pxp-appointments` (active tab only) | `appointment_list` | read_appointments |
| `pxp-hr-medications` inside `pxp-health-records` | `medication_list` | read_medications |
| `pxp-documents` showing a Patient Visit Summary | `visit` | read_visit_summary |
| `pxp-documents` showing another document (a letter) | `note` | read_document |
| `pxp-documents` with no document open | `note_list` | read_document_list |
| Health Records Allergies / Immunizations / Problems (a guess: see `records`) | `allergy_list`, ... | read_allergies, ... |
| `pxp-statements` or `#/statements` (a guess: read by labels, `..billing`) | `billing` | read_bills |
| any other PxP page (dashboard, ...) | `unknown` | one `document` with the main text |

Claiming: the `pxp-root` app element, or a `/<practice>-<id>/portal/` path together with Angular PxP
markup (`ng-version` plus `pxp-*` classes); never the host.

Order of extraction: the patient is the account being viewed (the sidenav patient card, the header
patient selector and the trusted-representative banner, which must agree, else null), never the
signed-in user (`.pxp-header__user-name`: under proxy access that is the caregiver). The organization is the header's
practice name, then the logo's alt text, then the footer. Then the page's reader (`pages`).
See fixtures/portal_pages/nextgen/README.md for what is real and what is a guess.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urlsplit

from selectolax.lexbor import LexborNode

from bridge.records import ParseResult, Patient

from ..base import Draft, ParseError
from ..billing import read_bills
from ..dates import parse_date
from ..page import Page
from ..skeleton import first_matching, first_present, keep_text, note_context
from ..text import clean
from . import pages, records
from .common import (
    SEL_FOOTER_PRACTICE,
    SEL_LOGO,
    SEL_MAIN,
    SEL_PAGE_TITLE,
    SEL_PATIENT_DOB,
    SEL_PATIENT_NAME,
    SEL_PRACTICE,
    SEL_REP_BANNER,
    SEL_ROOT,
    SEL_SELECTOR_NAME,
    SEL_SELECTOR_TRIGGER,
    br_paragraphs,
    first,
    select,
    text_at,
    text_of,
)

NAME = "nextgen"
VERSION = "1"

# `/<practiceslug>-<id>/portal/` (the one real, public fact about PxP URLs); the route is in the hash.
_PATH = re.compile(r"^/[a-z0-9][a-z0-9_.-]*-\d+/portal(?:/|$)", re.I)
# Markup fingerprints: the app root element, else the PxP component prefix on an Angular page.
_FINGERPRINT_STRONG = SEL_ROOT
_FINGERPRINT_WEAK = "[class*='pxp-'], pxp-header, pxp-footer"

Reader = Callable[[LexborNode, Draft], None]
# Routed component -> (page_kind, reader). Checked in order; the first present wins.
COMPONENTS: tuple[tuple[str, tuple[str, Reader]], ...] = (
    ("pxp-result-detail, mat-card.pxp-result-card", ("test_result", pages.read_result_detail)),
    ("pxp-results-list", ("test_result_list", pages.read_result_list)),
    ("pxp-message-thread", ("message_thread", pages.read_message_thread)),
    ("pxp-appointments", ("appointment_list", pages.read_appointments)),
    ("pxp-hr-medications", ("medication_list", pages.read_medications)),
)
# Health Records sections the reference pages do not model (`records`: a guess, read by header
# text). Found by `pxp-hr-<section>` or the route; a section whose table is not understood stays a document.
HR_SECTIONS: tuple[tuple[str, str, Reader], ...] = (
    ("allergies", "allergy_list", records.read_allergies),
    ("immunizations", "immunization_list", records.read_immunizations),
    ("problems", "problem_list", records.read_problems),
)
GUESSED: frozenset[Reader] = frozenset(reader for _, _, reader in HR_SECTIONS)
# Hash route -> the same, for pages whose component element was renamed.
ROUTES: tuple[tuple[re.Pattern[str], tuple[str, Reader]], ...] = (
    (re.compile(r"^/?health-records/results/[^/?]+"), ("test_result", pages.read_result_detail)),
    (re.compile(r"^/?health-records/results/?(?:\?|$)"), ("test_result_list", pages.read_result_list)),
    (re.compile(r"^/?messages/[^/]+/[^/?]+"), ("message_thread", pages.read_message_thread)),
    (re.compile(r"^/?appointments"), ("appointment_list", pages.read_appointments)),
    (re.compile(r"^/?health-records/medications"), ("medication_list", pages.read_medications)),
)


def _route(page: Page) -> str:
    return urlsplit(page.url).fragment.lstrip("#")


def can_parse(page: Page) -> bool:
    """A PxP page: the app root element, or a `/<practice>-<id>/portal/` path with PxP markup.
    Never the host (practices embed the portal under their own domains)."""
    frame = page.top
    if not frame.html:
        return False
    if frame.css_first(_FINGERPRINT_STRONG) is not None:
        return True
    return (
        bool(_PATH.match(frame.path))
        and frame.css_first("[ng-version]") is not None
        and frame.css_first(_FINGERPRINT_WEAK) is not None
    )


def _patient(root: LexborNode) -> tuple[Patient | None, str | None]:
    """Whose account is shown: the sidenav patient card, the header patient selector (its text, then
    its aria-label) and the trusted-representative banner must agree; when they do not, the page is
    mid-switch and the patient is null rather than a guess (and the second value says so). The
    signed-in user is never read."""
    names: list[str] = []
    for value in (text_at(root, SEL_PATIENT_NAME), text_at(root, SEL_SELECTOR_NAME)):
        if value:
            names.append(value)
    for node in select(root, SEL_SELECTOR_TRIGGER):
        m = re.search(r"Current patient:\s*(.+)$", node.attributes.get("aria-label") or "")
        if m and (value := clean(m.group(1))):
            names.append(value)
            break
    banner = text_of(first(root, SEL_REP_BANNER))
    m = re.search(r"viewing\s+(.+?)(?:['’]s|['’])\s+account", banner or "", re.I)
    if m and (value := clean(m.group(1))):
        names.append(value)
    if not names:
        return None, None
    # A shorter form of the same name (the banner's "Ólafur's account") agrees with the full one.
    full = max(names, key=len)
    full_words = set(re.findall(r"\w+", full.casefold()))
    if all(set(re.findall(r"\w+", n.casefold())) <= full_words for n in names):
        names = [full]
    if len({n.casefold() for n in names}) > 1:
        return None, f"the page names more than one current patient ({', '.join(dict.fromkeys(names))})"
    return Patient(name=names[0], dob=parse_date(text_at(root, SEL_PATIENT_DOB))), None


def _organization(root: LexborNode) -> str | None:
    org = text_at(root, SEL_PRACTICE)
    if org is None:
        logo = first(root, SEL_LOGO)
        alt = clean(logo.attributes.get("alt")) if logo is not None else None
        org = clean(re.sub(r"\s+logo$", "", alt, flags=re.I)) if alt else None
    if org is None:
        footer = text_at(root, SEL_FOOTER_PRACTICE)
        org = clean(footer.split("·")[0]) if footer else None
    return org


# Statements (online payments) is a real PxP module, but no page of it is modeled: read by labels only
# (the shared `billing` reader, which keys on nothing vendor-specific).
SEL_STATEMENTS = "pxp-statements, pxp-statement-list, .pxp-page--statements"


def _read_statements(main: LexborNode, draft: Draft) -> None:
    read_bills(main, draft)


def _choose(root: LexborNode, page: Page) -> tuple[str, Reader] | None:
    chosen = first_present(COMPONENTS, lambda selector: first(root, selector))
    if chosen is not None:
        return chosen
    if first(root, "pxp-documents, .pxp-page--documents") is not None:
        if first(root, pages.SEL_DOC_VIEWER) is None:
            return "note_list", pages.read_document_list
        if pages.is_visit_summary(root):
            return "visit", pages.read_visit_summary
        return "note", pages.read_document
    route = _route(page)
    if first(root, SEL_STATEMENTS) is not None or re.match(r"^/?(statements|billing)\b", route):
        return "billing", _read_statements
    for section, kind, reader in HR_SECTIONS:
        if first(root, f"pxp-hr-{section}") is not None or re.match(rf"^/?health-records/{section}\b", route):
            return kind, reader
    return first_matching(ROUTES, route)


def parse(page: Page) -> ParseResult:
    draft = Draft(vendor=NAME)
    tree = page.top.tree
    root = tree.body or tree.root
    if root is None:
        return draft.result()
    try:
        patient, why_not = _patient(root)
        note_context(draft, patient, _organization(root), why_no_patient=why_not)
        _read(page, first(root, SEL_MAIN) or root, draft)
    except RecursionError as exc:  # pathological nesting: the generic parser (iterative) keeps the page
        raise ParseError("the page is nested too deeply to read") from exc
    return draft.result()


def _read(page: Page, main: LexborNode, draft: Draft) -> None:
    chosen = _choose(main, page)
    if chosen is not None:
        draft.page_kind, reader = chosen
        reader(main, draft)
        if draft.records or (reader not in GUESSED and reader is not _read_statements):
            return
    # A PxP page we have no reader for (dashboard, statements, ...): keep its main text.
    draft.page_kind = "unknown"
    keep_text(
        draft,
        br_paragraphs(main),
        lambda: text_at(main, SEL_PAGE_TITLE) or clean(page.title) or text_at(page.top.tree.root, "title"),
        None,
    )
