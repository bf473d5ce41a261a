"""MyChart PX visits: a past visit with its After Visit Summary (`app/visits/past-details`), a clinical
note (`app/visits/note`) and the appointments list (`app/visits`).

Past visit: the `h1` (visit type), the date line under it, the `aria-label="Provider"` and
`aria-label="Department"` blocks (name, `<address>`), then inside the `AMB_AVS` report fragment the
`h3` sections "Reason for Visit", "Diagnoses" and "Instructions" (after the "From <provider>" byline).

Note: the `h1` (note type); inside the `OPEN_NOTES` fragment the `Label: value` header (Author,
Author Type, Department, Date of Service), then every paragraph after that header. The byline
"<type> by <author> at MM/DD/YY HHMM" is the fallback for author and date.

Appointments: each card or row (an `li` holding a heading) belongs to the "Upcoming …" or "Past …"
`h2` before it; upcoming cards give type (`h3`), day and time (a zone abbreviation becomes an offset),
"with <provider>", department, `<address>`, "Instructions"; past rows give "Type - Date" and
"with <provider> at <department>". A "Canceled" badge makes the status `cancelled`.
"""

from __future__ import annotations

import re

from selectolax.lexbor import LexborNode

from bridge.records import Appointment, Note, Visit

from ..base import Draft
from ..dates import parse_date, parse_datetime
from ..text import clean, paragraphs_of, text_of
from .px_dom import (
    DocIndex,
    block_texts,
    closest,
    datetime_in,
    descendants,
    has_date,
    is_inside,
    key,
    leaves,
    next_element,
    raw_text,
    report_text,
)

AVS_REPORT = '[data-report-mnemonic="AMB_AVS"]'
NOTE_REPORT = '[data-report-mnemonic="OPEN_NOTES"]'
REPORT = ".reportContent"  # the real class of inserted report fragments
_BYLINE = re.compile(r"^(?P<type>.+?) by (?P<author>.+?) at (?P<when>\d{1,2}/\d{1,2}/\d{2,4}\s+\d{3,4}|.+)$")
_FROM = re.compile(r"^from\s+\S", re.I)
_NOTE_LABEL = re.compile(
    r"^(?P<label>author|author type|department|date of service|service date|filed|status|"
    r"encounter date|specialty|provider)\s*:\s*(?P<rest>.*)$",
    re.I,
)
_TYPE_DATE = re.compile(
    r"^(?P<type>.+?)\s*[-–—]\s*(?P<date>[A-Za-z]{3,9}\.? \d{1,2},? \d{4}|\d{1,2}/\d{1,2}/\d{2,4})$"
)
_TIME = re.compile(r"\d{1,2}:\d{2}\s*(?:[AP]\.?M\.?)?(?:\s+[A-Z]{2,4})?", re.I)
_WITH = re.compile(r"^with\s+(?P<rest>.+)$", re.I)
_UI_WORDS = frozenset(
    {
        "not yet viewed",
        "viewed",
        "new",
        "details",
        "echeck-in",
        "add to calendar",
        "video visit",
        "in person",
        "telehealth",
    }
)
_CANCELLED = frozenset(
    {"canceled", "cancelled", "appointment canceled", "appointment cancelled", "visit canceled"}
)
_REQUESTED = frozenset({"requested", "request pending", "pending request", "appointment requested"})


# --- past visit -----------------------------------------------------------------------------------


def parse_visit(draft: Draft, main: LexborNode) -> None:
    h1 = main.css_first("h1")
    visit_type = text_of(h1)
    report = main.css_first(AVS_REPORT) or main.css_first(REPORT)
    when = _visit_when(h1, main, report)
    prov_box = main.css_first('[aria-label="Provider"]')
    provider = text_of(prov_box.css_first("a")) if prov_box is not None else None
    if provider is None and prov_box is not None:
        provider = text_of(next(iter(descendants(prov_box, "p, span, div")), None))
    dept_box = main.css_first('[aria-label="Department"]')
    department = location = None
    if dept_box is not None:
        location = text_of(dept_box.css_first("address"))
        for node in dept_box.iter(include_text=False):
            t = text_of(node)
            if (
                node.tag != "address"
                and not descendants(node, "address")
                and t
                and key(t) not in {"department", "location", "where"}
            ):
                department = t
                break

    reason = summary = None
    diagnoses: list[str] = []
    if report is not None:
        idx = DocIndex(report)
        heads = ("h2", "h3", "h4")
        h = idx.find_heading(heads, "Reason for Visit", "Reason for visit", "Reasons for Visit", prefix=True)
        if h is not None:
            reason = (
                "; ".join(block_texts(idx.region(h), "li"))
                or "; ".join(block_texts(idx.region(h), "p"))
                or report_text(idx.region(h))
            )
        h = idx.find_heading(
            heads, "Diagnoses", "Diagnosis", "Today's Diagnoses", "Visit Diagnoses", "Your Diagnoses"
        )
        if h is not None:
            diagnoses = block_texts(idx.region(h), "li") or block_texts(idx.region(h), "p")
        h = idx.find_heading(
            heads,
            "Instructions",
            "Patient Instructions",
            "Your Instructions",
            "Instructions from your care team",
        )
        if h is not None:
            summary = _instructions(idx.region(h))
    else:
        draft.warn("the After Visit Summary is not on the page")
    if not visit_type:
        draft.warn("the visit has no type")
    if provider is None:
        draft.warn("the visit's provider is not shown")
    draft.records.append(
        Visit(
            title=visit_type,
            occurred_at=when,
            visit_type=visit_type,
            provider=provider,
            department=department,
            location=location,
            reason=reason,
            diagnoses=diagnoses,
            summary_text=summary,
        )
    )


