"""Parse speed: Kinchart's full parse of every fixture page against a naive BeautifulSoup pass.

Kinchart's full parse (registry, vendor parser, records) must be at least 10 times faster than a
naive read of the same pages: a `BeautifulSoup(html, "html.parser")` tree *and its text* (a parser
that built the tree and read nothing would not be a fair measure of reading a page).
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
    naive = best_of(lambda url, html: BeautifulSoup(html, "html.parser").get_text(" "), pages)
    figure("parse.pages", len(pages), "pages")
    figure("parse.kinchart", len(pages) / kinchart, "pages/s")
    figure("parse.naive_bs4", len(pages) / naive, "pages/s")
    figure("parse.speedup", naive / kinchart, "x", ">= 10x")


if __name__ == "__main__":
    main()
