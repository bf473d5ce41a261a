"""The last resort: any page no vendor parser claims.

Order of extraction:

1. Lab-style tables, found anywhere on the page (every frame) by what their headers mean: a test
   name column (test, component, analyte, name) and a result column (result, value), plus at least
   one of units, reference range or flag. The header row may be `th` cells or a first row of `td`.
   Each such table becomes one `test_result` (category `lab`) titled by its caption or the nearest
   heading before it; a value with its unit in one cell is split; flags are taken from the page or
   derived from the range. Dates, ordering provider, lab and status come only from clearly labelled
   text near the table ("Collected: ...").
2. Otherwise the page's readable main text (no navigation, menus, scripts, styles, footers, hidden
   templates) becomes one `document` record, so that nothing captured is ever unreadable.

The patient and organization are filled only from explicit labels ("Patient: X", or "Name:" together
with "DOB:"), never guessed. The parser never raises: every step is iterative (deeply nested garbage
cannot exhaust the stack) and a failing step becomes a warning.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Literal

from selectolax.lexbor import LexborNode

from bridge.records import Component, ParseResult, Patient, TestResult

from .base import Draft
from .dates import parse_date, parse_datetime
from .dom import children
from .page import Frame, Page
from .skeleton import keep_text
from .text import BLOCK_TAGS, SKIP_TAGS, TextStyle, clean, is_hidden, join_paragraphs, walk
from .values import make_component, split_value_unit, value_num

NAME = "generic"
VERSION = "2"

Column = Literal["name", "value", "unit", "range", "flag"]

# --- what table headers mean --------------------------------------------------------------------
HEADER_EXACT: dict[str, Column] = {
    "test": "name",
    "tests": "name",
    "test name": "name",
    "component": "name",
    "components": "name",
    "component name": "name",
    "analyte": "name",
    "analyte name": "name",
    "name": "name",
    "lab test": "name",
    "test/component": "name",
    "test component": "name",
    "parameter": "name",
    "description": "name",
    "test description": "name",
    "investigation": "name",
    "item": "name",
    "procedure": "name",
    "result": "value",
    "results": "value",
    "value": "value",
    "your value": "value",
    "result value": "value",
    "observed value": "value",
    "observation": "value",
    "measured value": "value",
    "reading": "value",
    "test result": "value",
    "your result": "value",
    "unit": "unit",
    "units": "unit",
    "uom": "unit",
    "unit of measure": "unit",
    "units of measure": "unit",
    "flag": "flag",
    "flags": "flag",
    "abnormal flag": "flag",
    "abn": "flag",
    "abnormal": "flag",
    "h/l": "flag",
    "hi/lo": "flag",
    "interpretation": "flag",
    "indicator": "flag",
    "abnormal indicator": "flag",
}
# Headers that carry dates, people or state: never a lab column even when they say "result".
HEADER_NOT: re.Pattern[str] = re.compile(
    r"\b(date|time|collected|resulted|ordered|provider|physician|doctor|status|comment|notes?|"
    r"performed|location|specimen)\b"
)

# Containers of page chrome, and of nothing a record needs.
CHROME_TAGS = frozenset({"nav", "aside", "iframe", "dialog"}) | SKIP_TAGS
PAGE_CHROME_TAGS = frozenset({"header", "footer"})  # chrome unless inside the main region
CHROME_ROLES = frozenset(
    {
        "navigation",
        "banner",
        "contentinfo",
        "menu",
        "menubar",
        "search",
        "dialog",
        "alertdialog",
        "complementary",
        "toolbar",
        "tablist",
    }
)
CHROME_CLASS = re.compile(
    r"(?:^|[-_])(?:nav|navbar|navigation|menu|menubar|breadcrumbs?|footer|sidebar|cookies?|"
    r"skip-?link|sr-only|visually-hidden|screen-reader-text|offscreen)(?:$|[-_])",
    re.I,
)
MAIN_REGION = ("main", "[role=main]", "#main", "#main-content", "#content", "article")
HEADING_TAGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6", "caption", "legend"})
# Headings that name a section, not a test: keep looking for the panel's name above them.
GENERIC_HEADINGS = frozenset(
    {
        "results",
        "result",
        "test results",
        "lab results",
        "laboratory results",
        "result values",
        "values",
        "components",
        "component results",
        "details",
        "result details",
        "my results",
        "your results",
    }
)

# --- labels -------------------------------------------------------------------------------------
_SEP = r"\s*(?::|\t)\s*"
L_PATIENT = re.compile(rf"^(?:patient(?:\s+name)?|patient's\s+name){_SEP}(?P<v>.+)$", re.I)
L_NAME = re.compile(r"^(?:name|full\s+name)\s*:\s*(?P<v>.+)$", re.I)  # a colon: never a table header
L_DOB = re.compile(rf"(?:^|\b)(?:dob|d\.o\.b\.|date\s+of\s+birth|birth\s*date)(?:{_SEP}|\s+)(?P<v>.+)$", re.I)
L_ORG = re.compile(rf"^(?:organization|organisation|health\s+system|practice|clinic){_SEP}(?P<v>.+)$", re.I)
# Another label after a value on the same line ends the value ("Patient: Jane Doe  DOB: ...").
_NEXT_LABEL = re.compile(
    r"\s+(?:dob|d\.o\.b\.|date of birth|birth ?date|mrn|age|sex|gender|id|"
    r"patient id|account|phone|address)\b.*$",
    re.I,
)
NAME_PARTICLES = frozenset(
    {
        "de",
        "del",
        "della",
        "der",
        "di",
        "da",
        "dos",
        "du",
        "la",
        "le",
        "van",
        "von",
        "y",
        "bin",
        "binti",
        "al",
        "el",
        "ibn",
        "ten",
        "ter",
        "zu",
    }
)
_DATE_TOKEN = re.compile(
    r"\d{1,2}/\d{1,2}/\d{2,4}|\d{4}-\d{2}-\d{2}|[A-Za-z]{3,9}\.? \d{1,2},? \d{4}|"
    r"\d{1,2} [A-Za-z]{3,9}\.? \d{4}"
)
FIELD_LABELS: dict[str, tuple[str, ...]] = {
    "collected": (
        "collected",
        "collection date",
        "collection date/time",
        "date collected",
        "specimen collected",
        "collected on",
        "collection time",
        "drawn",
        "date drawn",
        "specimen date",
    ),
    "resulted": (
        "resulted",
        "result date",
        "result date/time",
        "date resulted",
        "reported",
        "date reported",
        "reported on",
        "resulted on",
        "final date",
        "date received",
    ),
    "ordered_by": (
        "ordered by",
        "ordering provider",
        "ordering physician",
        "ordering clinician",
        "ordering doctor",
        "requested by",
    ),
    "performing_lab": (
        "performing lab",
        "performing laboratory",
        "performed at",
        "performed by",
        "laboratory",
        "testing lab",
    ),
    "status": ("status", "result status", "report status", "order status"),
}
STATUS_WORDS: dict[str, Literal["final", "preliminary", "pending", "corrected"]] = {
    "final": "final",
    "finalized": "final",
    "preliminary": "preliminary",
    "prelim": "preliminary",
    "partial": "preliminary",
    "pending": "pending",
    "in progress": "pending",
    "corrected": "corrected",
    "amended": "corrected",
    "revised": "corrected",
}
_INLINE_FLAG = re.compile(
    r"^(?P<v>.*?)\s*(?:[(\[](?P<f1>hh|ll|h|l|a|c|high|low|abn|abnormal|critical)[)\]]|"
    r"\b(?P<f2>high|low|abnormal|critical|hh|ll)|(?P<f3>[*!]+))\s*$",
    re.I,
)
_BARE_FLAG = re.compile(r"^(?P<v>(?:<=|>=|<|>|≤|≥)?\s*[-+]?[\d.,]+)\s+(?P<f>hh|ll|h|l|a)$", re.I)


def can_parse(page: Page) -> bool:
    return True


# --- iterative text collection --------------------------------------------------------------------

_PARAGRAPH = re.compile(r"\n[ \t]*\n")


def _dt_end(parts: list[str]) -> str:
    """A term and its description stay on one line: "Status: Final" (no second colon)."""
    last = next((p for p in reversed(parts) if p.strip()), "")
    return " " if last.rstrip().endswith(":") else ": "


#: Paragraph mode: blocks and `<br><br>` make paragraphs (a blank line), a single `<br>` is a space.
PARAGRAPHS = TextStyle(
    opening={**dict.fromkeys(BLOCK_TAGS, "\n\n"), "dd": ""},
    closing={**dict.fromkeys(BLOCK_TAGS, "\n\n"), "td": "\t", "th": "\t", "dt": _dt_end},
    br="\n",
    br_always=True,
    collapse=True,
)
#: Line mode: blocks, rows and `<br>` end a line; cells are separated by a tab; a `dt`/`dd` pair is a line.
LINES = TextStyle(
    opening={**dict.fromkeys(BLOCK_TAGS, "\n"), "dd": ""},
    closing={**dict.fromkeys(BLOCK_TAGS, "\n"), "td": "\t", "th": "\t", "dt": "\t"},
    br="\n",
    br_always=True,
    collapse=True,
)


def _collect(root: LexborNode, skip: Callable[[LexborNode], bool], lines: bool) -> str:
    """The visible text below root (`PARAGRAPHS` or `LINES`), as paragraphs or as lines."""
    text = "".join(walk(root, LINES if lines else PARAGRAPHS, skip))
    if lines:
        cleaned = (_clean_line(x) for x in text.split("\n") if x and not x.isspace())
        return "\n".join(line for line in cleaned if line)
    return join_paragraphs(text, _PARAGRAPH) or ""


def _clean_line(line: str) -> str:
    if "\t" not in line:
        return clean(line) or ""
    cells = [clean(c) for c in line.split("\t")]
    return "\t".join(c for c in cells if c)


def _hidden(node: LexborNode) -> bool:
    return node.tag in SKIP_TAGS or is_hidden(node)


def _text(node: LexborNode | None) -> str | None:
    """A node's visible text on one line (iterative, unlike text.text_of)."""
    if node is None:
        return None
    child = node.child
    if child is not None and child.next is None and child.tag == "-text":  # a leaf: the common cell
        return clean(child.text_content)
    return clean(_collect(node, _hidden, lines=False).replace("\n", " "))


