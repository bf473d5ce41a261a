"""athenahealth Patient Portal ("Patient Portal powered by athenahealth").

Page kinds read (the page type is the `data-testid` of the first known element inside `main`; the
URL path says the same and is the fallback):

- `test-result-detail` (lab, imaging, other) -> `test_result`; `test-results-list` -> `test_result_list`
- `messages-page` with a `message-thread` -> `message_thread`; without one -> `message_list`
- `appointments-page` -> `appointment_list`; `medications-page` -> `medication_list`
- `visit-summary` -> `visit`; `visit-summaries-page` -> `visit_list`
- `allergies-page`, `immunizations-page`, `problems-page` -> the matching lists (markup modelled on the
  medications page: the reference README names only their routes)
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
from collections.abc import Iterable
from datetime import date, datetime
from urllib.parse import urlsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

from bridge.records import (
    Allergy,
    Appointment,
    Component,
    Document,
    Immunization,
    Medication,
    Message,
    ParseResult,
    Patient,
    Problem,
    TestResult,
    Visit,
)

from .base import Draft, ParseError
from .dates import combine, parse_date, parse_datetime
from .labels import first_text
from .page import Frame, Page
from .text import BLOCK_TAGS, SKIP_TAGS, clean, is_hidden, text_of
from .values import make_component

NAME = "athenahealth"
VERSION = "1"

# ---------------------------------------------------------------------------------------------
# Hooks kept as data. Everything prefixed `pp-` / `fe_c_` is a vendor class: used last.
# ---------------------------------------------------------------------------------------------

# Route prefixes of the portal app, optionally behind a practice id (`/98213/…`) or locale (`/es/…`).
_ROUTE = re.compile(
    r"^/(?:\d[\w-]*/|[a-z]{2}(?:-[a-z]{2})?/)?"
    r"(?P<route>home|test-results|messages|appointments|health-record|billing|health-reminders|account"
    r"|forms|documents|questionnaires|profile)(?:/|$)",
    re.I,
)
_WS = re.compile(r"\s+")
HEADING_TAGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_ROOT_ONLY = re.compile(r"^/(?:\d[\w-]*/?|[a-z]{2}(?:-[a-z]{2})?/?)?$", re.I)
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
)

# Vendor classes (fallbacks only).
CLS_APP = ".pp-app"
CLS_PRACTICE = ".pp-header__practice-name"
CLS_SWITCHER_NAME = ".pp-patient-switcher__name"
CLS_SWITCHER_DOB = ".pp-patient-switcher__dob"
CLS_OPTION_NAME = ".pp-patient-switcher__option-name"
CLS_OPTION_DOB = ".pp-patient-switcher__option-dob"
CLS_POWERED = ".pp-footer__powered"
CLS_RESULT_NAME = ".pp-result-table__name"
CLS_RESULT_VALUE = ".pp-result-table__value"
CLS_RESULT_UNITS = ".pp-result-table__units"
CLS_RESULT_RANGE = ".pp-result-table__range"
CLS_RESULT_FLAG = ".pp-result-table__flag"
CLS_COMMENTS_BODY = ".pp-result-comments__body"
CLS_LIST_NAME = ".pp-results-list__name"
CLS_LIST_TYPE = ".pp-results-list__type"
CLS_LIST_DATE = ".pp-results-list__date"
CLS_LIST_STATUS = ".pp-results-list__status"
CLS_LIST_PROVIDER = ".pp-results-list__provider"
CLS_MSG_FROM = ".pp-message__from"
CLS_MSG_ON_BEHALF = ".pp-message__on-behalf"
CLS_APPT_TIME = ".pp-appointment-card__time"
CLS_APPT_PROVIDER = ".pp-appointment-card__provider"
CLS_APPT_STATUS_NOTE = ".pp-appointment-card__status-note"

STATUS_WORDS: dict[str, str] = {
    "final": "final", "finalized": "final", "complete": "final", "completed": "final", "resulted": "final",
    "preliminary": "preliminary", "partial": "preliminary", "in progress": "preliminary",
    "pending": "pending", "ordered": "pending", "in process": "pending", "collected": "pending",
    "corrected": "corrected", "amended": "corrected", "revised": "corrected", "updated": "corrected",
}
CATEGORY_WORDS: dict[str, str] = {
    "lab": "lab", "labs": "lab", "laboratory": "lab",
    "imaging": "imaging", "radiology": "imaging", "image": "imaging",
    "pathology": "pathology", "other": "other",
}
APPT_STATUS_WORDS: dict[str, str] = {
    "scheduled": "scheduled", "confirmed": "scheduled", "booked": "scheduled", "upcoming": "scheduled",
    "checked in": "scheduled", "rescheduled": "scheduled",
    "cancelled": "cancelled", "canceled": "cancelled",
    "completed": "completed", "complete": "completed", "checked out": "completed", "attended": "completed",
    "requested": "requested", "pending": "requested", "request pending": "requested",
}
MED_STATUS_WORDS: dict[str, str] = {
    "active": "active", "current": "active",
    "inactive": "discontinued", "discontinued": "discontinued", "stopped": "discontinued",
    "past": "discontinued", "completed": "discontinued", "expired": "discontinued",
}
# Labels the portal shows beside each value (lower case, colon stripped).
L_COLLECTED = ("collected", "collection date", "date collected", "specimen collected")
L_RESULTED = ("resulted", "result date", "date resulted", "reported", "finalized")
L_ORDERED_BY = ("ordered by", "ordering provider", "ordering physician")
L_PERFORMER = ("performing lab", "performed at", "performing laboratory", "lab", "performing location")


# ---------------------------------------------------------------------------------------------
# Small typed helpers
# ---------------------------------------------------------------------------------------------


def _tid(root: LexborNode | None, *names: str) -> LexborNode | None:
    """The first element with one of these `data-testid`s (in the order given)."""
    if root is None:
        return None
    for name in names:
        node = root.css_first(f'[data-testid="{name}"]')
        if node is not None:
            return node
    return None


def _tid_text(root: LexborNode | None, *names: str) -> str | None:
    if root is None:
        return None
    for name in names:
        for node in root.css(f'[data-testid="{name}"]'):
            value = text_of(node)
            if value:
                return value
    return None


def _classes(node: LexborNode) -> set[str]:
    return set((node.attributes.get("class") or "").split())


def _key(text: str | None) -> str:
    return re.sub(r"[\s:]+$", "", (clean(text) or "").lower())


def _dd_map(root: LexborNode | None) -> dict[str, LexborNode]:
    """Every `dt` label below root (lower case, no colon) -> its `dd` node."""
    found: dict[str, LexborNode] = {}
    if root is None:
        return found
    for dt in root.css("dt"):
        dd = dt.next
        while dd is not None and dd.tag not in {"dd", "dt"}:
            dd = dd.next
        if dd is None or dd.tag != "dd":
            continue
        key = _key(text_of(dt))
        if key and key not in found:
            found[key] = dd
    return found


def _pick(pairs: dict[str, LexborNode], labels: Iterable[str]) -> LexborNode | None:
    for label in labels:
        if label in pairs:
            return pairs[label]
    return None


def _iso_attr(raw: str | None) -> str | None:
    """A `<time datetime>` value as the contract's ISO form (offset kept only when present)."""
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
            return date.fromisoformat(raw).isoformat()
        return datetime.fromisoformat(raw.replace(" ", "T")).isoformat(timespec="seconds")
    except ValueError:
        return None


