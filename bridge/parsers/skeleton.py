"""The vendor skeleton: what every portal parser does the same way, so that a vendor package
(`bridge/parsers/<vendor>/`, with base.py's `NAME`, `VERSION`, `can_parse`, `parse`) holds only what
differs: its URL shapes, fingerprints, hooks and readers.

- Claiming: `claims` (the URL path first, then the top frame's markup; never the host) and
  `fingerprinted` (marks in the markup).
- Whose record and which organization: `note_context`, with the warnings in one wording.
- Page-kind dispatch as data: `first_present` (markup hooks -> what to read) and `first_matching`
  (URL or route patterns -> what to read).
- The document fallback: `keep_text`, one `document` record of the readable text, so that a page no
  reader fits is never lost.

The readers below these are shared too: text (`text.walk` and its styles), labels, `dt`/`dd` pairs and
tables (`labels`, `dom`), values, flags and refills (`values`), billing by labels (`billing`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import TypeVar

from selectolax.lexbor import LexborNode

from bridge.records import Document, Patient

from .base import Draft
from .page import Frame, Page

T = TypeVar("T")

# One wording per gap, whichever portal it is (the generic parser, which reads labels rather than a
# portal's header, keeps its own: "the page does not label whose record it is").
NO_PATIENT = "the page does not say whose record it shows"
NO_DOB = "patient date of birth is not shown on the page"
DOB_UNREADABLE = "patient date of birth could not be read"
NO_ORGANIZATION = "the page does not name the organization"


def claims(page: Page, path: Callable[[Page], bool], markup: Callable[[Frame], bool]) -> bool:
    """A vendor's page: its URL path has the vendor's shape and its top frame the vendor's markup."""
    return bool(page.frames) and path(page) and markup(page.top)


def fingerprinted(html: str, marks: Iterable[str]) -> bool:
    return any(mark in html for mark in marks)


def note_context(
    draft: Draft,
    patient: Patient | None,
    organization: str | None,
    *,
    dob: bool = True,
    dob_unreadable: bool = False,
    named_organization: bool = True,
    why_no_patient: str | None = None,
) -> None:
    """Set whose record it is and the organization, warning of each gap: a missing patient always; a
    missing date of birth unless `dob` is False (a portal that never shows it), in the words of
    `dob_unreadable` when one is shown but could not be read; a missing organization unless
    `named_organization` is False (a portal whose pages do not reliably name it). `why_no_patient` says
    more precisely why there is no patient (the page names two)."""
    draft.patient = patient
    draft.organization = organization
    if patient is None:
        draft.warn(why_no_patient or NO_PATIENT)
    elif dob and patient.dob is None:
        draft.warn(DOB_UNREADABLE if dob_unreadable else NO_DOB)
    if named_organization and organization is None:
        draft.warn(NO_ORGANIZATION)


def first_present(hooks: Iterable[tuple[str, T]], find: Callable[[str], LexborNode | None]) -> T | None:
    """What the first selector that `find` finds stands for: markup dispatch as data."""
    for selector, value in hooks:
        if find(selector) is not None:
            return value
    return None


def first_matching(patterns: Iterable[tuple[re.Pattern[str], T]], text: str) -> T | None:
    """What the first pattern found in `text` (a path, a route) stands for: URL dispatch as data."""
    for pattern, value in patterns:
        if pattern.search(text):
            return value
    return None


def keep_text(
    draft: Draft, text: str | None, title: Callable[[], str | None], default: str | None = "Saved page"
) -> bool:
    """A page (or section) no reader fits: keep its readable text as one `document`, so that nothing
    captured is lost. The title (the page's heading, else its title) is looked up only when there is
    text. Returns whether a record was kept."""
    if not text:
        return False
    draft.records.append(Document(title=title() or default, occurred_at=None, text=text))
    return True
