"""Shared test setup: a fast (but real) Argon2id for every vault a test makes, and the repo paths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures" / "portal_pages"

os.environ.setdefault("KINCHART_KDF", "fast")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite fixtures' .expected.json from today's parsers (review the diff)",
    )
