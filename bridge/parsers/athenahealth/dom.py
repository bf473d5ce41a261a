"""Typed, null-safe DOM helpers for the athenahealth parser (selectolax Lexbor nodes only).

`data-testid` lookups, `dt`/`dd` label maps, `<time datetime>` values, paragraphs by the reference
README's rule (a paragraph is a `<p>`; a `<br>` inside one is only a line break), table cells by class
or by column header, and the enclosing section of a list item.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from urllib.parse import urlsplit

from selectolax.lexbor import LexborNode

from ..dates import parse_date, parse_datetime
from ..dom import classes as classes
from ..dom import first_text as first_text
from ..labels import dl_pairs as dl_pairs
from ..labels import dt_dd, label_key
from ..labels import pick as pick
from ..text import BLOCK_TAGS, TextStyle, join_paragraphs, skip_invisible, walk
from ..text import text_of as text_of

_WS = re.compile(r"\s+")
HEADING_TAGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_LABEL_PREFIX = re.compile(r"^\s*[A-Za-z ]*:\s*")
_US_DATE = re.compile(r"(?P<m>\d{1,2})/(?P<d>\d{1,2})/(?P<y>\d{4})")
_ROOT_ONLY = re.compile(r"^/(?:\d[\w-]*/?|[a-z]{2}(?:-[a-z]{2})?/?)?$", re.I)
# Blocks inside a message or instructions that are not its text: attachment lists, action bars.
_NOT_TEXT = re.compile(r"attachment|__actions\b|-actions\b", re.I)


def route_path(url: str) -> str:
    """The URL path; for a hash-routed capture (`/#/test-results`) the route inside the fragment.
    A practice-id or locale prefix (`/98213/…`, `/es/…`) is kept: route patterns allow it."""
    parts = urlsplit(url)
    path = parts.path or "/"
    if _ROOT_ONLY.match(path) and parts.fragment.startswith("/"):
        return path.rstrip("/") + parts.fragment.split("?")[0]
    return path


def is_root_path(path: str) -> bool:
    """`/`, or only a practice-id or locale prefix."""
    return bool(_ROOT_ONLY.match(path))


def tid(root: LexborNode | None, *names: str) -> LexborNode | None:
    """The first element with one of these `data-testid`s (in the order given)."""
    if root is None:
        return None
    for name in names:
        node = root.css_first(f'[data-testid="{name}"]')
        if node is not None:
            return node
    return None


def tid_text(root: LexborNode | None, *names: str) -> str | None:
    return first_text(root, *(f'[data-testid="{name}"]' for name in names))


def dd_map(root: LexborNode | None) -> dict[str, LexborNode]:
    """Every `dt` label below root (lower case, no colon) -> its `dd` node."""
    found: dict[str, LexborNode] = {}
    for dt, dd in dt_dd(root):
        key = label_key(text_of(dt))
        if key and key not in found:
            found[key] = dd
    return found


def iso_attr(raw: str | None) -> str | None:
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


def when(node: LexborNode | None, date_only: bool = False) -> str | None:
    """When a node says: its (or its `<time>` child's) `datetime` attribute, else its visible text."""
    if node is None:
        return None
    time_node = node if node.tag == "time" else node.css_first("time")
    iso = iso_attr(time_node.attributes.get("datetime")) if time_node is not None else None
    if iso is None:
        text = text_of(time_node if time_node is not None else node)
        text = _LABEL_PREFIX.sub("", text or "")  # "DOB: …", "Started: …"
        us = _US_DATE.fullmatch(text)
        if us:  # the portal's MM/DD/YYYY, without a time: no need for dateutil
            try:
                iso = date(int(us["y"]), int(us["m"]), int(us["d"])).isoformat()
            except ValueError:
                iso = None
        else:
            iso = parse_date(text) if date_only else parse_datetime(text)
    if iso and date_only:
        return iso[:10]
    return iso


#: The reference README's paragraphs: a `<p>` is one (a `<br>` inside it is only a line break), as is
#: every other block; source line breaks are not paragraphs.
PARAGRAPHS = TextStyle(
    opening=dict.fromkeys(BLOCK_TAGS, "\n\n"),
    closing={**dict.fromkeys(BLOCK_TAGS, "\n\n"), "td": " ", "th": " "},
    br="\n\n",
    br_inside=" ",
    collapse=True,
    context=frozenset({"p"}),
)


def _not_text(node: LexborNode) -> bool:
    return skip_invisible(node) or bool(
        _NOT_TEXT.search(f"{node.attributes.get('class') or ''} {node.attributes.get('data-testid') or ''}")
    )


def _not_text_nor_heading(node: LexborNode) -> bool:
    return node.tag in HEADING_TAGS or _not_text(node)


def paragraphs(node: LexborNode | None, drop_headings: bool = False) -> str | None:
    """Paragraphs of a node joined by a blank line, empty ones dropped; optionally without headings."""
    if node is None:
        return None
    skip = _not_text_nor_heading if drop_headings else _not_text
    if skip(node):
        return None
    return join_paragraphs("".join(walk(node, PARAGRAPHS, skip)))


def word(text: str | None, table: dict[str, str]) -> str | None:
    key = label_key(text)
    if not key:
        return None
    if key in table:
        return table[key]
    for word, value in table.items():
        if re.search(rf"\b{re.escape(word)}\b", key):
            return value
    return None


def header_index(table: LexborNode | None) -> dict[str, int]:
    """Column header text (lower case) -> column index, for the cells that lack their class."""
    found: dict[str, int] = {}
    if table is None:
        return found
    head = table.css_first("thead tr") or table.css_first("tr")
    if head is None:
        return found
    for i, cell in enumerate(c for c in head.iter() if c.tag in {"th", "td"}):
        key = label_key(text_of(cell))
        if key:
            found.setdefault(key, i)
    return found


def cell(row: LexborNode, css: str, headers: dict[str, int], *names: str) -> LexborNode | None:
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


def section_heading(node: LexborNode, stop: LexborNode) -> str | None:
    """The heading of the nearest enclosing `section` ("Current medications", "Past appointments")."""
    parent = node.parent
    while parent is not None and parent.mem_id != stop.mem_id:
        if parent.tag == "section":
            return first_text(parent, "h2", "h3")
        parent = parent.parent
    return None


def ancestor_testid(node: LexborNode, stop: LexborNode) -> str | None:
    parent = node.parent
    while parent is not None and parent.mem_id != stop.mem_id:
        tid = parent.attributes.get("data-testid")
        if tid:
            return tid
        parent = parent.parent
    return None


def linked_rows(root: LexborNode, pattern: re.Pattern[str]) -> list[tuple[LexborNode, LexborNode]]:
    """(row, link) for every link to a detail page: the row is the link's nearest `li`/`tr`/card.
    The fallback for list pages whose row hooks are unknown (the reference shows none of them)."""
    found: list[tuple[LexborNode, LexborNode]] = []
    seen: set[int] = set()
    for link in root.css("a[href]"):
        if not pattern.search(link.attributes.get("href") or ""):
            continue
        row = link.parent
        while row is not None and row.mem_id != root.mem_id and row.tag not in {"li", "tr", "article"}:
            row = row.parent
        row = row if row is not None and row.mem_id != root.mem_id else link
        if row.mem_id in seen or ancestor_testid(row, root) == "message-thread":
            continue
        seen.add(row.mem_id)
        found.append((row, link))
    return found
