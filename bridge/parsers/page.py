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


@dataclass
class Frame:
    url: str
    html: str

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

    def css(self, selector: str) -> list[LexborNode]:
        return list(self.tree.css(selector))

    def css_first(self, selector: str) -> LexborNode | None:
        return self.tree.css_first(selector)


@dataclass
class Page:
    """A captured page: the top frame first, then any same-tab frames the extension serialized."""

    url: str
    frames: list[Frame] = field(default_factory=list)
    title: str | None = None

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
