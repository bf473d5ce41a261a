"""The export formats are declared once (bridge.export_formats): the command line's choices and help,
the dashboard's menu and the writers all follow that one table."""

from __future__ import annotations

import io

import pytest
from typer.testing import CliRunner

from bridge import export_formats
from bridge.cli import app
from bridge.export_formats import FORMATS, PLAINTEXT, menu
from bridge.exports import write_stream


def test_the_menu_offers_every_format_and_only_those() -> None:
    assert {choice.fmt for choice in menu().values()} == set(FORMATS)
    assert list(menu()) == ["json", "csv", "csv-components", "fhir", "ics", "html", "pdf", "bundle"]
    assert set(FORMATS) - {"bundle"} == PLAINTEXT


def test_the_command_line_help_names_every_format() -> None:
    shown = CliRunner().invoke(app, ["export", "--help"], env={"COLUMNS": "400"}).output
    assert export_formats.cli_help() == (
        "json, csv, fhir, ics, html, pdf, or bundle (encrypted, for another caregiver)"
    )
    for name in FORMATS:
        assert name in shown


def test_a_format_not_declared_is_refused_by_the_writers() -> None:
    with pytest.raises(ValueError, match="unknown export format"):
        write_stream("xml", None, None, None, io.BytesIO())  # type: ignore[arg-type]