def _is_chrome(node: LexborNode, keep_page_chrome: bool) -> bool:
    tag = node.tag
    if tag in CHROME_TAGS or (tag in PAGE_CHROME_TAGS and not keep_page_chrome) or is_hidden(node):
        return True
    attrs = node.attributes
    if (attrs.get("role") or "").lower() in CHROME_ROLES:
        return True
    tokens = f"{attrs.get('class') or ''} {attrs.get('id') or ''}".split()
    return any(CHROME_CLASS.search(token) for token in tokens)


def _main_region(frame: Frame) -> tuple[LexborNode | None, bool]:
    """The main region and whether it is a real one (so header/footer inside it are content)."""
    for selector in MAIN_REGION:
        node = frame.css_first(selector)
        if node is not None and not is_hidden(node) and (node.text(deep=True) or "").strip():
            return node, True
    return frame.body, False


def main_text(page: Page) -> str | None:
    texts: list[str] = []
    for frame in page.frames:
        root, real = _main_region(frame)
        if root is None:
            continue

        def skip(node: LexborNode, real: bool = real) -> bool:
            return _is_chrome(node, real)

        text = _collect(root, skip, lines=False)
        if text:
            texts.append(text)
    return "\n\n".join(texts) or None


# --- lab tables -----------------------------------------------------------------------------------


