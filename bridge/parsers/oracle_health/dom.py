"""Helpers the Oracle Health modules share: visibility, document-order walks under headings, fast dates.

Lexbor returns a node once per matching selector of a group (`a, b` can yield one node twice), so
every multi-selector query here is de-duplicated by node identity, keeping document order.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache

from selectolax.lexbor import LexborNode

from ..dates import ZONES, combine, parse_date, parse_datetime
from ..dom import classes as dom_classes
from ..dom import first_text as first_text
from ..dom import unique
from ..labels import dl_pairs as dl_pairs
from ..text import is_hidden
from ..text import text_of as text_of

LABEL_CLASSES = frozenset({"label", "sr-only"})


def unlabelled_text(node: LexborNode | None) -> str | None:
    """A field's text without its own label span ("Reference Range:", "Performed at:")."""
    return text_of(node, LABEL_CLASSES)


def is_visible(node: LexborNode) -> bool:
    """Neither the node nor an ancestor is hidden (hidden modals, templates, screen-reader duplicates)."""
    current: LexborNode | None = node
    while current is not None and current.tag not in {"body", "html", "-document"}:
        if is_hidden(current):
            return False
        current = current.parent
    return True


def select(root: LexborNode, selector: str) -> list[LexborNode]:
    """Visible matches of a selector group, once each, in document order."""
    return [n for n in unique(root.css(selector)) if is_visible(n)]


def section_items(
    root: LexborNode, item_selector: str, header_selector: str
) -> Iterator[tuple[str | None, LexborNode]]:
    """Each item with the text of the last heading before it in document order.

    Wrapper `div`s between a heading and its list do not matter: only document order does.
    """
    heading: str | None = None
    items = {n.mem_id for n in root.css(item_selector)}
    for node in select(root, f"{header_selector}, {item_selector}"):
        if node.mem_id in items:
            yield heading, node
        else:
            heading = first_text(node, "bdi") or text_of(node)


def ancestor(node: LexborNode, *classes: str, tags: frozenset[str] = frozenset()) -> LexborNode | None:
    """The nearest ancestor with one of the classes or tags."""
    current = node.parent
    while current is not None and current.tag not in {"body", "html"}:
        names = dom_classes(current)
        if current.tag in tags or any(c in names for c in classes):
            return current
        current = current.parent
    return None


_MDY = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_HM = re.compile(r"^(\d{1,2}):(\d{2})\s*([ap])\.?m\.?(?:\s+(?P<zone>[a-z]{1,4}))?$", re.I)


@lru_cache(maxsize=1024)
def stamp(day: str | None, time: str | None) -> str | None:
    """`combine(day, time)` with a fast path for the portal's own shapes (MM/DD/YYYY, h:mm AM/PM [ZONE]).

    A results page repeats a few collection times dozens of times; dateutil is the slow part of a parse.
    """
    d = _MDY.match(day or "")
    t = _HM.match(time or "") if time else None
    if d and (time is None or t):
        month, dom, year = int(d[1]), int(d[2]), int(d[3])
        if 1 <= month <= 12 and 1 <= dom <= 31:
            iso = f"{year:04d}-{month:02d}-{dom:02d}"
            if t is None:
                return iso
            hour, minute = int(t[1]) % 12 + (12 if t[3].lower() == "p" else 0), int(t[2])
            zone = (t["zone"] or "").upper()
            if 1 <= int(t[1]) <= 12 and minute < 60 and (not zone or zone in ZONES):
                offset = ""
                if zone:
                    h = ZONES[zone]
                    offset = f"{'-' if h < 0 else '+'}{abs(h):02d}:00"
                return f"{iso}T{hour:02d}:{minute:02d}:00{offset}"
    return combine(day, time)


def moment(text: str | None) -> str | None:
    """`parse_datetime(text)` with the fast path for "MM/DD/YYYY h:mm AM [ZONE]"."""
    if not text:
        return None
    day, _, rest = text.strip().partition(" ")
    if _MDY.match(day):
        return stamp(day, rest.strip() or None)
    return parse_datetime(text)


def day_of(text: str | None) -> str | None:
    """`parse_date(text)` with the fast path for "MM/DD/YYYY"."""
    if not text:
        return None
    day = text.strip().partition(" ")[0]
    if _MDY.match(day):
        got = stamp(day, None)
        if got:
            return got[:10]
    return parse_date(text)