def _when(node: LexborNode | None, date_only: bool = False) -> str | None:
    """When a node says: its (or its `<time>` child's) `datetime` attribute, else its visible text."""
    if node is None:
        return None
    time_node = node if node.tag == "time" else node.css_first("time")
    iso = _iso_attr(time_node.attributes.get("datetime")) if time_node is not None else None
    if iso is None:
        text = text_of(time_node if time_node is not None else node)
        text = re.sub(r"^\s*[A-Za-z ]*:\s*", "", text or "")  # "DOB: …", "Started: …"
        iso = parse_date(text) if date_only else parse_datetime(text)
    if iso and date_only:
        return iso[:10]
    return iso


def _collect(node: LexborNode, parts: list[str], in_p: bool, drop_headings: bool) -> None:
    """Like `text.paragraphs_of`, except that a `<br>` inside a `<p>` is a line break, not a new
    paragraph (the README: paragraphs are the `<p>` elements), and headings can be left out."""
    tag = node.tag
    if tag == "-text":
        parts.append(_WS.sub(" ", node.text_content or ""))  # source line breaks are not paragraphs
        return
    if tag in SKIP_TAGS or tag == "-comment" or is_hidden(node) or (drop_headings and tag in HEADING_TAGS):
        return
    if tag == "br":
        parts.append(" " if in_p else "\n\n")
        return
    block = tag in BLOCK_TAGS
    if block:
        parts.append("\n\n")
    child = node.child
    while child is not None:
        _collect(child, parts, in_p or tag == "p", drop_headings)
        child = child.next
    parts.append("\n\n" if block else (" " if tag in {"td", "th"} else ""))