def classify_header(text: str | None) -> Column | None:
    """What a column header means, or None."""
    key = re.sub(r"[\s:*#.]+", " ", (text or "").lower()).strip()
    if not key or len(key) > 40:
        return None
    if key in HEADER_EXACT:
        return HEADER_EXACT[key]
    if HEADER_NOT.search(key):
        return None
    if "flag" in key:
        return "flag"
    if re.search(r"\b(range|reference|ref|normal|interval|expected|standard)\b", key):
        return "range"
    if re.search(r"\bunits?\b", key):
        return "unit"
    if re.search(r"\b(result|value)s?\b", key):
        return "value"
    if re.search(r"\b(test|component|analyte|name)s?\b", key):
        return "name"
    return None


ARIA_TABLES = "[role=table], [role=grid], [role=treegrid]"
ARIA_CELLS = frozenset({"columnheader", "rowheader", "cell", "gridcell"})


def _cells(row: LexborNode) -> list[LexborNode]:
    """A row's cells, each repeated by its colspan (bounded). ARIA rows: the cells they own."""
    out: list[LexborNode] = []
    if row.tag != "tr":
        return _descendants(row, lambda n: (n.attributes.get("role") or "") in ARIA_CELLS)
    for cell in children(row):
        if cell.tag not in {"td", "th"}:
            continue
        try:
            span = int(cell.attributes.get("colspan") or 1)
        except ValueError:
            span = 1
        out.extend([cell] * max(1, min(span, 20)))
    return out