def _visit_when(h1: LexborNode | None, main: LexborNode, report: LexborNode | None) -> str | None:
    """The date line under the `h1` ("Tuesday April 14, 2026 9:40 AM"), looked for in the h1's own
    header box first, then one or two wrappers up, never inside the AVS fragment."""
    box = h1.parent if h1 is not None else None
    for _ in range(3):
        if box is None:
            return None
        for node in descendants(box, "p, div, time, span"):
            if report is not None and (node.mem_id == report.mem_id or is_inside(node, report)):
                continue
            t = text_of(node)
            if t and has_date(t) and len(t) < 80 and not descendants(node, "p, div"):
                return datetime_in(t)
        if box.mem_id == main.mem_id:
            return None
        box = box.parent
    return None


def _instructions(region: list[LexborNode]) -> str | None:
    paras: list[str] = []
    for i, t in enumerate(_paragraph_list(region)):
        if i == 0 and _FROM.match(t) and len(t) < 100:
            continue  # the italic "From <provider>" byline
        paras.append(t)
    return "\n\n".join(paras) or None


def _paragraph_list(region: list[LexborNode]) -> list[str]:
    text = report_text(region)
    return [p for p in (text or "").split("\n\n") if p]


# --- note -----------------------------------------------------------------------------------------


def parse_note(draft: Draft, main: LexborNode) -> None:
    h1 = main.css_first("h1")
    title = text_of(h1)
    report = main.css_first(NOTE_REPORT) or main.css_first(REPORT)
    fields: dict[str, str] = {}
    header_top: LexborNode | None = None
    text = None
    if report is not None:
        for node, t in leaves(report):
            m = _NOTE_LABEL.match(t)
            if not m or (node.tag in {"p"} and len(t) > 80):
                continue
            label = m.group("label").lower()
            value = clean(m.group("rest")) or raw_text(next_element(node))
            if value and label not in fields:
                fields[label] = value
            top = node
            while top.parent is not None and top.parent.mem_id != report.mem_id:
                top = top.parent
            if header_top is None:
                header_top = top
        body: list[LexborNode] = []
        started = header_top is None
        child = report.child
        while child is not None:
            if started and child.tag not in {"style", "script"}:
                body.append(child)
            if header_top is not None and child.mem_id == header_top.mem_id:
                started = True
            child = child.next
        text = report_text(body)
    else:
        draft.warn("the note's text is not on the page")
    author = fields.get("author")
    when = parse_datetime(
        fields.get("date of service") or fields.get("service date") or fields.get("encounter date")
    )
    if author is None or when is None:
        for _node, t in leaves(main):
            m = _BYLINE.match(t)
            if m and (has_date(m.group("when")) or re.search(r"\d/\d", m.group("when"))):
                author = author or clean(m.group("author"))
                when = when or parse_datetime(m.group("when"))
                title = title or clean(m.group("type"))
                break
    if author is None:
        draft.warn("the note's author is not shown")
    draft.records.append(
        Note(
            title=title,
            occurred_at=when,
            author=author,
            author_role=fields.get("author type"),
            department=fields.get("department"),
            text=text,
        )
    )


# --- appointments ---------------------------------------------------------------------------------


def parse_appointments(draft: Draft, main: LexborNode) -> None:
    idx = DocIndex(main)
    sections = [h for h in main.css("h2") if _section_kind(text_of(h)) is not None]
    seen: set[int] = set()
    for h in main.css("h3"):
        if any(is_inside(h, s) for s in main.css("[hidden]")):
            continue
        card = closest(h, ("li", "article"), stop=main)
        if card is None and h.parent is not None and len(h.parent.css("h3")) == 1:
            card = h.parent  # a card that is not a list item: the heading's own box
        if card is None or card.mem_id in seen or card.mem_id == main.mem_id:
            continue  # a heading among rows (a month heading) is not an appointment
        seen.add(card.mem_id)
        owner = idx.owner(card, sections)
        kind = _section_kind(text_of(owner)) if owner is not None else None
        record = _appointment(card, h, kind)
        if record is not None:
            draft.records.append(record)