def _paragraphs(node: LexborNode | None, drop_headings: bool = False) -> str | None:
    """Paragraphs of a node joined by a blank line, empty ones dropped; optionally without headings."""
    if node is None:
        return None
    parts: list[str] = []
    _collect(node, parts, False, drop_headings)
    paras = [clean(p) for p in re.split(r"\n\s*\n", "".join(parts))]
    return "\n\n".join(p for p in paras if p) or None


def _word(text: str | None, table: dict[str, str]) -> str | None:
    key = _key(text)
    if not key:
        return None
    if key in table:
        return table[key]
    for word, value in table.items():
        if re.search(rf"\b{re.escape(word)}\b", key):
            return value
    return None


def _header_index(table: LexborNode | None) -> dict[str, int]:
    """Column header text (lower case) -> column index, for the cells that lack their class."""
    found: dict[str, int] = {}
    if table is None:
        return found
    head = table.css_first("thead tr") or table.css_first("tr")
    if head is None:
        return found
    for i, cell in enumerate(c for c in head.iter() if c.tag in {"th", "td"}):
        key = _key(text_of(cell))
        if key:
            found.setdefault(key, i)
    return found


def _cell(row: LexborNode, css: str, headers: dict[str, int], *names: str) -> LexborNode | None:
    """A row's cell by its class, else by the column whose header is one of `names`."""
    node = row.css_first(css)
    if node is not None:
        return node
    cells = [c for c in row.iter() if c.tag in {"th", "td"}]
    for name in names:
        i = headers.get(name)
        if i is not None and i < len(cells):
            return cells[i]
    return None


def _ancestor_testid(node: LexborNode, stop: LexborNode) -> str | None:
    parent = node.parent
    while parent is not None and parent is not stop:
        tid = parent.attributes.get("data-testid")
        if tid:
            return tid
        parent = parent.parent
    return None


# ---------------------------------------------------------------------------------------------
# Claiming
# ---------------------------------------------------------------------------------------------


def _route_path(url: str) -> str:
    """The URL path; for a hash-routed capture (`/#/test-results`) the route inside the fragment."""
    parts = urlsplit(url)
    path = parts.path or "/"
    if _ROOT_ONLY.match(path) and parts.fragment.startswith("/"):
        return path.rstrip("/") + parts.fragment.split("?")[0]
    return path


def _path_shape_ok(url: str) -> bool:
    path = _route_path(url)
    return bool(_ROUTE.match(path) or _ROOT_ONLY.match(path))


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
    return any(tree.css_first(f'[data-testid="{tid}"]') is not None for tid in ROOT_KINDS)


def can_parse(page: Page) -> bool:
    if not page.frames or not _path_shape_ok(page.url or page.top.url):
        return False
    tree = page.top.tree
    return _brand_marked(tree) or _shell_marked(tree)


# ---------------------------------------------------------------------------------------------
# Page context: patient, organization, page kind
# ---------------------------------------------------------------------------------------------

_YOU = re.compile(r"\s*\((?:you|yourself|me)\)\s*$", re.I)
_VIEWING_LABEL = re.compile(r"currently viewing\s+(?P<name>.+?)\s*\.?$", re.I)
_BANNER = re.compile(r"viewing\s+(?P<name>.+?)(?:'s|’s|'|’)\s+(?:health\s+)?record", re.I)


