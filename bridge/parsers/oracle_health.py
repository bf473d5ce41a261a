"""oracle_health portal pages. (Being written.)"""

from __future__ import annotations

from bridge.records import ParseResult

from .base import Draft
from .page import Page

NAME = "oracle_health"
VERSION = "1"


def can_parse(page: Page) -> bool:
    return False


def parse(page: Page) -> ParseResult:
    return Draft(vendor="oracle_health").result()