def _descendants(root: LexborNode, match: Callable[[LexborNode], bool]) -> list[LexborNode]:
    """The outermost descendants that match (a match's own descendants are not searched), in order."""
    out: list[LexborNode] = []
    stack = list(reversed(list(children(root))))
    while stack:
        node = stack.pop()
        if node.tag in {"-text", "-comment"}:
            continue
        if match(node):
            out.append(node)
            continue
        stack.extend(reversed(list(children(node))))
    return out


def _rows(table: LexborNode) -> list[LexborNode]:
    """The table's own rows (not those of nested tables); for an ARIA table, its role=row elements."""
    if table.tag != "table":
        return _descendants(table, lambda n: n.attributes.get("role") == "row")
    rows: list[LexborNode] = []
    for child in children(table):
        if child.tag == "tr":
            rows.append(child)
        elif child.tag in {"thead", "tbody", "tfoot"}:
            rows.extend(r for r in children(child) if r.tag == "tr")
    return rows


class LabTable:
    """A table whose header row says it is a lab table: its data rows (as cells) and the column
    index of each meaning."""

    def __init__(self, table: LexborNode, rows: list[list[LexborNode]], columns: dict[Column, int]) -> None:
        self.table = table
        self.rows = rows
        self.columns = columns


def find_lab_table(table: LexborNode) -> LabTable | None:
    """`table` (a `<table>` or an ARIA table/grid) as a lab table, when a header row among its first
    four rows (th cells or plain first-row td cells) names a test and a result column and at least
    one of units, range or flag."""
    rows = _rows(table)
    for i, row in enumerate(rows[:4]):
        cells = _cells(row)
        if len(cells) < 2:
            continue
        columns: dict[Column, int] = {}
        for j, cell in enumerate(cells):
            meaning = classify_header(_text(cell))
            if meaning is not None and meaning not in columns:
                columns[meaning] = j
        if "name" in columns and "value" in columns and len(columns) >= 3:
            return LabTable(table, [_cells(r) for r in rows[i + 1 :]], columns)
    return None


def _split_flag(value: str | None, allow_bare: bool) -> tuple[str | None, str | None]:
    """A flag written into the value cell: "11.8 (H)", "11.8 High", "11.8 *", or "11.8 H"."""
    if not value:
        return value, None
    m = _INLINE_FLAG.match(value)
    if m and m["v"]:
        return m["v"], m["f1"] or m["f2"] or m["f3"]
    if allow_bare:
        m = _BARE_FLAG.match(value)
        if m:
            return m["v"], m["f"]
    return value, None


