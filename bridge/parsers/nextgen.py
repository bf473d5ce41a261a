"""nextgen portal pages. (Being written.)"""

from __future__ import annotations

from bridge.records import ParseResult

from .base import Draft
from .page import Page

NAME = "nextgen"
VERSION = "1"


def can_parse(page: Page) -> bool:
    return False


def parse(page: Page) -> ParseResult:
    return Draft(vendor="nextgen").result()
