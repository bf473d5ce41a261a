"""Ingest speed: the full path (store the encrypted capture durably, parse, file under a member, dedupe)
over every fixture page, in pages per second, beside a naive `BeautifulSoup(html, "html.parser")` pass over
the same pages in the same run. Target: at least 3 times faster than the naive parse alone.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from _common import figure, fixture_pages
from bs4 import BeautifulSoup

from bridge.family import Family
from bridge.ingest import ingest, ingest_many
from bridge.vault import KdfParams, Vault

ROUNDS = 5


def one_round(pages: list[tuple[str, str]], folder: Path, bulk: bool) -> float:
    vault = Vault.create(folder, "bench passphrase", kdf=KdfParams.fast())
    family = Family(vault)
    captures = [
        {
            "url": url,
            "title": None,
            "captured_at": "2026-11-25T09:00:00Z",
            "frames": [{"url": url, "html": html}],
            "extension_version": "bench",
        }
        for url, html in pages
    ]
    start = time.perf_counter()
    if bulk:  # kinchart import: committed in batches
        ingest_many(vault, captures, family)
    else:  # the HTTP API: each capture durable before its receipt
        for capture in captures:
            ingest(vault, capture, family)
    family.timeline(limit=1)  # dedupe done: the merged timeline is built
    elapsed = time.perf_counter() - start
    vault.close()
    return elapsed


def main() -> None:
    pages = fixture_pages()
    with tempfile.TemporaryDirectory() as tmp:
        bulk = min(one_round(pages, Path(tmp) / f"b{i}", bulk=True) for i in range(ROUNDS))
        single = min(one_round(pages, Path(tmp) / f"s{i}", bulk=False) for i in range(ROUNDS))
    naive = float("inf")
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _url, html in pages:
            BeautifulSoup(html, "html.parser")
        naive = min(naive, time.perf_counter() - start)
    figure("ingest.pages", len(pages), "pages")
    figure("ingest.import", len(pages) / bulk, "pages/s")
    figure("ingest.api_one_durable_commit_each", len(pages) / single, "pages/s")
    figure("ingest.naive_bs4_parse", len(pages) / naive, "pages/s")
    figure("ingest.speedup", naive / bulk, "x", ">= 3x")
    figure("ingest.api_speedup", naive / single, "x")


if __name__ == "__main__":
    main()
