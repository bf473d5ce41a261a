"""Oracle Health frames: the `/pages/...` shell holds the record in an iframe from the record host.

A capture that includes the record host's frame is parsed from that frame (records, patient,
organization); the shell captured alone gives no records and a warning naming the frame's URL.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES, REPO

from bridge.parsers import Page, oracle_health, parse_page
from bridge.records import ParseResult

CAPTURE = REPO / "fixtures" / "captures" / "oracle_shell_with_frame.capture.json"
ORACLE = FIXTURES / "oracle_health"


def _capture() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(CAPTURE.read_text(encoding="utf-8"))
    return data


def _expected(name: str) -> dict[str, Any]:
    spec: dict[str, Any] = json.loads((ORACLE / f"{name}.expected.json").read_text(encoding="utf-8"))
    return ParseResult.model_validate(spec["expected"]).to_contract()


def test_capture_is_shell_first_then_record_frame() -> None:
    capture = _capture()
    urls = [f["url"] for f in capture["frames"]]
    assert capture["url"] == urls[0]
    assert "/pages/" in urls[0]
    assert "/person/14820937/health-record/results/" in urls[1]


def test_shell_with_record_frame_yields_the_frames_records_and_patient() -> None:
    info, result = parse_page(Page.from_capture(_capture()))
    assert info.name == "oracle_health"
    expected = _expected("test_result_list_labs")
    actual = result.to_contract()
    assert actual["page_kind"] == "test_result_list"
    assert actual["patient"] == {"name": "Nguyễn Thị Lan", "dob": "1949-08-21"}
    assert actual["organization"] == "Prairie Valley Health"
    assert actual["records"] == expected["records"]
    assert not any("shell" in w for w in result.warnings)


def test_record_frame_alone_parses_the_same_as_inside_the_capture() -> None:
    capture = _capture()
    frame = capture["frames"][1]
    _, alone = parse_page(Page.from_html(frame["html"], frame["url"]))
    _, inside = parse_page(Page.from_capture(capture))
    assert alone.to_contract()["records"] == inside.to_contract()["records"]
    assert alone.patient == inside.patient


def test_shell_alone_gives_no_records_and_names_the_frame() -> None:
    capture = _capture()
    capture["frames"] = capture["frames"][:1]
    info, result = parse_page(Page.from_capture(capture))
    assert info.name == "oracle_health"
    assert result.records == []
    assert result.page_kind == "test_result_list"
    assert result.patient is not None and result.patient.name == "Nguyễn Thị Lan"
    frame_url = "https://patientportal.myhealthelife.prairievalleyhealth.example/person/14820937/health-record/results/"
    assert any(frame_url in w for w in result.warnings)


def test_uncaptured_frame_document_counts_as_shell_only() -> None:
    """A cross-origin frame the extension could not serialize arrives with empty HTML."""
    capture = copy.deepcopy(_capture())
    capture["frames"][1]["html"] = ""
    _, result = parse_page(Page.from_capture(capture))
    assert result.records == []
    assert any(capture["frames"][1]["url"] in w for w in result.warnings)


def test_the_logged_in_representative_is_never_the_patient() -> None:
    _, result = parse_page(Page.from_capture(_capture()))
    assert result.patient is not None and result.patient.name != "Kim Nguyen"


@pytest.mark.parametrize(
    "html_path", sorted(FIXTURES.glob("*/*.html")), ids=lambda p: f"{p.parent.name}/{p.stem}"
)
def test_oracle_claims_exactly_its_own_fixtures(html_path: Path) -> None:
    expected_path = html_path.with_name(html_path.stem + ".expected.json")
    if not expected_path.exists():
        pytest.skip("no expected parse beside this page")
    spec = json.loads(expected_path.read_text(encoding="utf-8"))
    page = Page.from_html(html_path.read_text(encoding="utf-8", errors="replace"), spec["url"])
    assert oracle_health.can_parse(page) == (spec["expected"]["vendor"] == "oracle_health")