def _strip_you(name: str | None) -> str | None:
    return clean(_YOU.sub("", name)) if name else None


def _patient(tree: LexborHTMLParser) -> Patient | None:
    """Whose record is shown: the switcher's current patient, never the account holder."""
    root = tree.body
    if root is None:
        return None
    context = _tid(root, "patient-context")
    name = _strip_you(_tid_text(root, "current-patient-name") or first_text(context, CLS_SWITCHER_NAME))
    dob_node = _tid(root, "current-patient-dob") or (context.css_first(CLS_SWITCHER_DOB) if context else None)
    selected = None
    if context is not None:
        selected = context.css_first('[role="option"][aria-selected="true"]')
    if name is None and selected is not None:
        name = _strip_you(first_text(selected, CLS_OPTION_NAME) or text_of(selected))
    if name is None and context is not None:
        button = context.css_first("button[aria-label]")
        m = _VIEWING_LABEL.search(clean(button.attributes.get("aria-label")) or "") if button else None
        name = clean(m["name"]) if m else None
    if name is None:
        banner = _tid(root, "family-access-banner")
        m = _BANNER.search(text_of(banner) or "")
        name = clean(m["name"]) if m else None
    if name is None:
        return None
    dob = _when(dob_node, date_only=True) if dob_node is not None else None
    if dob is None and selected is not None and _strip_you(first_text(selected, CLS_OPTION_NAME)) == name:
        dob = _when(selected.css_first(CLS_OPTION_DOB), date_only=True)
    return Patient(name=name, dob=dob)


def _organization(tree: LexborHTMLParser) -> str | None:
    root = tree.body
    name = _tid_text(root, "practice-name") or first_text(root, CLS_PRACTICE)
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
        if kind == "message_list" and _tid(node, "message-thread") is not None:
            kind = "message_thread"
        return node, kind
    return None, None


def _path_kind(url: str) -> str | None:
    path = _route_path(url)
    for pattern, kind in PATH_KINDS:
        if pattern.search(path):
            return kind
    return None


# ---------------------------------------------------------------------------------------------
# Test results
# ---------------------------------------------------------------------------------------------


def _component_warnings(draft: Draft, components: list[Component]) -> None:
    for c in components:
        if c.value_num is not None and c.unit is None:
            draft.warn(f"component '{c.name}' has no unit")
        if c.ref_range is None:
            draft.warn(f"component '{c.name}' has no reference range")


def _components(root: LexborNode, draft: Draft) -> list[Component]:
    rows = root.css('tr[data-testid="result-row"]')
    table = _tid(root, "result-table")
    if not rows and table is not None:  # rows without their hook: every body row of the result table
        rows = [r for r in table.css("tbody tr") if r.css_first("td") is not None]
    headers = _header_index(table or (rows[0].parent.parent if rows and rows[0].parent else None))
    components: list[Component] = []
    for row in rows:
        name = text_of(_cell(row, CLS_RESULT_NAME, headers, "test", "component", "name"))
        if name is None:
            name = text_of(row.css_first("th"))
        value = text_of(_cell(row, CLS_RESULT_VALUE, headers, "result", "value", "your value"))
        if name is None:
            draft.warn("a result row without a test name was skipped")
            continue
        if value is None:
            draft.warn(f"component '{name}' shows no value")
        unit = text_of(_cell(row, CLS_RESULT_UNITS, headers, "units", "unit"))
        rng = text_of(_cell(row, CLS_RESULT_RANGE, headers, "standard range", "reference range", "range",
                            "normal range"))
        flag = text_of(_cell(row, CLS_RESULT_FLAG, headers, "flag"))
        components.append(make_component(name, value, unit, rng, flag))
    return components


def _status(text: str | None) -> str | None:
    return _word(text, STATUS_WORDS)


