"""The browser tier of the golden tests: each fixture page is rendered in real headless Chromium under its
portal address, serialized by the extension's own capture code (extension/capture.js), and the parse
of that serialization must equal the golden parse."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from capture_helper import CaptureSession, capture_session, chromium_available
from golden import Fixture, fixtures

from bridge.parsers import Page, parse_page
from bridge.records import ParseResult

pytestmark = pytest.mark.browser
FIXTURES = fixtures()


@pytest.fixture(scope="module")
def session() -> Iterator[CaptureSession]:
    ok, why = chromium_available()
    if not ok:
        pytest.fail(why)  # the test command installs Chromium: its absence is a failure, not a skip
    with capture_session() as cap:
        yield cap


@pytest.mark.parametrize("fx", FIXTURES, ids=lambda f: f.id)
def test_extension_serialization_parses_like_the_saved_page(session: CaptureSession, fx: Fixture) -> None:
    spec = fx.spec()
    capture = session.capture_file(fx.html_path, url=spec["url"])
    assert capture["frames"][0]["url"] == spec["url"]
    _, result = parse_page(Page.from_capture(capture))
    actual = result.to_contract()
    expected = ParseResult.model_validate(spec["expected"]).to_contract()
    actual.pop("warnings")
    expected.pop("warnings")
    assert actual == expected
