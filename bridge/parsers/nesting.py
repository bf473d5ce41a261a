"""The guard against pathologically nested pages, applied before a page is parsed.

A browser never builds a tree deeper than a few hundred elements, but markup can ask for any depth, and the
HTML tree builder's work grows with its square. Container tags nested beyond MAX_PARSE_DEPTH are dropped
(their text stays). This bounds only the depth of the tags listed here; what else can make a parse slow is
bounded by the parse budget (`bridge.parsers.budget`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

#: Deeper nesting than a browser's own parser ever builds (Blink stops at 512) is flattened before
#: parsing: the HTML tree builder's work grows with depth squared (100,000 nested <div>s took minutes,
#: 100,000 nested <dialog>s 30 s).
MAX_PARSE_DEPTH = 2000
CONTAINERS = (
    "div",
    "span",
    "section",
    "article",
    "main",
    "nav",
    "header",
    "footer",
    "aside",
    "a",
    "b",
    "i",
    "u",
    "s",
    "em",
    "strong",
    "small",
    "big",
    "font",
    "form",
    "fieldset",
    "center",
    "blockquote",
    "ul",
    "ol",
    "dl",
    "table",
    "tbody",
    "thead",
    "tfoot",
    "label",
    "button",
    "code",
    "pre",
    "sub",
    "sup",
    "abbr",
    "cite",
    "q",
    "mark",
    "details",
    "summary",
    "figure",
    "figcaption",
    # Measured in Lexbor (20,000 nested took 0.7-1.7 s, about 20 times 5,000): the elements whose start
    # tag looks down the open elements for a scope and which nothing closes implicitly. Those a browser
    # closes on the next one (li, dd, dt, p, tr, td, h1-h6, option) never nest, so they are not here.
    "address",
    "dialog",
    "dir",
    "hgroup",
    "menu",
    "search",
    "listing",
    "optgroup",
    "rb",
    "rp",
    "rt",
    "rtc",
)
#: What ``re.I`` also takes for these letters (Unicode case folding); kept so the guard matches as it did.
_FOLDS = {"i": "\u0130\u0131", "k": "\u212a", "s": "\u017f"}


def _container_regex(names: Iterable[str], literal_levels: int = 2) -> re.Pattern[str]:
    """A container tag, opening or closing (group 1 is "/" for a closing one), in any letter case.

    The same matches as ``<(/?)(?:div|span|...)(?=[\\s>/])`` with ``re.I``, in a quarter of its time
    (20 ms on a 2 MB page before): the names form a trie, one branch per letter instead of one per name,
    and in its first `literal_levels` levels each case of a letter has a branch of its own, starting with
    a plain literal, which the regex engine rejects much faster than a character class or a letter
    under ``re.I``. Most of the time left goes to the '<' of other tags (an SVG sprite's)."""
    trie: dict[str, Any] = {}
    for name in names:
        node = trie
        for ch in name:
            node = node.setdefault(ch, {})
        node[""] = {}

    def branch(node: dict[str, Any], level: int) -> str:
        alternatives = []
        for ch, child in sorted(node.items()):
            if not ch:
                continue
            variants = sorted({ch.lower(), ch.upper(), *_FOLDS.get(ch, "")})
            rest = branch(child, level + 1)
            if level < literal_levels:
                alternatives += [v + rest for v in variants]
            else:
                alternatives.append("[" + "".join(variants) + "]" + rest)
        if not alternatives:
            return ""
        body = alternatives[0] if len(alternatives) == 1 else "(?:" + "|".join(alternatives) + ")"
        return f"(?:{body})?" if "" in node else body

    return re.compile(rf"<(/?){branch(trie, 0)}(?=[\s>/])")


CONTAINER = _container_regex(CONTAINERS)


def deepest(html: str, stop_above: int | None = None) -> int:
    """How deep container tags nest in `html` (a closing tag never takes the depth below 0); once it
    exceeds `stop_above`, that depth is returned without looking further."""
    depth = found = 0
    limit = stop_above if stop_above is not None else len(html)
    for closing in CONTAINER.findall(html):
        if closing:
            if depth:
                depth -= 1
        else:
            depth += 1
            if depth > found:
                found = depth
                if found > limit:
                    break
    return found


def flatten_deep_nesting(html: str) -> str:
    """The page with container tags beyond MAX_PARSE_DEPTH removed (their text stays); unchanged (the
    same object), and cheap, for any page a browser could have built by parsing (a depth of at most 512)."""
    if html.count("<") <= MAX_PARSE_DEPTH:  # the depth cannot exceed the number of tags
        return html
    if deepest(html, stop_above=MAX_PARSE_DEPTH) <= MAX_PARSE_DEPTH:
        return html
    depth = 0

    def keep(m: re.Match[str]) -> str:
        nonlocal depth
        if m.group(1):
            depth = max(depth - 1, 0)
            return m.group(0) if depth < MAX_PARSE_DEPTH else " "
        depth += 1
        return m.group(0) if depth <= MAX_PARSE_DEPTH else " "

    return CONTAINER.sub(keep, html)


def flatten_capture(capture: dict[str, Any]) -> dict[str, Any]:
    """The capture with every frame through `flatten_deep_nesting`: the same object when no frame changed
    (only what is parsed is flattened; the stored capture is never changed)."""
    frames = capture.get("frames") or []
    flat = [flatten_deep_nesting(f.get("html") or "") for f in frames]
    if all(
        new is f.get("html") or (not new and not f.get("html")) for new, f in zip(flat, frames, strict=True)
    ):
        return capture
    return {**capture, "frames": [{**f, "html": new} for new, f in zip(flat, frames, strict=True)]}