def _category(root: LexborNode, url: str) -> str | None:
    kind = (root.attributes.get("data-result-type") or "").strip().lower()
    if kind in CATEGORY_WORDS:
        return CATEGORY_WORDS[kind]
    m = re.search(r"/test-results/([^/]+)/", _route_path(url))
    if m and m[1].lower() in CATEGORY_WORDS:
        return CATEGORY_WORDS[m[1].lower()]
    return None


def _test_result(root: LexborNode, url: str, draft: Draft) -> None:
    title = _tid_text(root, "result-name") or first_text(root, "h1")
    if title is None:
        raise ParseError("the test result shows no name")
    meta = _dd_map(_tid(root, "result-meta") or root)
    components = _components(root, draft)
    report = _tid(root, "result-report")
    narrative = _paragraphs(report)
    comments_box = _tid(root, "result-comments")
    comments = None
    if comments_box is not None:
        body = comments_box.css_first(CLS_COMMENTS_BODY)
        comments = _paragraphs(body) if body is not None else _paragraphs(comments_box, drop_headings=True)
    category = _category(root, url)
    if category is None:
        category = "imaging" if report is not None and not components else ("lab" if components else None)
    collected = _when(_pick(meta, L_COLLECTED))
    resulted = _when(_pick(meta, L_RESULTED))
    draft.records.append(TestResult(
        title=title, occurred_at=collected or resulted, category=category,
        status=_status(_tid_text(root, "result-status")),
        resulted_at=resulted, ordered_by=text_of(_pick(meta, L_ORDERED_BY)),
        performing_lab=text_of(_pick(meta, L_PERFORMER)), components=components,
        narrative=narrative, comments=comments,
    ))
    _component_warnings(draft, components)


def _test_result_list(root: LexborNode, draft: Draft) -> None:
    table = _tid(root, "results-table") or root.css_first("table")
    headers = _header_index(table)
    for row in root.css('tr[data-testid="result-list-row"]'):
        name_cell = _cell(row, CLS_LIST_NAME, headers, "test name", "test", "name")
        link = name_cell.css_first("a") if name_cell is not None else None
        title = text_of(link) or text_of(name_cell)
        if title is None:
            draft.warn("a result row without a test name was skipped")
            continue
        type_text = text_of(_cell(row, CLS_LIST_TYPE, headers, "type", "category"))
        category = _word(type_text, CATEGORY_WORDS) or CATEGORY_WORDS.get(
            (row.attributes.get("data-result-type") or "").lower())
        draft.records.append(TestResult(
            title=title, category=category,
            occurred_at=_when(_cell(row, CLS_LIST_DATE, headers, "date collected", "date", "collected")),
            status=_status(text_of(_cell(row, CLS_LIST_STATUS, headers, "status"))),
            ordered_by=text_of(_cell(row, CLS_LIST_PROVIDER, headers, "ordered by", "provider")),
        ))


# ---------------------------------------------------------------------------------------------
# Messages
# ---------------------------------------------------------------------------------------------


def _direction(item: LexborNode) -> str | None:
    classes = " ".join(_classes(item)).lower() + " " + (item.attributes.get("data-direction") or "").lower()
    if "from-patient" in classes or "outgoing" in classes or "from_patient" in classes:
        return "from_patient"
    if "from-practice" in classes or "from-provider" in classes or "incoming" in classes \
            or "to_patient" in classes:
        return "to_patient"
    if item.css_first(CLS_MSG_ON_BEHALF) is not None:
        return "from_patient"
    return None


def _sender(item: LexborNode) -> str | None:
    sender = _tid_text(item, "message-sender")
    if sender:
        return sender
    line = item.css_first(CLS_MSG_FROM)
    text = text_of(line) or ""
    text = re.sub(r"^\s*from:?\s*", "", text, flags=re.I)
    text = re.split(r"\s+on behalf of\s+", text, maxsplit=1, flags=re.I)[0]
    return clean(text)


def _message_thread(root: LexborNode, draft: Draft) -> None:
    thread = _tid(root, "message-thread") or root
    subject = _tid_text(thread, "thread-subject") or first_text(thread, "h1", "h2")
    for item in thread.css('[data-testid="message-item"]'):
        recipients = [r for r in (text_of(n) for n in item.css('[data-testid="message-recipient"]')) if r]
        body = _paragraphs(_tid(item, "message-body"))
        if body is None:
            draft.warn("a message shows no body")
        draft.records.append(Message(
            title=subject, thread_subject=subject, occurred_at=_when(item.css_first("time")),
            sender=_sender(item), recipients=recipients, body=body,
            direction=_direction(item),
        ))


