"""The last resort: any page no vendor parser claims.

Order of extraction: lab-style tables found by what their headers mean (test, result, units, range,
flag) become `test_result` records; otherwise the page's readable main text becomes one `document`
record, so that nothing captured is ever unreadable.
"""

from __future__ import annotations

from bridge.records import Document, ParseResult

from .base import Draft
from .page import Page
from .text import clean, paragraphs_of

NAME = "generic"
VERSION = "1"
# Regions that are chrome, not content.
CHROME = "nav, header, footer, aside, [role=navigation], [role=banner], [role=contentinfo], script, style, noscript, template"


def can_parse(page: Page) -> bool:
    return True


def main_text(page: Page) -> str | None:
    texts: list[str] = []
    for frame in page.frames:
        root = frame.css_first("main, [role=main], #main, #content, article") or frame.body
        if root is None:
            continue
        for node in root.css(CHROME):
            node.decompose()
        text = paragraphs_of(root)
        if text:
            texts.append(text)
    return "\n\n".join(texts) or None


def parse(page: Page) -> ParseResult:
    draft = Draft(vendor="generic", page_kind="unknown")
    text = main_text(page)
    title = clean(page.title) or clean(page.top.css_first("title").text() if page.top.css_first("title") else None)
    if text:
        draft.records.append(Document(title=title or "Saved page", occurred_at=None, text=text))
    else:
        draft.warn("the page has no readable text")
    return draft.result()
