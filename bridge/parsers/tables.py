"""Tables read by what their header cells say: the one reader for list pages whose markup is a guess
(athenahealth's allergy/immunization/problem tables, NextGen's Health Records sections, bills).

A column is named by the first keyword its header text contains (`keyword_field`); a table counts
when a required column is named; each body row becomes field -> text.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator

from selectolax.lexbor import LexborNode

from .text import text_of

# A list table's header text (lower case) -> field, by the first keyword it contains.
HEADER_KEYWORDS: tuple[tuple[str, str], ...] = (
    ("vaccin", "name"),
    ("immuniz", "name"),
    ("allerg", "name"),
    ("substance", "name"),
    ("agent", "name"),
    ("problem", "name"),
    ("condition", "name"),
    ("diagnos", "name"),
    ("reaction", "reaction"),
    ("sever", "severity"),
    ("status", "status"),
    ("given", "given"),
    ("administ", "given"),
    ("onset", "noted"),
    ("noted", "noted"),
    ("recorded", "noted"),
    ("added", "noted"),
)


def keyword_field(
    text: str,
    keywords: tuple[tuple[str, str], ...],
    taken: Collection[str | None] = (),
    wanted: Collection[str] | None = None,
) -> str | None:
    """The field the first keyword found in `text` names, skipping fields already `taken` (and, given
    `wanted`, fields not wanted)."""
    for word, field in keywords:
        if word in text and field not in taken and (wanted is None or field in wanted):
            return field
    return None


def cells(row: LexborNode) -> list[LexborNode]:
    return [c for c in row.iter() if c.tag in {"th", "td"}]


def rows_by_header(
    root: LexborNode, fields_of: Callable[[list[LexborNode]], list[str | None]], required: str
) -> Iterator[dict[str, str]]:
    """Every body row of the tables below root whose header row (`th` cells) names the `required`
    field, as field -> text (empty cells and unnamed columns left out)."""
    for table in root.css("table"):
        head = table.css_first("thead tr") or table.css_first("tr")
        if head is None or head.css_first("th") is None:
            continue
        fields = fields_of(cells(head))
        if required not in fields:
            continue
        for row in table.css("tr"):
            if row.mem_id == head.mem_id or row.css_first("td") is None:
                continue
            values = [text_of(c) for c in cells(row)]
            yield {f: v for f, v in zip(fields, values, strict=False) if f and v}