def read_components(lab: LabTable, draft: Draft) -> list[Component]:
    cols = lab.columns
    out: list[Component] = []
    for cells in lab.rows:
        if not cells:
            continue

        def cell(meaning: Column, cells: list[LexborNode] = cells) -> str | None:
            j = cols.get(meaning)
            return _text(cells[j]) if j is not None and j < len(cells) else None

        if len(cells) > 1 and all(c is cells[0] for c in cells):
            continue  # one cell spanning the row: a section label
        name = cell("name")
        value = cell("value")
        unit = cell("unit")
        rng = cell("range")
        flag = cell("flag")
        if not name or (value is None and rng is None and unit is None):
            continue  # an empty row or a section label ("CHEMISTRY")
        value, inline_flag = _split_flag(value, allow_bare="unit" in cols)
        if value and not unit:
            value, unit = split_value_unit(value)
            if unit:
                unit, unit_flag = _split_flag(unit, allow_bare=False)
                inline_flag = inline_flag or unit_flag
        comp = make_component(name, value, unit, rng, flag or inline_flag)
        if comp.value is None:
            draft.warn(f"component {name!r} has no value")
        elif comp.unit is None and value_num(comp.value) is not None:
            draft.warn(f"component {name!r} has no unit")
        if comp.ref_range is None:
            draft.warn(f"component {name!r} has no reference range")
        out.append(comp)
    return out


def _heading_text(node: LexborNode) -> str | None:
    tag = node.tag
    if tag in HEADING_TAGS or node.attributes.get("role") == "heading":
        text = _text(node)
        return text if text and len(text) <= 150 else None
    return None


def _last_heading_in(node: LexborNode) -> str | None:
    found = None
    for candidate in node.css("h1, h2, h3, h4, h5, h6, [role=heading], legend"):
        if not is_hidden(candidate):
            found = _heading_text(candidate) or found
    return found


def heading_for(table: LexborNode, limit: int = 400) -> tuple[str | None, list[LexborNode]]:
    """The table's caption or nearest preceding heading, and the nodes between that heading and the
    table (where its labelled dates and provider are written). A generic heading ("Results") is
    passed over for a more specific one above it, and used only when there is none."""
    context: list[LexborNode] = []
    caption = next((c for c in children(table) if c.tag == "caption"), None)
    if caption is not None and _text(caption):
        return _text(caption), context
    label = _aria_label(table)
    if label and label.lower() not in GENERIC_HEADINGS:
        return label, context
    fallback: tuple[str, int] | None = None
    node: LexborNode | None = table
    steps = 0
    while node is not None and node.tag not in {"body", "html"} and steps < limit:
        prev = node.prev
        while prev is not None and steps < limit:
            steps += 1
            if prev.tag not in {"-text", "-comment"}:
                text = _heading_text(prev) or (_last_heading_in(prev) if prev.tag != "table" else None)
                if text and text.lower().strip(" :") not in GENERIC_HEADINGS:
                    return text, context
                if text and fallback is None:
                    fallback = (text, len(context))
                if prev.tag == "table" and find_lab_table(prev) is not None:
                    node = None  # another lab table: its heading is not ours
                    break
                context.append(prev)
            prev = prev.prev
        node = node.parent if node is not None else None
    if fallback is not None:
        return fallback[0], context[: fallback[1]]
    return None, context


def _aria_label(node: LexborNode) -> str | None:
    """The accessible name a table gives itself: aria-labelledby's element, else aria-label."""
    ids = (node.attributes.get("aria-labelledby") or "").split()
    if ids and node.parser is not None:
        texts = []
        for ident in ids[:4]:
            if re.fullmatch(r"[A-Za-z][\w-]*", ident):
                target = node.parser.css_first(f'[id="{ident}"]')
                texts.append(_text(target) or "")
        label = clean(" ".join(texts))
        if label:
            return label
    return clean(node.attributes.get("aria-label"))


