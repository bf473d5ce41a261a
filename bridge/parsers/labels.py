"""Null-safe lookups by visible label: "the value of the field labelled X", the stablest hook portals offer."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TypeVar

from selectolax.lexbor import LexborNode

from .dom import first_text as first_text
from .text import clean, text_of

V = TypeVar("V")


def label_key(text: str | None) -> str:
    """A label as a lookup key: lower case, without its trailing colon."""
    # clean() leaves no white space but single inner spaces, so stripping spaces and colons from the
    # end is the `[\s:]+$` it replaces, without a regex on one of the hottest paths.
    return (clean(text) or "").lower().rstrip(" :")


def dt_dd(root: LexborNode | None) -> Iterator[tuple[LexborNode, LexborNode]]:
    """Every `<dt>` below root with its `<dd>` (the next one before another `<dt>`)."""
    if root is None:
        return
    for dt in root.css("dt"):
        dd = dt.next
        while dd is not None and dd.tag not in {"dd", "dt"}:
            dd = dd.next
        if dd is not None and dd.tag == "dd":
            yield dt, dd


def pick(pairs: Mapping[str, V], *labels: str) -> V | None:
    """The value of the first of `labels` (lookup keys, see `label_key`) that `pairs` has."""
    for label in labels:
        if label in pairs:
            return pairs[label]
    return None


def label_matches(text: str | None, *labels: str) -> bool:
    key = label_key(text)
    return any(key == label.lower() for label in labels)


def dl_pairs(root: LexborNode | None) -> dict[str, str]:
    """Every `<dt>label</dt><dd>value</dd>` pair below root, label lower-cased without its colon."""
    pairs: dict[str, str] = {}
    for dt, dd in dt_dd(root):
        value = text_of(dd)
        key = label_key(text_of(dt))
        if key and value and key not in pairs:
            pairs[key] = value
    return pairs


def labelled(root: LexborNode | None, *labels: str) -> str | None:
    """The value beside a label in a `dl`, a two-cell table row, or a `label`/`span` + sibling pair."""
    if root is None:
        return None
    pairs = dl_pairs(root)
    for label in labels:
        if label.lower() in pairs:
            return pairs[label.lower()]
    for th in root.css("th, td"):
        if label_matches(text_of(th), *labels):
            sib = th.next
            while sib is not None and sib.tag not in {"td", "th"}:
                sib = sib.next
            if sib is not None:
                return text_of(sib)
    for node in root.css("label, span, strong, b, div"):
        if node.child is not None and node.child.tag != "-text" and node.child.next is not None:
            continue
        if label_matches(text_of(node), *labels):
            sib = node.next
            while sib is not None and not (text_of(sib) if sib.tag != "-text" else clean(sib.text_content)):
                sib = sib.next
            if sib is not None:
                return text_of(sib) if sib.tag != "-text" else clean(sib.text_content)
    return None


def attr(node: LexborNode | None, name: str) -> str | None:
    if node is None:
        return None
    return clean(node.attributes.get(name))
