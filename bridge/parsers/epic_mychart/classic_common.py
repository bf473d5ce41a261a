"""Small tree helpers shared by the Epic MyChart classic readers.

Classic pages hide text in three ways that matter: `span.clearlabel` (screen-reader text, placed
off-screen by CSS, so it is not hidden by attribute), `aria-hidden` duplicates (the print header, the
short date in list headers) and CSS classes such as `trpHidden`. The shared `text_of` already leaves
out what is hidden by attribute; these helpers add the two other cases.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date

from selectolax.lexbor import LexborNode

from ..dates import parse_date, parse_datetime
from ..dom import Root as Root
from ..dom import classes as classes
from ..dom import first_text
from ..dom import has_class as has_class
from ..dom import unique as unique
from ..labels import dt_dd
from ..labels import label_key as label_key
from ..labels import pick as pick
from ..text import TextStyle, clean, skip_invisible, walk

_US_DATE = re.compile(r"^\s*(?P<m>\d{1,2})/(?P<d>\d{1,2})/(?P<y>\d{4})\s*$")
_MONTHS = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_TIME = r"(?:,?\s+(?:at\s+)?\d{1,2}:\d{2}(?:\s*[AP]\.?M\.?)?(?:\s+[A-Z]{2,4}T)?)?"
# A date (with an optional time) inside a longer phrase: "Given 08/05/2019 (Dose 1)".
DATE_IN_TEXT = re.compile(
    rf"\b(?:\d{{1,2}}/\d{{1,2}}/\d{{4}}|{_MONTHS}\s+\d{{1,2}},?\s+\d{{4}}){_TIME}", re.I
)
# Screen-reader-only text: never part of a field's value.
CLEARLABEL = "clearlabel"

Node = LexborNode


def raw_text(node: Node | None) -> str | None:
    """All text below node, hidden or not (the print header, aria-hidden spans)."""
    if node is None:
        return None
    return clean(node.text(deep=True))


#: Words split by cells, rows, `div`s, paragraphs, list items, terms and `<br>`; the pieces are joined
#: by a space (adjacent inline text too: the classic markup puts no space between spans it shows apart).
WORDS = TextStyle(closing=dict.fromkeys(("td", "th", "div", "p", "li", "dt", "dd", "tr"), " "), br=" ")


def visible_text(node: Node | None, skip_classes: frozenset[str] = frozenset({CLEARLABEL})) -> str | None:
    """Visible text on one line, without screen-reader-only spans."""
    if node is None:
        return None

    def skip(n: Node) -> bool:
        return skip_invisible(n) or (bool(skip_classes) and not skip_classes.isdisjoint(classes(n)))

    if skip(node):
        return None
    return clean(" ".join(walk(node, WORDS, skip)))


def text_or_raw(node: Node | None) -> str | None:
    """Visible text, else the raw text (for cells a class or attribute hides on screen)."""
    return visible_text(node) or raw_text(node)


def first(root: Root | None, *selectors: str) -> Node | None:
    """The first node matching the first selector that matches anything: fallback chains as data."""
    if root is None:
        return None
    for selector in selectors:
        node = root.css_first(selector)
        if node is not None:
            return node
    return None


def first_value(root: Root | None, *selectors: str) -> str | None:
    """Text (visible, else raw) of the first selector whose node has any."""
    return first_text(root, *selectors, read=text_or_raw)


def ancestor(node: Node | None, predicate: Callable[[Node], bool], limit: int = 40) -> Node | None:
    """The nearest ancestor for which predicate(node) is true."""
    cur = node.parent if node is not None else None
    while cur is not None and limit > 0:
        if cur.tag == "html":
            return None
        if predicate(cur):
            return cur
        cur = cur.parent
        limit -= 1
    return None


def pairs_in(root: Node | None) -> dict[str, str]:
    """`dt` -> `dd` pairs below root (label lower-cased, colon dropped), first occurrence wins.

    Unlike the shared `dl_pairs`, a value only a class hides on screen is still read, and
    screen-reader-only text is left out of both label and value.
    """
    found: dict[str, str] = {}
    for dt, dd in dt_dd(root):
        key = label_key(visible_text(dt) or raw_text(dt))
        value = text_or_raw(dd)
        if key and value and key not in found:
            found[key] = value
    return found


def row_pairs(root: Node | None) -> dict[str, str]:
    """Two-cell table rows (`th` or `td` label, then the value) and "Label: value" lines below root:
    the order details when a page lays them out without a `dl`. First occurrence wins."""
    found: dict[str, str] = {}
    if root is None:
        return found
    for tr in root.css("tr"):
        cells = [c for c in tr.iter() if c.tag in {"th", "td"}]
        if len(cells) == 2:
            key = label_key(visible_text(cells[0]) or raw_text(cells[0]))
            value = text_or_raw(cells[1])
            if key and value and len(key) < 40 and key not in found:
                found[key] = value
    for node in root.css("p, div, li, span"):
        if any(n.tag in _BLOCKS for n in node.traverse() if n.mem_id != node.mem_id):
            continue  # only innermost blocks: a wrapper's text would run several lines together
        m = _LABEL_LINE.match(visible_text(node) or "")
        if m:
            key = label_key(m.group("label"))
            if key not in found:
                found[key] = clean(m.group("value")) or ""
    return {k: v for k, v in found.items() if v}


_BLOCKS = frozenset({"p", "div", "li", "table", "dl", "ul"})
_LABEL_LINE = re.compile(r"^(?P<label>[A-Za-z][A-Za-z /#]{2,30}):\s*(?P<value>\S.*)$")


def date_field(
    text: str | None, what: str, warn: Callable[[str], None], with_time: bool = False
) -> str | None:
    """A date (or date-time) from text; unreadable text is a warning, never an exception."""
    if not text:
        return None
    m = _US_DATE.match(text)
    if m:  # the common "03/12/2025": no need for the general parser
        try:
            return date(int(m["y"]), int(m["m"]), int(m["d"])).isoformat()
        except ValueError:
            pass
    value = parse_datetime(text) if with_time else parse_date(text)
    if value is None:
        # The date inside a longer phrase ("08/05/2019 (Dose 1)", "Noted: 04/19/2012").
        m = DATE_IN_TEXT.search(text)
        if m and m.group(0) != text:
            value = parse_datetime(m.group(0)) if with_time else parse_date(m.group(0))
    if value is None:
        warn(f"the {what} '{text}' could not be read as a date")
    return value
