"""Whose record a MyChart PX page shows, and which health system shows it.

Order of extraction for the patient (right or null, never a guess):

1. the patient chip in the header (`aria-label="Switch patients or choose from other account options"`):
   its visible, not aria-hidden, name, else the name in its `title` ("Currently accessing X's record");
   "Currently accessing your record" means the logged-in person's own record;
2. the checked entry of the patient menu (`role="menuitemradio"`, `aria-checked="true"`);
3. the bootstrap script's `proxySubjects.push({...isSelected...})` (an unverified flag: last);
4. an account with a single subject, its own: that subject.

The print-only banner's name is the last resort for the patient. The date of birth is read only where the page prints it next to a name that is the patient's: the
print-only banner (`Name: … | DOB: …`) or the health summary's patient card (`Date of birth:`).
The organization is the header logo's `alt`, else its link's "<Org> MyChart home" label, else the
bootstrap script's `brand.orgName`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from selectolax.lexbor import LexborNode

from ..dates import parse_date
from ..page import Frame
from ..text import clean, is_hidden, text_of
from .px_dom import descendants, raw_text

CHIP = '[aria-label="Switch patients or choose from other account options"]'
MENU_ITEMS = '[role="menuitemradio"]'
LOGO_LINK = 'a[aria-label$="MyChart home"]'
PRINT_BANNER = ".printheader"  # the one real class for the banner (named after the classic /Home page)
_ACCESSING = re.compile(r"currently accessing\s+(?P<who>.+?)(?:'s|’s)?\s+record\s*$", re.I)
_PUSH = re.compile(r"proxySubjects\.push\(\s*(\{.*?\})\s*\)", re.S)
_DISPLAY = re.compile(r'displayName\s*:\s*"((?:[^"\\]|\\.)*)"')
_FLAG = r"\s*:\s*(!0|!1|true|false)"
_BANNER = re.compile(r"Name:\s*(?P<name>[^|]+?)\s*\|.*?\bDOB:\s*(?P<dob>\d{1,2}/\d{1,2}/\d{2,4})", re.I)
_DOB_LABEL = re.compile(r"^(?:Date of birth|DOB|Birth date)\s*:?\s*(?P<dob>.+)$", re.I)
_ORG = re.compile(r'orgName\s*:\s*"((?:[^"\\]|\\.)*)"')


def same_person(a: str | None, b: str | None) -> bool:
    return bool(a and b and (clean(a) or "").casefold() == (clean(b) or "").casefold())


@dataclass
class Subject:
    name: str
    is_self: bool = False
    selected: bool = False


@dataclass
class Context:
    patient: str | None = None
    dob: str | None = None
    self_name: str | None = None
    subjects: list[Subject] = field(default_factory=list)
    organization: str | None = None

    def names(self) -> list[str]:
        found = [s.name for s in self.subjects]
        for extra in (self.patient, self.self_name):
            if extra and extra not in found:
                found.append(extra)
        return found


def _js_bool(text: str, name: str) -> bool | None:
    m = re.search(name + _FLAG, text)
    if not m:
        return None
    return m.group(1) in {"!0", "true"}


def script_subjects(frame: Frame) -> list[Subject]:
    """The `proxySubjects.push({...})` entries of the bootstrap script (JSON-escaped names)."""
    found: list[Subject] = []
    if "proxySubjects" not in frame.html:  # script text is the markup verbatim: no script has them
        return found
    for script in frame.css("script"):
        src = script.text(deep=True) or ""
        if "proxySubjects" not in src:
            continue
        for m in _PUSH.finditer(src):
            body = m.group(1)
            dm = _DISPLAY.search(body)
            if not dm:
                continue
            try:
                name = clean(json.loads(f'"{dm.group(1)}"'))
            except ValueError:
                name = clean(dm.group(1))
            if name:
                found.append(
                    Subject(name, bool(_js_bool(body, "isSelf")), bool(_js_bool(body, "isSelected")))
                )
    return found


def _visible_name(node: LexborNode) -> str | None:
    """A chip or menu entry's name: its text without the aria-hidden avatar initial or "Your record"."""
    parts: list[str] = []
    for child in node.iter(include_text=True):
        if child.tag == "-text":
            t = clean(child.text_content)
        elif is_hidden(child) or child.tag in {"svg", "img"}:
            continue
        else:
            t = text_of(child)
        if t and t.lower() not in {"your record", "(you)"}:
            parts.append(t)
    return clean(" ".join(parts))