_THREAD_LINK = re.compile(r"/messages/[^/?#]+/[^/?#]+")
_VISIT_LINK = re.compile(r"/health-record/visit-summaries/[^/?#]+")


def _linked_rows(root: LexborNode, pattern: re.Pattern[str]) -> list[tuple[LexborNode, LexborNode]]:
    """(row, link) for every link to a detail page: the row is the link's nearest `li`/`tr`/card.
    The fallback for list pages whose row hooks are unknown (the reference shows none of them)."""
    found: list[tuple[LexborNode, LexborNode]] = []
    seen: set[int] = set()
    for link in root.css("a[href]"):
        if not pattern.search(link.attributes.get("href") or ""):
            continue
        row = link.parent
        while row is not None and row is not root and row.tag not in {"li", "tr", "article"}:
            row = row.parent
        row = row if row is not None and row is not root else link
        if row.mem_id in seen or _ancestor_testid(row, root) == "message-thread":
            continue
        seen.add(row.mem_id)
        found.append((row, link))
    return found


def _message_list(root: LexborNode, draft: Draft) -> None:
    """The inbox: one message record per conversation row (its latest message, as the row shows it)."""
    rows = [(row, row.css_first("a")) for row in root.css(
        '[data-testid="message-list-item"], [data-testid="message-row"], [data-testid="thread-row"], '
        '[data-testid="conversation-row"]')]
    if not rows:
        rows = [(row, link) for row, link in _linked_rows(root, _THREAD_LINK)
                if not _classes(link) & {"pp-messages__folder", "pp-messages__compose"}]
    for row, link in rows:
        subject = _tid_text(row, "thread-subject", "message-subject") or text_of(link) or first_text(row, "h3")
        if subject is None:
            continue
        draft.records.append(Message(
            title=subject, thread_subject=subject, occurred_at=_when(row.css_first("time")),
            sender=_tid_text(row, "message-sender"),
            recipients=[r for r in (text_of(n) for n in row.css('[data-testid="message-recipient"]')) if r],
            body=_paragraphs(_tid(row, "message-preview", "message-body")), direction=_direction(row),
        ))


# ---------------------------------------------------------------------------------------------
# Appointments, medications, visits
# ---------------------------------------------------------------------------------------------


def _appointments(root: LexborNode, draft: Draft) -> None:
    for card in root.css('[data-testid="appointment-card"]'):
        visit_type = _tid_text(card, "appointment-type") or first_text(card, "h3", "h2")
        when_node = card.css_first("time")
        occurred = _when(when_node)
        time_text = first_text(card, CLS_APPT_TIME)
        if occurred is not None and "T" not in occurred and time_text:
            occurred = combine(occurred, time_text)
        provider = _tid_text(card, "appointment-provider")
        if provider is None:
            provider = clean(re.sub(r"^\s*with\s+", "", first_text(card, CLS_APPT_PROVIDER) or "", flags=re.I))
        status = _word(_tid_text(card, "appointment-status"), APPT_STATUS_WORDS)
        if status is None:
            section = _ancestor_testid(card, root) or ""
            status = "scheduled" if "upcoming" in section else ("completed" if "past" in section else None)
        draft.records.append(Appointment(
            title=visit_type, visit_type=visit_type, occurred_at=occurred, provider=provider,
            department=_tid_text(card, "appointment-department"),
            location=_tid_text(card, "appointment-location"),
            status=status,
            instructions=_paragraphs(_tid(card, "appointment-instructions"), drop_headings=True),
        ))


_MED_LABELS: dict[str, tuple[str, ...]] = {
    "prescriber": ("prescribed by", "prescriber", "ordered by"),
    "start": ("start date", "started", "prescribed", "date prescribed", "prescribed on"),
    "quantity": ("quantity", "qty", "dispense"),
    "refills": ("refills remaining", "refills", "refills left"),
    "pharmacy": ("pharmacy",),
}