def _visible(node: LexborNode, limit: int = 300) -> bool:
    """Neither the node nor an ancestor is hidden (a template, a closed modal, an inactive tab)."""
    current: LexborNode | None = node
    while current is not None and limit > 0:
        if current.tag not in {"-text", "-comment"} and is_hidden(current):
            return False
        current = current.parent
        limit -= 1
    return True


def _label_lines(nodes: list[LexborNode], skip_tables: set[int]) -> list[str]:
    def skip(n: LexborNode) -> bool:
        return _hidden(n) or n.mem_id in skip_tables

    lines: list[str] = []
    for node in nodes:
        if node.mem_id in skip_tables:
            continue
        lines.extend(_collect(node, skip, lines=True).split("\n"))
    return [line for line in lines if line]


_SEGMENT = re.compile(r"\t|\s+[·|•]\s+")
_ANY_FIELD_LABEL = re.compile(
    r"\s(?:" + "|".join(re.escape(x) for labels in FIELD_LABELS.values() for x in labels) + r")\s*:", re.I
)


def _labelled(lines: list[str], labels: tuple[str, ...]) -> str | None:
    """The value written after one of labels: "Label: value", a "Label<TAB>value" row or dt/dd pair,
    or one of several "A: x · B: y" segments. A value ends at the next known label."""
    pattern = re.compile(r"^(?:" + "|".join(re.escape(x) for x in labels) + rf"){_SEP}(?P<v>.+)$", re.I)
    for line in lines:
        # a line may hold several "label<TAB>value" cells or "A: x · B: y" segments: try from each
        segments = _SEGMENT.split(line)
        for k in range(len(segments)):
            m = pattern.match("\t".join(segments[k:]))
            if m:
                value = m["v"].split("\t")[0]
                nxt = _ANY_FIELD_LABEL.search(value)
                return clean(value[: nxt.start()] if nxt else value)
    return None


def _table_record(lab: LabTable, title: str | None, lines: list[str], draft: Draft) -> TestResult:
    if not title:
        draft.warn("a lab table has no heading or caption")
    components = read_components(lab, draft)
    collected = parse_datetime(_labelled(lines, FIELD_LABELS["collected"]))
    resulted = parse_datetime(_labelled(lines, FIELD_LABELS["resulted"]))
    status_text = _labelled(lines, FIELD_LABELS["status"])
    status = STATUS_WORDS.get((status_text or "").lower())
    if collected is None and resulted is None:
        draft.warn(f"lab table {title!r} shows no collection or result date")
    return TestResult(
        title=title,
        occurred_at=collected or resulted,
        category="lab",
        status=status,
        resulted_at=resulted,
        ordered_by=_labelled(lines, FIELD_LABELS["ordered_by"]),
        performing_lab=_labelled(lines, FIELD_LABELS["performing_lab"]),
        components=components,
    )


Found = tuple[LabTable, str | None, list[LexborNode]]


def find_tables(page: Page) -> list[Found]:
    """Every visible lab table of every frame, with its title and the nodes that label it."""
    found: list[Found] = []
    for frame in page.frames:
        for table in frame.css("table") + [t for t in frame.css(ARIA_TABLES) if t.tag != "table"]:
            if not _visible(table):
                continue
            lab = find_lab_table(table)
            if lab is not None:
                title, context = heading_for(table)
                found.append((lab, title or _text(frame.css_first("title")), context))
    return found


def page_lines(page: Page, found: list[Found]) -> list[str]:
    """The label lines of every frame's body, the lab tables left out."""
    skip = {lab.table.mem_id for lab, _, _ in found}
    return _label_lines([f.body for f in page.frames if f.body is not None], skip)


