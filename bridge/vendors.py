"""The portals Kinchart reads, one line each: the one list every other vendor list is derived from.

A portal's line gives its `vendor` (the record contract's value, and the name of its parser package,
`bridge/parsers/<vendor>/`) and the name the receipt and the dashboard show. The parser registry, the
record models' `vendor` values, the receipt's portal names and the golden tests' vendor list all read
this tuple, so a new portal is its parser package, one line here and a fixtures folder (CONTRIBUTING.md,
"Add a portal"; `scripts/new_portal.py` makes all three).

This module imports nothing of Kinchart's: the record models import it, and the parsers import them.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Portal:
    vendor: str
    display_name: str


# Order matters: the parsers are asked in this order, and the first whose can_parse() says yes reads the
# page. A portal's parser claims pages by URL path and markup, never by host (portals are white-labelled).
PORTALS: tuple[Portal, ...] = (
    Portal("epic_mychart", "MyChart"),
    Portal("oracle_health", "Oracle Health"),
    Portal("athenahealth", "athenahealth"),
    Portal("nextgen", "NextGen"),
    # scripts/new_portal.py adds a portal's line above this comment.
)

#: What a page is when no portal's parser claimed it (or the one that did could not read it). Its parser,
#: `bridge/parsers/generic.py`, claims every page, so it is always asked last.
GENERIC = Portal("generic", "an unknown portal")

#: Every `vendor` value of the record contract, in the order the parsers are asked.
VENDORS: tuple[str, ...] = (*(p.vendor for p in PORTALS), GENERIC.vendor)
#: How the receipt and the dashboard name each vendor.
DISPLAY_NAMES: dict[str, str] = {p.vendor: p.display_name for p in (*PORTALS, GENERIC)}

VENDOR_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def check(portals: tuple[Portal, ...]) -> None:
    """Refuse a list the rest of Kinchart could not derive from (at import: loudly, never a silent fallback)."""
    seen: set[str] = set()
    for portal in (*portals, GENERIC):
        if not VENDOR_NAME.match(portal.vendor) or keyword.iskeyword(portal.vendor):
            raise ValueError(f"vendor {portal.vendor!r}: a lower-case Python identifier is needed")
        if portal.vendor in seen:
            raise ValueError(f"vendor {portal.vendor!r} is listed twice")
        if not portal.display_name.strip():
            raise ValueError(f"vendor {portal.vendor!r} has no display name")
        seen.add(portal.vendor)


check(PORTALS)