def _refills(text: str | None) -> int | None:
    if text is None:
        return None
    m = re.search(r"\d+", text)
    if m:
        return int(m.group(0))
    return 0 if re.fullmatch(r"(?:none|no refills?|no)", text.strip(), re.I) else None


def _medications(root: LexborNode, draft: Draft) -> None:
    for item in root.css('[data-testid="medication-item"]'):
        title = _tid_text(item, "med-name") or first_text(item, "h3", "h2")
        if title is None:
            draft.warn("a medication without a name was skipped")
            continue
        labels = _dd_map(item)
        status = MED_STATUS_WORDS.get((item.attributes.get("data-med-status") or "").strip().lower())
        if status is None:
            section = _ancestor_testid(item, root) or ""
            status = "active" if "active" in section or "current" in section else (
                "discontinued" if "past" in section or "inactive" in section else None)
        if status is None:
            status = _word(_tid_text(item, "med-status"), MED_STATUS_WORDS)

        def field(tid: str, key: str, item: LexborNode = item, labels: dict[str, LexborNode] = labels) -> LexborNode | None:
            return _tid(item, tid) or _pick(labels, _MED_LABELS[key])

        draft.records.append(Medication(
            title=title, occurred_at=_when(field("med-start", "start"), date_only=True),
            instructions=_tid_text(item, "med-sig"), prescriber=text_of(field("med-prescriber", "prescriber")),
            status=status,
            quantity=text_of(field("med-quantity", "quantity")),
            refills_remaining=_refills(text_of(field("med-refills", "refills"))),
            pharmacy=text_of(field("med-pharmacy", "pharmacy")),
        ))


_VISIT_LABELS: dict[str, tuple[str, ...]] = {
    "date": ("date", "visit date", "date of visit", "date of service"),
    "visit_type": ("visit type", "type", "appointment type"),
    "provider": ("provider", "seen by", "rendering provider"),
    "department": ("department", "practice"),
    "location": ("location", "address"),
    "reason": ("reason for visit", "reason", "chief complaint"),
}


def _visit(root: LexborNode, draft: Draft) -> None:
    details = _dd_map(_tid(root, "visit-details") or root)

    def label(key: str) -> LexborNode | None:
        return _pick(details, _VISIT_LABELS[key])

    title = _tid_text(root, "visit-title") or first_text(root, "h1")
    visit_type = text_of(label("visit_type")) or title
    diagnoses_box = _tid(root, "visit-diagnoses")
    diagnoses = [text_of(li) for li in diagnoses_box.css("li")] if diagnoses_box else []
    draft.records.append(Visit(
        title=title or visit_type, occurred_at=_when(label("date")), visit_type=visit_type,
        provider=text_of(label("provider")), department=text_of(label("department")),
        location=text_of(label("location")), reason=text_of(label("reason")),
        diagnoses=[d for d in diagnoses if d],
        summary_text=_paragraphs(_tid(root, "visit-instructions")),
    ))


def _visit_list(root: LexborNode, draft: Draft) -> None:
    rows = [(row, row.css_first("a")) for row in root.css(
        '[data-testid="visit-summary-item"], [data-testid="visit-summary-row"], [data-testid="visit-card"]')]
    if not rows:
        rows = [(row, link) for row, link in _linked_rows(root, _VISIT_LINK)]
    for item, link in rows:
        title = _tid_text(item, "visit-title", "visit-type") or text_of(link) or first_text(item, "h3")
        if title is None:
            continue
        draft.records.append(Visit(
            title=title, visit_type=_tid_text(item, "visit-type") or title, occurred_at=_when(item.css_first("time")),
            provider=_tid_text(item, "visit-provider"), department=_tid_text(item, "visit-department"),
            location=_tid_text(item, "visit-location"), reason=_tid_text(item, "visit-reason"),
        ))


# Allergies, immunizations, problems: modelled on the medications page (`<thing>-item` cards with
# `<thing>-<field>` testids and `dt`/`dd` labels).


