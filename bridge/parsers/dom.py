"""Node helpers every vendor reads with: an element's classes, a selector's matches once each, and the
first match that has text.

Lexbor returns a node once per selector of a group it matches (`a.x, .x` yields it twice), so every
multi-selector query that must not repeat goes through `unique`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from selectolax.lexbor import LexborHTMLParser, LexborNode

from .text import text_of

#: What a lookup may start from: a node, or a whole parsed document.
Root = LexborNode | LexborHTMLParser


def children(node: LexborNode) -> Iterator[LexborNode]:
    """A node's children, text and comments included, in order."""
    child = node.child
    while child is not None:
        yield child
        child = child.next


def classes(node: LexborNode | None) -> list[str]:
    if node is None:
        return []
    return (node.attributes.get("class") or "").split()


def has_class(node: LexborNode | None, name: str) -> bool:
    return name in classes(node)


def unique(nodes: Iterable[LexborNode]) -> list[LexborNode]:
    """Nodes without repeats, in the order given (document order for a `css` result)."""
    seen: set[int] = set()
    out: list[LexborNode] = []
    for node in nodes:
        key = node.mem_id
        if key not in seen:
            seen.add(key)
            out.append(node)
    return out


def select(root: Root | None, selector: str) -> list[LexborNode]:
    """Every match of a selector group below root, once each, in document order."""
    if root is None:
        return []
    return unique(root.css(selector))


def first_text(
    root: Root | None, *selectors: str, read: Callable[[LexborNode], str | None] = text_of
) -> str | None:
    """Text (as `read` gives it) of the first selector that matches something with text: fallback
    chains as data."""
    if root is None:
        return None
    for selector in selectors:
        for node in root.css(selector):
            value = read(node)
            if value:
                return value
    return None