def _section_kind(text: str | None) -> str | None:
    k = key(text)
    if k.startswith(("upcoming", "future", "scheduled")):
        return "upcoming"
    if k.startswith(("past", "previous", "completed")):
        return "past"
    if k.startswith(("canceled", "cancelled")):
        return "cancelled"
    if k.startswith(("requested", "pending request")):
        return "requested"
    return None


def _appointment(card: LexborNode, heading: LexborNode, kind: str | None) -> Appointment | None:
    head = text_of(heading) or ""
    visit_type: str | None = head
    when: str | None = None
    m = _TYPE_DATE.match(head)
    if m:
        visit_type, when = clean(m.group("type")), parse_date(m.group("date"))
        kind = kind or "past"
    provider = department = location = instructions = None
    badge: str | None = None
    instr_nodes: set[int] = set()
    for h4 in card.css("h4, h5"):
        if key(text_of(h4)).startswith(("instructions", "patient instructions", "before your visit")):
            parts = []
            sib = next_element(h4)
            while sib is not None:
                t = paragraphs_of(sib)
                if t:
                    parts.append(t)
                instr_nodes.update(n.mem_id for n in sib.traverse())
                sib = next_element(sib)
            instructions = "\n\n".join(parts) or None
            instr_nodes.add(h4.mem_id)
    address = card.css_first("address")
    if address is not None:
        location = text_of(address)
    with_node: LexborNode | None = None
    # A card with no "with <provider>" line (a lab or imaging visit) names its place after the date.
    has_with = any(_WITH.match(t) or key(t) == "with" for _n, t in leaves(card))
    for node, t in leaves(card):
        if with_node is not None and is_inside(node, with_node):
            continue
        if node.mem_id in instr_nodes or node.tag in {"h3", "address", "a", "button", "svg"}:
            continue
        if address is not None and is_inside(node, address):
            continue
        if closest(node, ("a", "button", "h3"), stop=card) is not None:
            continue
        k = key(t)
        if k in _CANCELLED:
            badge = "cancelled"
            continue
        if k in _REQUESTED:
            badge = badge or "requested"
            continue
        wm = _WITH.match(t)
        if wm or (k == "with" and node.css_first("span, a")):
            with_node = node
            provider, dept2 = _with_line(node, wm.group("rest") if wm else "")
            department = department or dept2
            continue
        if when is None and has_date(t):
            line = closest(node, ("p", "div", "time"), stop=card) or node
            text = raw_text(line) or t
            if not _TIME.search(text):  # the time on a line of its own
                after = raw_text(next_element(line))
                if after and _TIME.fullmatch(after):
                    text = f"{text} {after}"
            when = datetime_in(text)
            continue
        if (
            kind != "past"
            and (with_node is not None or (not has_with and when is not None))
            and department is None
            and provider != t
            and not t.endswith((".", "!", "?"))
            and not _TIME.search(t)
            and k not in _UI_WORDS
        ):
            department = t  # the first plain line after "with <provider>" (or the date): the place
    if kind == "past":
        status = "cancelled" if badge == "cancelled" else "completed"
        location = location if address is not None else None
    elif kind == "cancelled":
        status = "cancelled"
    elif kind == "requested":
        status = "requested"
    else:
        status = badge or "scheduled"
    if not visit_type:
        return None
    if when is None and provider is None:
        return None  # a heading that is not an appointment (a month heading, an empty state)
    return Appointment(
        title=visit_type,
        occurred_at=when,
        visit_type=visit_type,
        provider=provider,
        department=department,
        location=location,
        status=status,
        instructions=instructions,
    )


def _with_line(node: LexborNode, rest: str) -> tuple[str | None, str | None]:
    """'with <span>Dr X</span> at <span>Dept</span>' or the same as plain text."""
    parts = [text_of(c) for c in node.iter(include_text=False) if c.tag in {"span", "a", "strong", "b"}]
    parts = [p for p in parts if p]
    if parts:
        return parts[0], (parts[1] if len(parts) > 1 else None)
    rest = rest or (text_of(node) or "")
    m = re.match(r"^(?P<who>.+?)\s+at\s+(?P<where>.+)$", rest)
    if m:
        return clean(m.group("who")), clean(m.group("where"))
    return clean(rest), None
