"""`pdf`: the "new doctor" packet (packet.py) printed to PDF by headless Chromium through Playwright —
the browser the project already uses, no second rendering engine.

The system Chromium (/usr/bin/chromium, or KINCHART_CHROMIUM) is preferred, else Playwright's own
build. The page is printed from memory (`set_content`, no temporary file), with JavaScript off, every
network request refused, and --no-sandbox only when running as root (Chromium refuses otherwise).
Chromium hands the PDF back as bytes (`page.pdf()` with no `path`): it never opens the export's file.
The caller writes the bytes like every other format (`export_to`: a new 0600 file renamed into place).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import IO, Any

from bridge.family import Family

from .common import ExportOptions, Progress
from .packet import build, render

SYSTEM_CHROMIUM = Path("/usr/bin/chromium")
FOOTER = (
    '<div style="font-size:8px;width:100%;text-align:center;color:#56606b">'
    'Page <span class="pageNumber"></span> of <span class="totalPages"></span></div>'
)


class PdfUnavailable(RuntimeError):
    """No headless Chromium to print with."""


def chromium_executable() -> str | None:
    env = os.environ.get("KINCHART_CHROMIUM")
    if env:
        return env
    if SYSTEM_CHROMIUM.exists():
        return str(SYSTEM_CHROMIUM)
    return shutil.which("chromium") or shutil.which("chromium-browser")


def html_to_pdf(html: str, timeout_ms: float = 600_000) -> bytes:
    """Print self-contained HTML to PDF bytes (Letter, backgrounds, page numbers in the footer).

    Uses Playwright's sync API: call it from a thread with no running asyncio loop."""
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # pragma: no cover - playwright ships with the test extra
        raise PdfUnavailable("PDF export needs Playwright (pip install playwright).") from exc
    args = ["--disable-gpu", "--disable-dev-shm-usage", "--disable-extensions", "--no-first-run"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--no-sandbox")
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium_executable(), headless=True, args=args)
            try:
                context = browser.new_context(java_script_enabled=False, offline=True)
                page = context.new_page()
                page.route("**/*", _refuse)
                page.set_content(html, wait_until="load", timeout=timeout_ms)
                data: bytes = page.pdf(
                    format="Letter",
                    print_background=True,
                    display_header_footer=True,
                    header_template="<div></div>",
                    footer_template=FOOTER,
                    margin={"top": "14mm", "bottom": "16mm", "left": "12mm", "right": "12mm"},
                )
                context.close()
            finally:
                browser.close()
    except PlaywrightError as exc:
        raise PdfUnavailable(f"Chromium could not print the packet ({exc}).") from exc
    return data


def _refuse(route: Any) -> None:
    route.abort()


def write(family: Family, opts: ExportOptions, out: IO[bytes], progress: Progress | None = None) -> int:
    """Write the PDF packet; return how many members."""
    packets = build(family, opts, progress)
    out.write(html_to_pdf(render(packets, opts)))
    return len(packets)
