"""The PDF "new doctor" packet, printed by headless Chromium (Playwright) and read back with pypdf."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_export import HOA, LAN, NOW, Filled

from bridge.exports import ExportOptions, pdf

pytestmark = pytest.mark.browser


def _chromium_or_skip() -> None:
    if pdf.chromium_executable():
        return
    try:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            if Path(p.chromium.executable_path).exists():
                return
    except Exception as exc:  # playwright missing or broken
        pytest.skip(f"no Chromium to print with ({exc})")
    pytest.skip("no Chromium to print with")


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Filled]:
    f = Filled(tmp_path_factory.mktemp("export-pdf") / "vault")
    yield f
    f.vault.close()


def test_pdf_packet_pages_and_text(filled: Filled) -> None:
    _chromium_or_skip()
    from pypdf import PdfReader

    buf = io.BytesIO()
    assert pdf.write(filled.family, ExportOptions(now=NOW), buf) == 2
    data = buf.getvalue()
    assert data.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(data))
    pages = [" ".join((p.extract_text() or "").split()) for p in reader.pages]
    assert len(pages) >= 2
    # each member starts on a page of their own, the first member first
    assert pages[0].startswith(HOA)
    lan_start = next(i for i, t in enumerate(pages) if t.startswith(LAN))
    assert lan_start > 0 and not any(LAN in t and "Born Aug 21, 1949" in t for t in pages[:lan_start])
    # every page is numbered "Page i of n"
    for i, t in enumerate(pages, 1):
        assert f"Page {i} of {len(pages)}" in t
    text = " ".join(pages)
    hoa_text, lan_text = " ".join(pages[:lan_start]), " ".join(pages[lan_start:])
    # a lab value with its flag, from Lakeside's HbA1c page
    assert re.search(r"7\.9 % \(High\)", hoa_text)
    # an upcoming appointment (Prairie Valley's lab visit) and its source system
    assert "Upcoming appointments" in lan_text and "Lab Visit" in lan_text
    assert "Prairie Valley Health" in lan_text and "Lakeside Health" in hoa_text
    # sections of the packet, in order
    order = [
        hoa_text.find(h)
        for h in (
            "Allergies",
            "Problems",
            "Active medications",
            "Recent abnormal results",
            "Immunizations",
            "Recent visits",
            "Upcoming appointments",
            "Timeline",
        )
    ]
    assert all(i >= 0 for i in order) and order == sorted(order)
    # hostile captured content came through as text, never as markup
    assert "<script>alert('pwned')</script>" in text.replace("\u2019", "'")
