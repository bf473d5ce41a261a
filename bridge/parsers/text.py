"""Text from the tree: trimmed, white space collapsed, paragraphs kept, hidden things left out."""

from __future__ import annotations

import re

from selectolax.lexbor import LexborNode

_WS = re.compile(r"\s+")
# Elements whose text is never part of a record.
SKIP_TAGS = frozenset(
    {
        "script",
        "style",
        "template",
        "noscript",
        "head",
        "title",
        "meta",
        "link",
        "svg",
        "button",
        "select",
        "option",
        "input",
        "textarea",
    }
)
BLOCK_TAGS = frozenset(
    {
        "p",
        "div",
        "section",
        "article",
        "li",
        "ul",
        "ol",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "table",
        "tr",
        "blockquote",
        "pre",
        "dl",
        "dt",
        "dd",
        "header",
        "footer",
        "main",
        "aside",
        "nav",
        "form",
        "fieldset",
        "figure",
        "figcaption",
        "address",
        "tbody",
        "thead",
    }
)


def clean(text: str | None) -> str | None:
    """Trim and collapse white space (non-breaking spaces included); empty becomes None."""
    if text is None:
        return None
    text = _WS.sub(" ", text.replace("\xa0", " ").replace("\u200b", "")).strip()
    return text or None


def is_hidden(node: LexborNode) -> bool:
    """Hidden by attribute or inline style: templates, modals, screen-reader-only duplicates stay out."""
    attrs = node.attributes
    if "hidden" in attrs or attrs.get("aria-hidden") == "true":
        return True
    style = (attrs.get("style") or "").replace(" ", "").lower()
    return "display:none" in style or "visibility:hidden" in style


def text_of(node: LexborNode | None, skip: frozenset[str] = frozenset()) -> str | None:
    """The visible text of a node on one line (None when it has none), as a browser renders it:
    adjacent inline text joins, blocks, `<br>` and cells separate words. Descendants carrying one of
    the `skip` classes (a field's own "Label:" span) are left out."""
    if node is None:
        return None
    parts: list[str] = []
    _collect(node, parts, paragraphs=False, skip=skip)
    return clean("".join(parts))


def paragraphs_of(node: LexborNode | None) -> str | None:
    """Multi-paragraph text: block elements and <br> break paragraphs, joined by a blank line."""
    if node is None:
        return None
    parts: list[str] = []
    _collect(node, parts, paragraphs=True)
    text = "".join(parts)
    paras = [clean(p) for p in re.split(r"\n\s*\n", text)]
    joined = "\n\n".join(p for p in paras if p)
    return joined or None


def _collect(
    root: LexborNode, parts: list[str], paragraphs: bool, skip: frozenset[str] = frozenset()
) -> None:
    """Depth-first text walk, iterative so that a page nested thousands deep cannot exhaust the stack.
    The stack holds nodes to enter and, after a block's children, the separator that closes it."""
    stack: list[LexborNode | str] = [root]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            parts.append(item)
            continue
        tag = item.tag
        if tag == "-text":
            parts.append(item.text_content or "")
            continue
        if tag in SKIP_TAGS or tag == "-comment" or is_hidden(item):
            continue
        if skip and item is not root and skip.intersection((item.attributes.get("class") or "").split()):
            continue
        block = tag in BLOCK_TAGS
        if paragraphs and (block or tag == "br"):
            parts.append("\n\n")
        elif tag in {"br", "td", "th"} or block:
            parts.append(" ")
        if block:
            stack.append("\n\n" if paragraphs else " ")
        elif tag in {"td", "th"}:
            stack.append(" ")
        children: list[LexborNode] = []
        child = item.child
        while child is not None:
            children.append(child)
            child = child.next
        stack.extend(reversed(children))
