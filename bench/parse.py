"""Parse speed: Kinchart's full parse of every fixture page against a naive BeautifulSoup pass.

Kinchart's full parse (registry, vendor parser, records) must be at least 5 times faster than merely
building a `BeautifulSoup(html, "html.parser")` tree of the same pages.
"""

from __future__ import annotations

import time

from _common import figure, fixture_pages
from bs4 import BeautifulSoup

from bridge.parsers import parse_html

ROUNDS = 5


def best_of(fn: object, pages: list[tuple[str, str]]) -> float:
    best = float("inf")
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for url, html in pages:
            fn(url, html)  # type: ignore[operator]
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    pages = fixture_pages()
    kinchart = best_of(lambda url, html: parse_html(html, url), pages)
    naive = best_of(lambda url, html: BeautifulSoup(html, "html.parser"), pages)
    figure("parse.pages", len(pages), "pages")
    figure("parse.kinchart", len(pages) / kinchart, "pages/s")
    figure("parse.naive_bs4", len(pages) / naive, "pages/s")
    figure("parse.speedup", naive / kinchart, "x", ">= 5x")


if __name__ == "__main__":
    main()
