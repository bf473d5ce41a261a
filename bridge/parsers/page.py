"""`Page`: one capture, parsed once.

A capture is one or more frames (the top document first); each frame is parsed once with Lexbor
(selectolax), the fastest HTML tree available here, and every parser reads the same trees.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from urllib.parse import parse_qs, urlsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

from .marks import cannot_match, checkable


@dataclass
class Frame:
    url: str
    html: str
    # Selector -> first match, and -> every match: claiming and parsing ask a frame the same questions
    # (is this the record frame? which page kind? its scripts), each a walk over the whole tree.
    # Parsers never change a tree, so the answers stay true.
    _first: dict[str, LexborNode | None] = field(default_factory=dict, init=False, repr=False, compare=False)
    _all: dict[str, list[LexborNode]] = field(default_factory=dict, init=False, repr=False, compare=False)

    @cached_property
    def tree(self) -> LexborHTMLParser:
        return LexborHTMLParser(self.html)

    @cached_property
    def path(self) -> str:
        return urlsplit(self.url).path or "/"

    @cached_property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.url).query)

    @property
    def body(self) -> LexborNode | None:
        return self.tree.body

    @cached_property
    def _names_checkable(self) -> bool:
        return checkable(self.html)

    def _cannot_match(self, selector: str) -> bool:
        """No walk needed: the selector's class or id names are not in the markup (see marks.py)."""
        return self._names_checkable and cannot_match(self.html, selector)

    def css(self, selector: str) -> list[LexborNode]:
        found = self._all.get(selector)
        if found is None:
            found = self._all[selector] = (
                [] if self._cannot_match(selector) else list(self.tree.css(selector))
            )
        return list(found)  # the caller's own list: the kept one stays whole

    def css_first(self, selector: str) -> LexborNode | None:
        if selector in self._first:
            return self._first[selector]
        found = self._first[selector] = (
            None if self._cannot_match(selector) else self.tree.css_first(selector)
        )
        return found


@dataclass
class Page:
    """A captured page: the top frame first, then any same-tab frames the extension serialized."""

    url: str
    frames: list[Frame] = field(default_factory=list)
    title: str | None = None
    #: What a parser worked out about this page while claiming it (its variant, its record frame),
    #: so that `parse` does not work it out again. Keyed by the parser's own name.
    memo: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_html(cls, html: str, url: str, title: str | None = None) -> Page:
        return cls(url=url, frames=[Frame(url=url, html=html)], title=title)

    @classmethod
    def from_capture(cls, capture: dict[str, Any]) -> Page:
        frames = [
            Frame(url=str(f.get("url") or capture.get("url") or ""), html=str(f.get("html") or ""))
            for f in capture.get("frames") or []
        ]
        return cls(url=str(capture.get("url") or ""), frames=frames, title=capture.get("title"))

    @property
    def top(self) -> Frame:
        return self.frames[0] if self.frames else Frame(url=self.url, html="")

    @property
    def path(self) -> str:
        return self.top.path
