"""The `kinchart` command line (typer). Each command is a thin wrapper over the bridge's modules."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from bridge.parsers import parse_html

app = typer.Typer(help="Kinchart: the family medical record on your own machine.", no_args_is_help=True,
                  add_completion=False)


@app.callback()
def _root() -> None:
    """Kinchart: the family medical record on your own machine."""


@app.command()
def parse(page: Path = typer.Argument(..., exists=True, dir_okay=False, help="A saved portal page (.html)"),
          url: str = typer.Option("", "--url", help="The page's address in the portal")) -> None:
    """Print the record-contract JSON for one saved page, without touching any vault."""
    html = page.read_bytes().decode("utf-8", errors="replace")
    _, result = parse_html(html, url)
    sys.stdout.write(json.dumps(result.to_contract(), ensure_ascii=False, indent=2) + "\n")


def main() -> None:
    app()