def _menu_subjects(frame: Frame) -> tuple[list[Subject], str | None]:
    subjects: list[Subject] = []
    self_name: str | None = None
    for item in frame.css(MENU_ITEMS):
        name = _visible_name(item)
        if not name:
            continue
        label = (item.attributes.get("aria-label") or "").lower()
        whole = (raw_text(item) or "").lower()
        is_self = "your record" in label or "your record" in whole
        checked = (
            item.attributes.get("aria-checked") == "true" or item.attributes.get("aria-current") == "true"
        )
        subjects.append(Subject(name, is_self, checked))
        if is_self and self_name is None:
            self_name = name
    return subjects, self_name


def _chip_patient(frame: Frame, self_name: str | None) -> str | None:
    chip = frame.css_first(CHIP)
    if chip is None:
        return None
    title = clean(chip.attributes.get("title"))
    visible = _visible_name(chip)
    m = _ACCESSING.match(title or "")
    if m:
        who = clean(m.group("who"))
        if who and who.lower() == "your":
            return visible or self_name
        return visible or who
    return visible


def _banner(frame: Frame, patient: str | None) -> tuple[str | None, str | None]:
    """The print-only banner's (name, dob) when its name is the patient's (or no patient is known)."""
    nodes = list(frame.css(PRINT_BANNER))
    if not nodes:
        body = frame.body
        # A walk over every text of the body, unless the markup cannot hold "DOB" (letters have no
        # named character reference, so only a numeric one could spell it).
        if body is not None and ("DOB" in frame.html or "&#" in frame.html):
            nodes = [
                n.parent
                for n in body.traverse(include_text=True)
                if n.tag == "-text" and "DOB:" in (n.text_content or "") and n.parent is not None
            ]
    for node in nodes:
        m = _BANNER.search(raw_text(node) or "")
        if m and (patient is None or same_person(m.group("name"), patient)):
            return clean(m.group("name")), parse_date(m.group("dob"))
    return None, None


def _card_dob(main: LexborNode, patient: str | None) -> tuple[str | None, str | None]:
    """The health summary's patient card: (name, dob) when its name is the patient's."""
    for card in main.css('[aria-label="Patient information"]'):
        name: str | None = None
        dob: str | None = None
        for child in descendants(card, "p, div, span, dd, h2, h3"):
            t = text_of(child)
            if not t:
                continue
            m = _DOB_LABEL.match(t)
            if m:
                dob = dob or parse_date(m.group("dob"))
            elif name is None and ":" not in t:
                name = t
        if dob and (patient is None or name is None or same_person(name, patient)):
            return name, dob
    return None, None


def organization(frame: Frame) -> str | None:
    link = frame.css_first(LOGO_LINK)
    if link is not None:
        img = link.css_first("img[alt]")
        alt = clean(img.attributes.get("alt")) if img is not None else None
        if alt:
            return alt
        label = clean(link.attributes.get("aria-label"))
        if label:
            return clean(re.sub(r"\s*MyChart home$", "", label)) or None
    for img in frame.css('header img[alt], [role="banner"] img[alt]'):
        alt = clean(img.attributes.get("alt"))
        if alt and "mychart" not in alt.lower() and "epic" not in alt.lower():
            return alt
    for script in frame.css("script") if "orgName" in frame.html else ():
        src = script.text(deep=True) or ""
        m = _ORG.search(src)
        if m:
            try:
                return clean(json.loads(f'"{m.group(1)}"'))
            except ValueError:
                return clean(m.group(1))
    return None


def read_context(frame: Frame, main: LexborNode) -> Context:
    ctx = Context()
    menu, menu_self = _menu_subjects(frame)
    scripted = script_subjects(frame)
    ctx.subjects = menu or scripted
    ctx.self_name = menu_self or next((s.name for s in scripted if s.is_self), None)
    patient = _chip_patient(frame, ctx.self_name)
    if patient is None:
        patient = next((s.name for s in menu if s.selected), None)
    if patient is None:
        patient = next((s.name for s in scripted if s.selected), None)
    if patient is None and len(ctx.subjects) == 1 and ctx.subjects[0].is_self:
        patient = ctx.subjects[0].name  # an account without proxy access: only one record to show
    card_name, card_dob = _card_dob(main, patient)
    if patient is None and card_name:
        patient = card_name
    banner_name, banner_dob = _banner(frame, patient)
    ctx.patient = patient or banner_name
    ctx.dob = card_dob or banner_dob
    ctx.organization = organization(frame)
    return ctx
