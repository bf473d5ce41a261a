"""Oracle Health (Cerner) page context: which frame is which, what kind of page, whose record, which system.

Two hosts serve an Oracle Health portal. The *shell* serves `/pages/...` routes (header, navigation,
an `iframe.pagelet-frame`); the *record host* serves `/person/{person_id}/...` documents that hold the
record itself. Both are recognised by URL path shape plus a markup fingerprint, never by host name.

The patient is the person whose record is shown (the proxy subject), read from the "Viewing:" header
(`#person-context`), else from the Switch Profile menu entry whose `data-person-id` matches the URL.
The logged-in representative in `.user-menu-name` is never the patient.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from selectolax.lexbor import LexborNode

from bridge.records import Patient

from ..dates import parse_date
from ..dom import has_class
from ..labels import attr
from ..page import Frame
from ..skeleton import first_matching, first_present
from ..text import clean
from .dom import text_of

# URL path shapes.
RECORD_PATH = re.compile(r"^/person/(?P<pid>\d+)(?:/(?P<rest>.*))?$")
SHELL_PATH = re.compile(r"^/pages(?:/(?P<route>.*))?$")

# Markup fingerprints (vendor CSS classes, kept here as named constants).
RECORD_FINGERPRINT = (
    "body.consumer-pagelet, main.consumer-main, .consumer-card-item, .consumer-card-header, "
    ".consumer-header, #person-context.person-context"
)
SHELL_FINGERPRINT = (
    "iframe.pagelet-frame, iframe#pagelet-frame, .pagelet-container[data-pagelet], "
    "#person-context .person-context-name, a.switch-profile-item[data-person-id]"
)
PAGELET_FRAME = "iframe.pagelet-frame[src], iframe#pagelet-frame[src], iframe[name=pagelet][src]"
PAGELET_CONTAINER = ".pagelet-container[data-pagelet]"

PERSON_CONTEXT = "#person-context, .person-context"
PERSON_NAME = ".person-context-name"
PERSON_DOB = ".person-context-dob"
CONTEXT_NOISE = frozenset({"person-context-label", "person-context-dob", "sr-only", "label"})
SWITCH_PROFILE = "a.switch-profile-item"
PROFILE_NOISE = frozenset({"relationship", "sr-only", "label"})  # "Mother", "Self": not the name
BRAND_NAME = ".consumer-brand-name"
BRAND_LOGO = ".consumer-brand img[alt], .portal-brand img[alt], img.consumer-brand-logo[alt]"
FOOTER_COPY = ".consumer-footer-copy, footer p, [role=contentinfo] p"

_US_DATE = re.compile(r"\b\d{1,2}/\d{1,2}/\d{2,4}\b")
_COPYRIGHT = re.compile(
    r"©\s*(?:\d{4}(?:\s*[-–]\s*\d{4})?\s*,?\s*)?(?P<org>.+?)(?:\.?\s*All rights reserved.*)?$", re.I
)

# Record-host sections (the path after /person/{id}/) -> page kind; first match wins.
RECORD_KINDS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^health-record/results\b"), "test_result_list"),
    (re.compile(r"^health-record/imaging/studies/[^/]+"), "test_result"),
    (re.compile(r"^health-record/imaging\b"), "test_result_list"),
    (re.compile(r"^health-record/open-notes\b"), "note_list"),
    (re.compile(r"^health-record/medications\b"), "medication_list"),
    (re.compile(r"^health-record/allergies\b"), "allergy_list"),
    (re.compile(r"^health-record/immunizations\b"), "immunization_list"),
    (re.compile(r"^health-record/(problems|health-issues)\b"), "problem_list"),
    (re.compile(r"^messaging/conversations?/"), "message_thread"),
    (re.compile(r"^messaging\b"), "message_list"),
    (re.compile(r"^scheduling\b"), "appointment_list"),
    (re.compile(r"^billing\b"), "billing"),
)
# Shell routes (the path after /pages/) -> page kind.
SHELL_KINDS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^health_record/results\b"), "test_result_list"),
    (re.compile(r"^health_record/imaging\b"), "test_result_list"),
    (re.compile(r"^health_record/(open_notes|clinical[-_]documents)\b"), "note_list"),
    (re.compile(r"^health_record/comprehensive_record/health_summar"), "health_summary"),
    (re.compile(r"^health_record/allergies\b"), "allergy_list"),
    (re.compile(r"^health_record/immunizations\b"), "immunization_list"),
    (re.compile(r"^health_record/(problems|health_issues|conditions)\b"), "problem_list"),
    (re.compile(r"^(health_record/)?medications\b"), "medication_list"),
    (re.compile(r"^messaging/conversations?\b"), "message_thread"),
    (re.compile(r"^messaging\b"), "message_list"),
    (re.compile(r"^scheduling\b"), "appointment_list"),
    (re.compile(r"^billing\b"), "billing"),
)
# When the URL says nothing useful (a page saved without its address): the markup decides.
MARKUP_KINDS: tuple[tuple[str, str], ...] = (
    (".imaging-report", "test_result"),
    ("#labs, ul.labs-list, li.history-row", "test_result_list"),
    (".message-thread, li.message", "message_thread"),
    (".message-folder, table.message-list", "message_list"),
    ("li.appointment-card", "appointment_list"),
    ("li.medication-item", "medication_list"),
    ("li.immunization-dose", "immunization_list"),
    ("li.allergy-item", "allergy_list"),
    ("li.problem-item, .problems-list", "problem_list"),
    (".open-note, a.document-view", "note_list"),
)


def person_id_of(frame: Frame) -> str | None:
    m = RECORD_PATH.match(frame.path)
    return m["pid"] if m else None


def is_record_frame(frame: Frame) -> bool:
    """A record-host document: `/person/<digits>/...` with the consumer pagelet markup."""
    return (
        bool(RECORD_PATH.match(frame.path))
        and bool(frame.html)
        and frame.css_first(RECORD_FINGERPRINT) is not None
    )


def is_shell_frame(frame: Frame) -> bool:
    """The portal shell: a `/pages/...` route with the pagelet frame or the person header."""
    return (
        bool(SHELL_PATH.match(frame.path))
        and bool(frame.html)
        and frame.css_first(SHELL_FINGERPRINT) is not None
    )


def is_unaddressed_record(frame: Frame) -> bool:
    """A record-host document saved without its URL: only the strongest fingerprint counts."""
    return frame.path == "/" and frame.css_first("body.consumer-pagelet[data-person-id]") is not None


def is_unaddressed_shell(frame: Frame) -> bool:
    """A shell saved without its URL: the pagelet frame inside its container, pointing at a record URL."""
    if frame.path != "/" or frame.css_first(".pagelet-container[data-pagelet] iframe.pagelet-frame") is None:
        return False
    inner = pagelet_url(frame)
    return bool(inner and RECORD_PATH.match(urlsplit(inner).path))


def _record_kind(rest: str | None) -> str | None:
    return first_matching(RECORD_KINDS, rest or "")


def kind_of(frame: Frame) -> str:
    """The page kind: from the URL path first (the README's rule), else from the markup.

    A shell takes the kind of the record URL its frame loads (the most precise name of the
    section), else the kind of its own route.
    """
    m = RECORD_PATH.match(frame.path)
    if m:
        kind = _record_kind(m["rest"])
        if kind:
            return kind
    else:
        inner = pagelet_url(frame)
        r = RECORD_PATH.match(urlsplit(inner).path) if inner else None
        kind = _record_kind(r["rest"]) if r else None
        if kind:
            return kind
        s = SHELL_PATH.match(frame.path)
        if s:
            return first_matching(SHELL_KINDS, s["route"] or "") or "unknown"
    return first_present(MARKUP_KINDS, frame.css_first) or "unknown"


def pagelet_url(frame: Frame) -> str | None:
    """The record-host URL a shell page loads into its frame."""
    node = frame.css_first(PAGELET_FRAME)
    if node is not None and attr(node, "src"):
        return attr(node, "src")
    node = frame.css_first(PAGELET_CONTAINER)
    if node is not None and attr(node, "data-pagelet"):
        return attr(node, "data-pagelet")
    values = parse_qs(urlsplit(frame.url).query).get("pagelet")
    return clean(values[0]) if values else None


def _dob(node: LexborNode | None) -> str | None:
    text = text_of(node)
    if not text:
        return None
    m = _US_DATE.search(text)
    return parse_date(m.group(0) if m else re.sub(r"(?i)\b(dob|date of birth|born)\b:?", " ", text))


def _switch_profile_name(frame: Frame, pid: str | None) -> str | None:
    """The active profile in the Switch Profile menu (the URL's person id, else the checked entry)."""
    items = frame.css(SWITCH_PROFILE)
    chosen = None
    if pid:
        chosen = next((i for i in items if i.attributes.get("data-person-id") == pid), None)
    if chosen is None:
        chosen = next(
            (i for i in items if i.attributes.get("aria-checked") == "true" or has_class(i, "is-current")),
            None,
        )
    if chosen is None:
        return None
    bdi = chosen.css_first("bdi")
    return text_of(bdi) if bdi is not None else text_of(chosen, PROFILE_NOISE)


def patient_of(frame: Frame) -> tuple[Patient | None, bool]:
    """(patient, whether a DOB element was shown). None when the page names no patient at all."""
    ctx = frame.css_first(PERSON_CONTEXT)
    name = dob = None
    dob_shown = False
    if ctx is not None:
        name_node = ctx.css_first(PERSON_NAME) or ctx.css_first("bdi")
        # Without its name hook: the header's text without "Viewing:" and the DOB.
        name = text_of(name_node) if name_node is not None else text_of(ctx, CONTEXT_NOISE)
        dob_node = ctx.css_first(PERSON_DOB)
        dob_shown = dob_node is not None
        dob = _dob(dob_node)
    if not name:
        pid = person_id_of(frame) or (ctx.attributes.get("data-person-id") if ctx is not None else None)
        name = _switch_profile_name(frame, pid)
    if not name and not dob:
        return None, False
    return Patient(name=name, dob=dob), dob_shown


def organization_of(frame: Frame) -> str | None:
    """The health system: the header brand name, else the brand logo's alt text, else the footer's ©."""
    name = text_of(frame.css_first(BRAND_NAME))
    if name:
        return name
    for img in frame.css(BRAND_LOGO):
        alt = attr(img, "alt")
        if alt:
            return alt
    for node in frame.css(FOOTER_COPY):
        text = text_of(node)
        if text and "©" in text:
            m = _COPYRIGHT.search(text)
            if m:
                return clean(m["org"].rstrip("."))
    return None