def lab_records(found: list[Found], lines: list[str], draft: Draft) -> list[TestResult]:
    skip = {lab.table.mem_id for lab, _, _ in found}
    records: list[TestResult] = []
    for lab, title, context in found:
        own = _label_lines(context[::-1], skip)
        # one table: the page's labels are its labels; several: only those between heading and table
        record = _table_record(lab, title, own + lines if len(found) == 1 else own, draft)
        if record.components:
            records.append(record)
    return records


# --- patient and organization ---------------------------------------------------------------------


def _name_value(raw: str | None) -> str | None:
    """A person's name as labelled, or None when the text does not look like one."""
    if not raw:
        return None
    value = clean(_NEXT_LABEL.sub("", raw.split("\t")[0]))
    if not value:
        return None
    value = value.strip(" ,;|-")
    words = value.split()
    if not 1 < len(words) <= 6 or len(value) > 80 or re.search(r"[\d@<>{}=]", value):
        return None
    # Every word a capitalized name part or a particle ("de", "van"): "Patient: please call" is no name.
    for word in words:
        letters = word.lstrip("\"'“‘(")
        if not letters or not (letters[0].isupper() or letters.lower() in NAME_PARTICLES):
            return None
    return value


def _dob(lines: list[str]) -> str | None:
    for line in lines:
        m = L_DOB.search(line)
        if m:
            token = _DATE_TOKEN.search(m["v"])
            if token:
                return parse_date(token.group(0))
    return None


def patient_and_org(lines: list[str], draft: Draft) -> tuple[Patient | None, str | None]:
    name = None
    for line in lines:
        m = L_PATIENT.match(line)
        if m and (name := _name_value(m["v"])):
            break
    dob = _dob(lines)
    if name is None and dob is not None:
        for line in lines:
            m = L_NAME.match(line)
            if m and (name := _name_value(m["v"])):
                break
    org = None
    for line in lines:
        m = L_ORG.match(line)
        if m:
            org = clean(m["v"].split("\t")[0])
            break
    patient = Patient(name=name, dob=dob) if name else None
    if patient is None:
        draft.warn("the page does not label whose record it is")
    return patient, org


# --- the parse -----------------------------------------------------------------------------------


def _document_title(page: Page) -> str | None:
    for frame in page.frames:
        root, _ = _main_region(frame)
        if root is None:
            continue
        for h in root.css("h1"):
            text = _text(h)
            if text and not is_hidden(h):
                return text
    title = clean(page.title)
    if title:
        return title
    for frame in page.frames:
        text = _text(frame.css_first("title"))
        if text:
            return text
    return None


def _document_title_or_warn(page: Page, draft: Draft) -> str | None:
    try:
        return _document_title(page)
    except Exception as exc:
        draft.warn(f"the page title could not be read ({type(exc).__name__})")
        return None


def parse(page: Page) -> ParseResult:
    draft = Draft(vendor=NAME, page_kind="unknown")
    found: list[Found] = []
    lines: list[str] = []
    try:
        found = find_tables(page)
    except Exception as exc:  # a step that fails is a warning; the page is never lost
        draft.warn(f"the lab tables could not be found ({type(exc).__name__})")
    try:
        lines = page_lines(page, found)
        draft.patient, draft.organization = patient_and_org(lines, draft)
    except Exception as exc:
        draft.warn(f"the patient could not be read ({type(exc).__name__})")
    try:
        records = lab_records(found, lines, draft)
        if records:
            draft.page_kind = "test_result"
            draft.records.extend(records)
    except Exception as exc:
        draft.warn(f"the lab tables could not be read ({type(exc).__name__})")
    if not draft.records:
        try:
            text = main_text(page)
        except Exception as exc:
            text = None
            draft.warn(f"the page text could not be read ({type(exc).__name__})")
        if not keep_text(draft, text, lambda: _document_title_or_warn(page, draft), None):
            draft.warn("the page has no readable text")
    return draft.result()