def _list_items(root: LexborNode, *tids: str) -> list[LexborNode]:
    selector = ", ".join(f'[data-testid="{t}"]' for t in tids)
    return root.css(selector)


def _allergies(root: LexborNode, draft: Draft) -> None:
    for item in _list_items(root, "allergy-item"):
        labels = _dd_map(item)
        title = _tid_text(item, "allergy-name") or first_text(item, "h3", "h2")
        if title is None:
            continue
        draft.records.append(Allergy(
            title=title,
            occurred_at=_when(_tid(item, "allergy-noted", "allergy-onset")
                              or _pick(labels, ("noted", "date noted", "onset", "recorded")), date_only=True),
            reaction=_tid_text(item, "allergy-reaction") or text_of(_pick(labels, ("reaction", "reactions"))),
            severity=_tid_text(item, "allergy-severity") or text_of(_pick(labels, ("severity",))),
        ))


def _immunizations(root: LexborNode, draft: Draft) -> None:
    for item in _list_items(root, "immunization-item"):
        title = _tid_text(item, "immunization-name") or first_text(item, "h3", "h2")
        if title is None:
            continue
        doses = item.css('[data-testid="immunization-date"]')
        if not doses:
            draft.records.append(Immunization(title=title, occurred_at=None))
            draft.warn(f"immunization '{title}' shows no date given")
        for dose in doses:
            draft.records.append(Immunization(title=title, occurred_at=_when(dose, date_only=True)))


def _problems(root: LexborNode, draft: Draft) -> None:
    for item in _list_items(root, "problem-item"):
        labels = _dd_map(item)
        title = _tid_text(item, "problem-name") or first_text(item, "h3", "h2")
        if title is None:
            continue
        status = _tid_text(item, "problem-status") or text_of(_pick(labels, ("status",)))
        if status is None:
            status = clean(item.attributes.get("data-problem-status"))
        draft.records.append(Problem(
            title=title, status=status.lower() if status else None,
            occurred_at=_when(_tid(item, "problem-noted", "problem-onset")
                              or _pick(labels, ("noted", "date noted", "onset", "diagnosed")), date_only=True),
        ))


def _document(main: LexborNode | None, draft: Draft, title: str | None) -> None:
    """A portal page no reader above fits: keep its readable main text so nothing is lost."""
    if main is None:
        return
    parts = [_paragraphs(child) for child in main.iter() if child.tag not in {"nav", "aside", "form"}]
    text = "\n\n".join(p for p in parts if p)
    if text:
        draft.records.append(Document(title=title or "athenahealth page", text=text))


# ---------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------


def _frame(page: Page) -> Frame:
    """The frame that holds the portal app (the top one in every capture seen so far)."""
    for frame in page.frames:
        if frame.css_first('main [data-testid], [data-testid="app-root"]') is not None:
            return frame
    return page.top


def parse(page: Page) -> ParseResult:
    frame = _frame(page)
    tree = frame.tree
    draft = Draft(vendor=NAME)
    draft.patient = _patient(tree)
    if draft.patient is None:
        draft.warn("the page does not say whose record it shows")
    draft.organization = _organization(tree)
    main = _main(tree)
    root, kind = _root(main)
    url = page.url or frame.url
    if kind is None:
        kind = _path_kind(url)
        root = main
    draft.page_kind = kind or "unknown"
    if root is None:
        return draft.result()
    if kind == "test_result":
        _test_result(root, url, draft)
    elif kind == "test_result_list":
        _test_result_list(root, draft)
    elif kind == "message_thread":
        _message_thread(root, draft)
    elif kind == "message_list":
        _message_list(root, draft)
    elif kind == "appointment_list":
        _appointments(root, draft)
    elif kind == "medication_list":
        _medications(root, draft)
    elif kind == "visit":
        _visit(root, draft)
    elif kind == "visit_list":
        _visit_list(root, draft)
    elif kind == "allergy_list":
        _allergies(root, draft)
    elif kind == "immunization_list":
        _immunizations(root, draft)
    elif kind == "problem_list":
        _problems(root, draft)
    else:
        _document(main, draft, first_text(main, "h1") or clean(page.title))
    return draft.result()

