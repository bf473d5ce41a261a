"""Text from the tree: trimmed, white space collapsed, paragraphs kept, hidden things left out."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

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
    # str.split() splits on exactly what `\s` matches (Unicode white space, the no-break space
    # included), several times faster than a regex substitution on this, the hottest text path.
    if "\u200b" in text:
        text = text.replace("\u200b", "")
    return " ".join(text.split()) or None


def is_hidden(node: LexborNode) -> bool:
    """Hidden by attribute or inline style: templates, modals, screen-reader-only duplicates stay out."""
    attrs = node.attributes
    if not attrs:
        return False
    if "hidden" in attrs or attrs.get("aria-hidden") == "true":
        return True
    style = attrs.get("style")
    if not style:
        return False
    style = style.replace(" ", "").lower()
    return "display:none" in style or "visibility:hidden" in style


# --- the one text walker ------------------------------------------------------------------------

#: What a walk appends when it leaves an element: a string, or (rarely) a function of what came before.
Closing = str | Callable[[list[str]], str]


@dataclass(frozen=True)
class TextStyle:
    """How a walk renders a tree as text: what each element adds before and after its children, what
    a `<br>` is (`br`, or `br_inside` within a `context` element such as `<p>` or `<pre>`), and whether
    a text node's white space is collapsed (`collapse`; kept as is within a `context` element when
    `raw_inside`). Vendors differ only in these; the walk itself is `walk`."""

    opening: Mapping[str, str] = field(default_factory=dict)
    closing: Mapping[str, Closing] = field(default_factory=dict)
    br: str = " "
    br_inside: str | None = None
    #: A `<br>` counts even inside something the skip rule leaves out (a hidden `<br>` still breaks).
    br_always: bool = False
    collapse: bool = False
    context: frozenset[str] = frozenset()
    raw_inside: bool = False


def skip_invisible(node: LexborNode) -> bool:
    """What no text walk reads: scripts, form controls and the like, comments, hidden elements."""
    return node.tag in SKIP_TAGS or node.tag == "-comment" or is_hidden(node)


def walk(
    root: LexborNode, style: TextStyle, skip: Callable[[LexborNode], bool] = skip_invisible
) -> list[str]:
    """The text pieces below root in document order, depth first and iterative (a page nested thousands
    deep cannot exhaust the stack). Root itself is never skipped: a caller that must check it does.
    The stack holds (node, inside a context element) to enter and, after an element's children, the
    separator that closes it."""
    parts: list[str] = []
    append = parts.append
    opening, closing, context = style.opening, style.closing, style.context
    collapse, raw_inside, br_always = style.collapse, style.raw_inside, style.br_always
    br_outside = style.br
    br_inside = style.br if style.br_inside is None else style.br_inside
    sub = _WS.sub
    # The default rule inlined: one call per element instead of two on the walk every reader shares.
    default_skip = skip is skip_invisible
    stack: list[tuple[LexborNode | Closing, bool]] = [(root, root.tag in context)]
    push, pop = stack.append, stack.pop
    while stack:
        item, inside = pop()
        if type(item) is not LexborNode:
            append(item if type(item) is str else item(parts))  # type: ignore[operator]
            continue
        tag = item.tag or ""
        if tag == "-text":
            raw = item.text_content or ""
            append(sub(" ", raw) if collapse and not (inside and raw_inside) else raw)
            continue
        if item is root:
            skipped = False
        elif tag == "-comment":
            continue
        elif default_skip:
            skipped = tag in SKIP_TAGS or is_hidden(item)
        else:
            skipped = skip(item)
        if tag == "br" and (br_always or not skipped):
            append(br_inside if inside else br_outside)
            continue
        if skipped:
            continue
        sep = opening.get(tag)
        if sep:
            append(sep)
        end = closing.get(tag)
        if end:
            push((end, inside))
        if not inside and tag in context:
            inside = True
        child = item.last_child
        while child is not None:
            push((child, inside))
            child = child.prev
    return parts


#: `text_of`: one line, as a browser renders it: blocks, `<br>` and cells separate words.
LINE = TextStyle(
    opening={**dict.fromkeys(BLOCK_TAGS, " "), "td": " ", "th": " "},
    closing={**dict.fromkeys(BLOCK_TAGS, " "), "td": " ", "th": " "},
    br=" ",
)
#: `paragraphs_of`: blocks and every `<br>` break paragraphs.
PARAGRAPHS = TextStyle(
    opening={**dict.fromkeys(BLOCK_TAGS, "\n\n"), "td": " ", "th": " "},
    closing={**dict.fromkeys(BLOCK_TAGS, "\n\n"), "td": " ", "th": " "},
    br="\n\n",
)
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


def text_of(node: LexborNode | None, skip: frozenset[str] = frozenset()) -> str | None:
    """The visible text of a node on one line (None when it has none), as a browser renders it:
    adjacent inline text joins, blocks, `<br>` and cells separate words. Descendants carrying one of
    the `skip` classes (a field's own "Label:" span) are left out."""
    if node is None or skip_invisible(node):
        return None
    child = node.child
    if child is not None and child.next is None and child.tag == "-text":  # a leaf: most cells and labels
        return clean(child.text_content)
    if not skip:
        return clean("".join(walk(node, LINE)))
    return clean("".join(walk(node, LINE, lambda n: skip_invisible(n) or skip_classes(n, skip))))


def skip_classes(node: LexborNode, names: frozenset[str]) -> bool:
    return not names.isdisjoint((node.attributes.get("class") or "").split())


def join_paragraphs(text: str, breaks: re.Pattern[str] = _PARAGRAPH_BREAK) -> str | None:
    """Paragraphs split at a blank line, each on one line, empty ones dropped, joined by a blank line."""
    paras = [clean(p) for p in breaks.split(text)]
    return "\n\n".join(p for p in paras if p) or None


def paragraphs_of(node: LexborNode | None) -> str | None:
    """Multi-paragraph text: block elements and <br> break paragraphs, joined by a blank line."""
    if node is None or skip_invisible(node):
        return None
    return join_paragraphs("".join(walk(node, PARAGRAPHS)))
