"""DOM helpers for the MyChart PX (React) pages: one concern, reading the rendered tree.

PX markup carries hashed CSS-module classes that change with every Epic build, so nothing here keys
on a class. What it offers instead:

* `DocIndex`: document-order positions for every element below a root, so that "the section that a
  heading opens" and "which heading does this node belong to" work whatever the wrapper divs are;
* `own_text` / `leaves`: the text an element holds itself, for rows whose fields are bare spans;
* `report_text`: multi-paragraph text that honours pre-wrapped reports (one paragraph per line).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from selectolax.lexbor import LexborNode

from ..dates import parse_date, parse_datetime
from ..labels import label_key
from ..text import SKIP_TAGS, clean, is_hidden, paragraphs_of, text_of

HEADING_TAGS: tuple[str, ...] = ("h1", "h2", "h3", "h4", "h5", "h6")
_MONTHS = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
MONTH_DATE = re.compile(rf"\b{_MONTHS}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}\b", re.I)
NUM_DATE = re.compile(r"\b\d{1,2}/\d{1,2}/\d{2,4}\b")
_FAR = 1 << 60


_DATE_TIME = re.compile(
    rf"(?:{_MONTHS}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}|\d{{1,2}}/\d{{1,2}}/\d{{2,4}})"
    r"(?:,?\s+(?:at\s+)?\d{1,2}:?\d{2}(?:\s*[AP]\.?M\.?)?(?:\s+[A-Z]{2,4}T\b)?)?",
    re.I,
)


def datetime_in(text: str | None, with_time: bool = True) -> str | None:
    """The date (and time) a phrase holds: the whole text when it parses, else the date inside it
    ("Sent: Apr 16, 2026 9:12 AM", "Dec 3, 2026 8:45 AM (EST)"). None without a full date."""
    if not text or not has_date(text):
        return None
    parse = parse_datetime if with_time else parse_date
    value = parse(text)
    if value is None:
        m = _DATE_TIME.search(text)
        if m is not None and m.group(0) != text:
            value = parse(m.group(0))
    return value


def has_date(text: str | None) -> bool:
    """True when the text holds a full date (month name or M/D/Y): guards every fuzzy date parse."""
    return bool(text and (MONTH_DATE.search(text) or NUM_DATE.search(text)))


def key(text: str | None) -> str:
    """A heading or label as a comparison key: lower case, no ®, no trailing colon, spaces collapsed."""
    return label_key((text or "").replace("®", ""))


def raw_text(node: LexborNode | None) -> str | None:
    """All text below a node, screen-reader-only and aria-hidden spans included (values hide there)."""
    if node is None:
        return None
    parts: list[str] = []
    for sub in node.traverse(include_text=True):
        if sub.tag == "-text":
            parent = sub.parent
            if parent is not None and parent.tag in {"script", "style", "template", "noscript"}:
                continue
            parts.append(sub.text_content or "")
    return clean(" ".join(parts))


def own_text(node: LexborNode) -> str | None:
    """The text of a node's direct text children only (not its child elements), joined by a space."""
    if node.is_text_node:  # a text node has no text children
        return None
    return clean(node.text(deep=False, separator=" "))


def leaves(root: LexborNode, include_hidden: bool = True) -> Iterator[tuple[LexborNode, str]]:
    """Every element below root (root included) that holds text itself, in document order."""
    skipped: set[int] = set()  # traverse() is pre-order: a skipped node's parent is seen first
    for node in root.traverse():
        parent = node.parent
        if (
            (parent is not None and parent.mem_id in skipped)
            or (node.tag in SKIP_TAGS and node.tag != "button")
            or (not include_hidden and is_hidden(node))
        ):
            skipped.add(node.mem_id)
            continue
        text = own_text(node)
        if text:
            yield node, text


def next_element(node: LexborNode | None) -> LexborNode | None:
    """The next sibling that is an element."""
    sib = node.next if node is not None else None
    while sib is not None and ((sib.tag or "").startswith("-")):
        sib = sib.next
    return sib


def closest(node: LexborNode, tags: Iterable[str], stop: LexborNode | None = None) -> LexborNode | None:
    """The nearest ancestor (node included) with one of these tags, not going past stop."""
    wanted = set(tags)
    cur: LexborNode | None = node
    while cur is not None:
        if stop is not None and cur.mem_id == stop.mem_id:
            return None
        if cur.tag in wanted:
            return cur
        cur = cur.parent
    return None


def is_inside(node: LexborNode, ancestor: LexborNode) -> bool:
    cur = node.parent
    while cur is not None:
        if cur.mem_id == ancestor.mem_id:
            return True
        cur = cur.parent
    return False


