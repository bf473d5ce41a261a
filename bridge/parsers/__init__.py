"""Portal page parsers: `parse_page(Page)` through one ordered registry (see registry.py)."""

from .base import ParseError
from .page import Frame, Page
from .registry import ParserInfo, parse_html, parse_page

__all__ = ["Frame", "Page", "ParseError", "ParserInfo", "parse_html", "parse_page"]
