"""What every parser is: a name, a version, `can_parse(page)` and `parse(page)`.

Only the essential fields may fail a parse (`ParseError`: the markup changed under us); everything
optional is a null plus a warning in the result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from bridge.records import ParseResult, Patient, Record

from .page import Page


class ParseError(Exception):
    """The page claims to be of a kind we read, but an essential field could not be found."""


class Parser(Protocol):
    name: str
    version: str

    def can_parse(self, page: Page) -> bool: ...

    def parse(self, page: Page) -> ParseResult: ...


@dataclass
class Draft:
    """A parse result being assembled: records plus the warnings that explain every null."""

    vendor: str
    page_kind: str = "unknown"
    patient: Patient | None = None
    organization: str | None = None
    records: list[Record] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

    def result(self) -> ParseResult:
        if not self.records:
            self.warn("the page shows no records that could be read")
        return ParseResult.model_validate(
            {
                "vendor": self.vendor,
                "page_kind": self.page_kind,
                "patient": self.patient.model_dump() if self.patient else None,
                "organization": self.organization,
                "records": [r.model_dump() for r in self.records],
                "warnings": self.warnings,
            }
        )
