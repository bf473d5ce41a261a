#!/usr/bin/env python3
"""Start a new portal: its parser package, its line in bridge/vendors.py, and its fixtures folder.

    .venv/bin/python scripts/new_portal.py acme_health "Acme Health"

makes `bridge/parsers/acme_health/__init__.py` (a parser that claims no page yet), adds
`Portal("acme_health", "Acme Health")` as the last portal in bridge/vendors.py, and makes
`fixtures/portal_pages/acme_health/` with an example page and its expected parse, empty. From then on the
registry asks the new parser, `vendor` may be "acme_health", the receipt says "Acme Health", and the golden
tests hold the new portal to its fixtures (and fail until they are written). CONTRIBUTING.md, "Add a
portal", says what to do next. `--root` works on another copy of the repository (the tests use one).
"""

from __future__ import annotations

import argparse
import json
import keyword
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENDOR_NAME = re.compile(r"^[a-z][a-z0-9_]*$")  # as bridge/vendors.py checks it
# The line in bridge/vendors.py that new portals' lines go above (the end of PORTALS).
MARKER = "    # scripts/new_portal.py adds a portal's line above this comment.\n"

PARSER = '''"""{display} (`{vendor}`): the portal's pages read into the record contract (docs/record-contract.md).

Started by scripts/new_portal.py. It claims no page until `can_parse` is written, so nothing reads
differently until then. See CONTRIBUTING.md, "Add a portal", and bridge/parsers/base.py for how a parser
gives up on a page (`ParseError`: the markup changed; `NotShown`: the page shows nothing it reads).
"""

from __future__ import annotations

from bridge.records import ParseResult

from .. import skeleton
from ..base import Draft
from ..page import Frame, Page

NAME = "{vendor}"
VERSION = "1"


def _path(page: Page) -> bool:
    """The portal's URL path shape (never its host: portals are white-labelled under hospitals' own
    domains). Claims nothing until written."""
    return False


def _markup(frame: Frame) -> bool:
    """A fingerprint of the portal's markup (ids, classes, aria attributes), e.g.
    `skeleton.fingerprinted(frame.html, ("acme-portal-header",))`: write one before `_path` claims
    anything, so another portal's page under a similar path is never taken."""
    return True


def can_parse(page: Page) -> bool:
    return skeleton.claims(page, _path, _markup)


def parse(page: Page) -> ParseResult:
    draft = Draft(vendor=NAME)
    # Read the patient and organization, then `skeleton.note_context(draft, patient, organization)`;
    # dispatch on the page kind with `skeleton.first_present` / `first_matching`; keep what no reader
    # fits with `skeleton.keep_text`.
    return draft.result()
'''

EXAMPLE_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>{display} (example)</title></head>
<body>
<!-- Replace this page with a synthetic page in {display}'s markup: invented people, organizations,
     identifiers and values only. Keep the portal's structure, labels and URL scheme. -->
<main><h1>Test results</h1><p>Nothing here yet.</p></main>
</body>
</html>
"""


class Refused(Exception):
    pass


def check_name(root: Path, vendor: str, display: str) -> None:
    if not VENDOR_NAME.match(vendor) or keyword.iskeyword(vendor):
        raise Refused(f"{vendor!r}: the vendor must be a lower-case Python identifier (acme_health)")
    if not display.strip():
        raise Refused("the display name is empty")
    parsers = root / "bridge" / "parsers"
    for taken in (parsers / vendor, parsers / f"{vendor}.py", root / "fixtures" / "portal_pages" / vendor):
        if taken.exists():
            raise Refused(f"{taken.relative_to(root)} exists already")
    vendors = (root / "bridge" / "vendors.py").read_text(encoding="utf-8")
    if f'Portal("{vendor}"' in vendors:
        raise Refused(f"{vendor} is in bridge/vendors.py already")
    if MARKER not in vendors:
        raise Refused("bridge/vendors.py has lost the line that marks where new portals go")


def scaffold(root: Path, vendor: str, display: str, url: str) -> list[Path]:
    """Make the package, the registry line and the fixtures folder; return what was written."""
    check_name(root, vendor, display)
    package = root / "bridge" / "parsers" / vendor
    fixtures = root / "fixtures" / "portal_pages" / vendor
    vendors = root / "bridge" / "vendors.py"
    package.mkdir(parents=True)
    fixtures.mkdir(parents=True)
    (package / "__init__.py").write_text(PARSER.format(vendor=vendor, display=display), encoding="utf-8")
    (fixtures / "example.html").write_text(EXAMPLE_PAGE.format(display=display), encoding="utf-8")
    spec = {"url": url, "captured_at": "2025-01-01T12:00:00Z", "expected": None}
    (fixtures / "example.expected.json").write_text(json.dumps(spec, indent=2) + "\n", encoding="utf-8")
    line = f"    Portal({json.dumps(vendor)}, {json.dumps(display, ensure_ascii=False)}),\n"
    text = vendors.read_text(encoding="utf-8")
    vendors.write_text(text.replace(MARKER, line + MARKER, 1), encoding="utf-8")
    return [package / "__init__.py", vendors, fixtures / "example.html", fixtures / "example.expected.json"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("vendor", help="the record contract's `vendor` value, e.g. acme_health")
    parser.add_argument("display_name", help="how the receipt and the dashboard name the portal")
    parser.add_argument("--url", help="the example page's address (default: an invented one)")
    parser.add_argument(
        "--root", type=Path, default=REPO, help="the repository to work on (default: this one)"
    )
    args = parser.parse_args(argv)
    url = args.url or f"https://portal.example.org/{args.vendor}/results"
    try:
        written = scaffold(args.root.resolve(), args.vendor, args.display_name, url)
    except Refused as exc:
        print(f"new_portal: {exc}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path}")
    print(
        f"Next: write can_parse() and parse(); replace example.html with synthetic pages of the portal "
        f"(12 at least); `pytest tests/test_golden.py --update-golden -k {args.vendor}` and review the "
        f"expected files; add `{args.vendor}` to the vendor row of docs/record-contract.md."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
