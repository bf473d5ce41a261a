"""Portal page parsers: `parse_page(Page)` through one ordered registry (see registry.py)."""

from .base import NotShown, ParseError
from .page import Frame, Page
from .registry import Fallback, ParserInfo, parse_html, parse_page

__all__ = ["Fallback", "Frame", "NotShown", "Page", "ParseError", "ParserInfo", "parse_html", "parse_page"]