class DocIndex:
    """Document-order start/end positions of every element below root, computed once."""

    def __init__(self, root: LexborNode) -> None:
        self.root = root
        self.start: dict[int, int] = {}
        self.end: dict[int, int] = {}
        # One pre-order pass in Lexbor (`traverse`), closing the open ancestors that are not the next
        # element's parent: an element ends where the first element after it that is not inside it
        # starts. Iterative, so a page nested thousands deep cannot exhaust the stack.
        start, end = self.start, self.end
        open_ids: list[int] = []  # the open ancestors, innermost last
        counter = 0
        for node in root.traverse(include_text=False):
            mem_id = node.mem_id
            if counter:
                parent = node.parent
                parent_id = parent.mem_id if parent is not None else None
                while open_ids and open_ids[-1] != parent_id:
                    end[open_ids.pop()] = counter
            start[mem_id] = counter
            counter += 1
            open_ids.append(mem_id)
        for mem_id in open_ids:
            end[mem_id] = counter
        self._headings: dict[str, list[LexborNode]] = {}

    def headings(self, tags: Iterable[str]) -> list[LexborNode]:
        """Every heading of these tags below root, in document order: asked once per region and
        heading search, so found once (parsers never change a tree)."""
        selector = ", ".join(tags)
        found = self._headings.get(selector)
        if found is None:
            found = self._headings[selector] = list(self.root.css(selector))
        return found

    def pos(self, node: LexborNode) -> int:
        return self.start.get(node.mem_id, -1)

    def stop_after(self, node: LexborNode) -> int:
        return self.end.get(node.mem_id, _FAR)

    def find_heading(
        self, tags: Iterable[str], *names: str, prefix: bool = False, within: LexborNode | None = None
    ) -> LexborNode | None:
        """The first visible heading whose text is one of names (or starts with one, with prefix)."""
        wanted = [key(n) for n in names]
        for h in within.css(", ".join(tags)) if within is not None else self.headings(tags):
            k = key(text_of(h) or raw_text(h))
            if not k:
                continue
            if k in wanted or (prefix and any(k.startswith(w) for w in wanted)):
                return h
        return None

    def region(self, heading: LexborNode, within: LexborNode | None = None) -> list[LexborNode]:
        """The nodes a heading opens: everything after it up to the next heading of the same or a higher
        level, kept inside the heading's own `section` (or `within`), whatever wrappers sit between."""
        level = int(heading.tag[1]) if heading.tag in HEADING_TAGS else 6
        hpos = self.pos(heading)
        tags = HEADING_TAGS[:level]
        stop = min((p for p in (self.pos(h) for h in self.headings(tags)) if p > hpos), default=_FAR)
        box = within or self._own_box(heading, tags)
        if box is not None and box.mem_id != heading.mem_id:
            stop = min(stop, self.stop_after(box))
        out: list[LexborNode] = []
        cand = self._after(heading)
        while cand is not None:
            if (cand.tag or "").startswith("-"):
                if cand.tag == "-text" and clean(cand.text_content):
                    out.append(cand)
                cand = self._after(cand)
                continue
            s, e = self.pos(cand), self.stop_after(cand)
            if s < 0 or s >= stop:
                break
            if e > stop:  # the next heading sits inside: read this node's children instead
                cand = cand.child
                continue
            out.append(cand)
            cand = self._after(cand)
        return out

    def _own_box(self, heading: LexborNode, tags: tuple[str, ...]) -> LexborNode | None:
        """The largest ancestor (below root) whose only heading of this level or higher is this one: the
        heading's own card or section, whatever it is made of, so a region never runs past it."""
        selector = ", ".join(tags)
        box: LexborNode | None = None
        cur = heading.parent
        while cur is not None and cur.mem_id != self.root.mem_id:
            if len(cur.css(selector)) != 1:
                break
            box = cur
            cur = cur.parent
        return box

    def _after(self, node: LexborNode) -> LexborNode | None:
        cur: LexborNode | None = node
        while cur is not None:
            if cur.next is not None:
                return cur.next
            cur = cur.parent
            if cur is None or cur.mem_id == self.root.mem_id:
                return None
        return None

    def owner(self, node: LexborNode, headings: list[LexborNode]) -> LexborNode | None:
        """The last of these headings that comes before node in document order."""
        pos = self.pos(node)
        best: LexborNode | None = None
        for h in headings:
            if self.pos(h) < pos:
                best = h
        return best


def descendants(node: LexborNode, selector: str) -> list[LexborNode]:
    """Matches strictly below node (Lexbor's `css` also returns the node itself when it matches)."""
    return [m for m in node.css(selector) if m.mem_id != node.mem_id]


def region_css(nodes: Iterable[LexborNode], selector: str) -> list[LexborNode]:
    """Every match of selector in a region (the region's own nodes included), each once."""
    found: list[LexborNode] = []
    seen: set[int] = set()
    for node in nodes:
        if (node.tag or "").startswith("-"):
            continue
        for m in node.css(selector):
            if m.mem_id not in seen:
                seen.add(m.mem_id)
                found.append(m)
    return found


def _is_pre(node: LexborNode) -> bool:
    style = (node.attributes.get("style") or "").replace(" ", "").lower()
    return node.tag == "pre" or "white-space:pre" in style


def report_text(nodes: Iterable[LexborNode]) -> str | None:
    """Multi-paragraph text of a region; a pre-wrapped report gives one paragraph per line."""
    paras: list[str] = []
    for node in nodes:
        if node.tag == "-text":
            t = clean(node.text_content)
            if t:
                paras.append(t)
            continue
        if (node.tag or "").startswith("-") or node.tag in SKIP_TAGS or is_hidden(node):
            continue
        if _is_pre(node) or any(_is_pre(d) for d in node.css("pre, [style*=pre]")):
            raw = node.text(deep=True)
            paras.extend(line for line in (clean(x) for x in raw.splitlines()) if line)
        else:
            t2 = paragraphs_of(node)
            if t2:
                paras.append(t2)
    return "\n\n".join(paras) or None


def block_texts(nodes: Iterable[LexborNode], selector: str = "li") -> list[str]:
    """The texts of the list items (or other blocks) in a region, in order."""
    out: list[str] = []
    for node in region_css(nodes, selector):
        t = text_of(node)
        if t:
            out.append(t)
    return out
