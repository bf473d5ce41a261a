"""The fixture pages and their expected parses, found by the tests themselves."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conftest import FIXTURES


@dataclass(frozen=True)
class Fixture:
    html_path: Path
    expected_path: Path

    @property
    def id(self) -> str:
        return f"{self.html_path.parent.name}/{self.html_path.stem}"

    @property
    def vendor_dir(self) -> str:
        return self.html_path.parent.name

    def spec(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.expected_path.read_text(encoding="utf-8"))
        return data

    def html(self) -> str:
        return self.html_path.read_bytes().decode("utf-8", errors="replace")


def fixtures(root: Path = FIXTURES) -> list[Fixture]:
    """Every page under `root` (one folder per vendor) that has its expected parse beside it."""
    found = []
    for html in sorted(root.glob("*/*.html")):
        expected = html.with_name(html.stem + ".expected.json")
        if expected.exists():
            found.append(Fixture(html, expected))
    return found
