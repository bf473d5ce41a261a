"""What parsers share: the two ways a parser gives up on a page, and the result being assembled.

A parser package (`bridge/parsers/<vendor>/`, listed in bridge/vendors.py) has `NAME` (its vendor),
`VERSION`, `can_parse(page)` and `parse(page)`; the registry checks each at import.
What every vendor does the same way (claiming, whose record, page-kind dispatch, the document fallback,
the warnings' wording) is in skeleton.py; a vendor package holds only what differs.

Only the essential fields may fail a parse; everything optional is a null plus a warning in the result
("this page does not show that" is not an error). A parser gives up on a page it claimed by raising
`ParseError` (the markup changed under us: a parser bug to fix) or `NotShown` (the page never shows what
the parser reads: not an error). Either way the registry lets the generic parser read the page and
records why (`registry.Fallback`); any other exception a parser raises counts as a changed markup too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from bridge.records import ParseResult, Patient, Record

#: Why a parser gave up on a page: "markup_changed", the page is of a kind it reads, but not as it
#: expects (a parser bug to fix, or an out-of-contract value); "not_shown", the page has nothing it reads.
FailureCategory = Literal["markup_changed", "not_shown"]


class ParseError(Exception):
    """The page claims to be of a kind we read, but an essential field could not be found: the markup
    changed under us. Its message is the parser's own words, never the page's text."""

    category: FailureCategory = "markup_changed"


class NotShown(ParseError):
    """The page is one this parser claims (by its URL and markup), but it never shows what the parser
    reads there, e.g. a result page the portal shows while the result is not yet released. Not an error:
    the generic parser keeps the page."""

    category: FailureCategory = "not_shown"


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

    def result(self, explained: bool = False) -> ParseResult:
        """The parse result; a page without records says so, unless a warning already `explained` why
        (an Oracle Health shell page, whose records are in a frame captured apart)."""
        if not self.records and not explained:
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
