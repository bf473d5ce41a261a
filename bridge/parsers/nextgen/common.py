"""Helpers shared by the NextGen PxP readers: selectors kept as data, `<br>`-aware text, table cells.

NextGen's markup (see fixtures/portal_pages/nextgen/README.md) is an Angular Material app. The
`_ngcontent-ng-c…` numbers change with every build, so nothing here keys on them: element names,
`pxp-*` and `cdk-column-*` classes and visible labels only.
"""

from __future__ import annotations

import re

from selectolax.lexbor import LexborNode

from ..dom import children
from ..dom import classes as classes
from ..dom import first_text as first_text
from ..dom import has_class as has_class
from ..dom import select as select
from ..labels import dl_pairs as dl_pairs
from ..text import BLOCK_TAGS, TextStyle, clean, is_hidden, join_paragraphs, walk
from ..text import text_of as text_of

# --- selectors, as named constants (vendor CSS classes are the least stable hook) -------------
SEL_ROOT = "pxp-root"
SEL_MAIN = "main.pxp-main, main#main-content, main, [role=main]"
SEL_PATIENT_NAME = ".pxp-patient-card__name"
SEL_PATIENT_DOB = ".pxp-patient-card__dob"
SEL_SELECTOR_NAME = ".pxp-patient-selector__name"
SEL_SELECTOR_TRIGGER = ".pxp-patient-selector__trigger, [aria-label*='Current patient:']"
SEL_REP_BANNER = ".pxp-representative-banner"
SEL_PRACTICE = ".pxp-header__practice-name"
SEL_LOGO = ".pxp-header__logo, .pxp-header__brand img"
SEL_FOOTER_PRACTICE = ".pxp-footer__practice"
SEL_PAGE_TITLE = ".pxp-page-title"

# Every record's paragraphs are separated by a blank line; a single <br> or newline is a space.
_PARA_SPLIT = re.compile(r"\n[ \t\r\f\v]*\n")
_WS_NO_NL = re.compile(r"[ \t\r\f\v\xa0]+")


#: A block element or `<br><br>` (a blank line in `<pre>`) starts a paragraph; a single `<br>` or a
#: single newline is ordinary white space.
PARAGRAPHS = TextStyle(
    opening=dict.fromkeys(BLOCK_TAGS, "\n\n"),
    closing={**dict.fromkeys(BLOCK_TAGS, "\n\n"), "td": " ", "th": " "},
    br="\n",
    br_always=True,
    collapse=True,
    context=frozenset({"pre"}),
    raw_inside=True,
)


def br_paragraphs(node: LexborNode | None) -> str | None:
    """Multi-paragraph text by the portal's rules (`PARAGRAPHS`). The node itself is read even when an
    ancestor hides it (a collapsed `mat-expansion-panel` keeps its content in the DOM with
    `visibility: hidden`); hidden descendants stay out."""
    if node is None:
        return None
    return join_paragraphs("".join(walk(node, PARAGRAPHS)), _PARA_SPLIT)


def own_text(node: LexborNode | None) -> str | None:
    """Visible text of a node even when an ancestor hides it (the node's own hidden flag too)."""
    if node is None:
        return None
    parts = [
        text_of(child) if child.tag != "-text" else clean(child.text_content) for child in _children(node)
    ]
    return clean(" ".join(p for p in parts if p))


def _children(node: LexborNode) -> list[LexborNode]:
    return [child for child in children(node) if child.tag != "-comment"]


def first(root: LexborNode | None, selector: str) -> LexborNode | None:
    """The first descendant matching selector (never root itself)."""
    if root is None:
        return None
    for node in root.css(selector):
        if node is not root:
            return node
    return None


def fast_text(node: LexborNode | None) -> str | None:
    """text_of, with a fast path for the common leaf (one text child): most table cells and labels."""
    if node is None:
        return None
    child = node.child
    if child is not None and child.next is None and child.tag == "-text":
        return None if is_hidden(node) else clean(child.text_content)
    return text_of(node)


def text_at(root: LexborNode | None, selector: str) -> str | None:
    """Text of the first match of selector below root that has text."""
    if root is None:
        return None
    for node in root.css(selector):
        value = fast_text(node)
        if value:
            return value
    return None


def column_of(cell: LexborNode) -> str | None:
    """`cdk-column-<name>` of a Material table cell (Angular's stable column id), else None."""
    for cls in classes(cell):
        if cls.startswith("cdk-column-"):
            return cls[len("cdk-column-") :].lower()
    for cls in classes(cell):
        if cls.startswith("mat-column-"):
            return cls[len("mat-column-") :].lower()
    return None


def row_cells(
    row: LexborNode, header_columns: list[str | None], by_text: bool = False
) -> dict[str, LexborNode]:
    """A row's cells by column: the cdk-column class first, else the header's column at that index
    (by_text: the header's column only, for tables whose column ids we do not know)."""
    cells: dict[str, LexborNode] = {}
    index = 0
    for cell in _children(row):
        if cell.tag not in {"td", "th"}:
            continue
        name = None if by_text else column_of(cell)
        if name is None and index < len(header_columns):
            name = header_columns[index]
        if name and name not in cells:
            cells[name] = cell
        index += 1
    return cells


def header_columns(table: LexborNode, aliases: dict[str, str], by_text: bool = False) -> list[str | None]:
    """Column names of a table's header row, by cdk-column class or by the header's visible text
    (looked up in aliases: lower-cased header text -> column name; by_text: the text only)."""
    header = None
    for row in table.css("tr"):
        if row.css_first("th") is not None:
            header = row
            break
    if header is None:
        return []
    names: list[str | None] = []
    for cell in _children(header):
        if cell.tag not in {"td", "th"}:
            continue
        name = None if by_text else column_of(cell)
        if name is None:
            name = aliases.get((text_of(cell) or "").lower().rstrip(":"))
        names.append(name)
    return names


def cell_text(cells: dict[str, LexborNode], *names: str) -> str | None:
    for name in names:
        node = cells.get(name)
        if node is not None:
            value = fast_text(node)
            if value:
                return value
    return None


def data_rows(table: LexborNode) -> list[LexborNode]:
    """Body rows of a table: Material `mat-row`s when the table marks them, else rows of `td`."""
    rows = [
        r
        for r in table.css("tr")
        if has_class(r, "mat-mdc-row") or has_class(r, "mat-row") or "mat-row" in r.attributes
    ]
    if rows or "mat-table" in table.attributes or has_class(table, "mat-mdc-table"):
        return rows  # a Material table marks every data row; the rest is its "no data" row
    return [
        r
        for r in table.css("tr")
        if r.css_first("td") is not None and r.css_first("th") is None and not _spans_row(r)
    ]


def _spans_row(row: LexborNode) -> bool:
    """A row of one cell spanning the table ("No results found."), or Material's no-data row."""
    if has_class(row, "mat-mdc-no-data-row") or has_class(row, "mat-no-data-row"):
        return True
    cells = [c for c in _children(row) if c.tag in {"td", "th"}]
    return len(cells) == 1 and (cells[0].attributes.get("colspan") or "1") not in {"", "1"}
