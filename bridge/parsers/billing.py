"""athenahealth Billing (a guess: the reference README names only the home page's "Billing Summary"
section and its "Make a payment" action; no billing page is modeled).

Read by visible labels only, so that any plausible layout works: a table whose headers say what each
column is (one bill per row), else label/value pairs (`dt`/`dd`, or a `*label*` element beside a
`*value*` element) grouped by the card that holds them. A group counts as a bill only when it shows an
amount due or balance; its title is the billing organization it names, else the practice.

Nothing here is athenahealth-specific, so the NextGen Statements page and Oracle Health's billing
section use it too.
"""

from __future__ import annotations

import re

from selectolax.lexbor import LexborNode

from bridge.records import Bill

from .base import Draft
from .dates import parse_date
from .tables import keyword_field, rows_by_header
from .text import clean, text_of

# Label text -> field, by the first keyword it contains (checked in order).
LABEL_WORDS: tuple[tuple[str, str], ...] = (
    ("due date", "due"),
    ("due by", "due"),
    ("pay by", "due"),
    ("amount due", "amount"),
    ("balance", "amount"),
    ("total due", "amount"),
    ("you owe", "amount"),
    ("statement date", "date"),
    ("date", "date"),
    ("account", "account"),
    ("amount", "amount"),
    ("practice", "title"),
    ("provider", "title"),
    ("billed by", "title"),
    ("organization", "title"),
)
CARD_TAGS = frozenset({"li", "article", "section", "tr", "mat-card", "fieldset"})
_MONEY = re.compile(r"(?P<neg>-|\()?\s*\$?\s*(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)")


def field_of(label: str | None) -> str | None:
    key = (clean(label) or "").lower().rstrip(":")
    if not key or len(key) > 40:
        return None
    return keyword_field(key, LABEL_WORDS)


def money(text: str | None) -> float | None:
    m = _MONEY.search(text or "")
    if not m:
        return None
    value = float(m["num"].replace(",", ""))
    credit = bool(m["neg"]) or "credit" in (text or "").lower()
    return -value if credit and value else value


def _bill(fields: dict[str, str], default_title: str | None) -> Bill | None:
    amount = money(fields.get("amount"))
    if amount is None:
        return None
    return Bill(
        title=fields.get("title") or default_title or "Statement",
        occurred_at=parse_date(fields.get("date")),
        amount_due=amount,
        account=clean(
            re.sub(r"(?i)^(account|acct)\.?\s*(#|no\.?|number)?:?\s*", "", fields.get("account") or "")
        ),
        due_on=parse_date(fields.get("due")),
    )


def _from_tables(root: LexborNode, default_title: str | None) -> list[Bill]:
    def fields_of(head: list[LexborNode]) -> list[str | None]:
        return [field_of(text_of(c)) for c in head]

    bills = (_bill(row, default_title) for row in rows_by_header(root, fields_of, "amount"))
    return [bill for bill in bills if bill is not None]


def _card(node: LexborNode, root: LexborNode) -> LexborNode:
    current = node.parent
    while current is not None and current.mem_id != root.mem_id:
        names = (current.attributes.get("class") or "").lower()
        if current.tag in CARD_TAGS or "card" in names or "statement" in names:
            return current
        current = current.parent
    return root


def _pairs(root: LexborNode) -> list[tuple[LexborNode, str, str]]:
    """(label node, field, value) for every labelled value below root."""
    found: list[tuple[LexborNode, str, str]] = []
    for dt in root.css("dt"):
        dd = dt.next
        while dd is not None and dd.tag not in {"dd", "dt"}:
            dd = dd.next
        field = field_of(text_of(dt))
        value = text_of(dd) if dd is not None and dd.tag == "dd" else None
        if field and value:
            found.append((dt, field, value))
    for label in root.css("[class*='label']"):
        if label.tag in {"dt", "dd"}:
            continue
        sibling = label.next
        while sibling is not None and sibling.tag == "-text" and not clean(sibling.text_content):
            sibling = sibling.next
        if sibling is None or "value" not in (sibling.attributes.get("class") or ""):
            continue
        field = field_of(text_of(label))
        value = text_of(sibling)
        if field and value:
            found.append((label, field, value))
    return found


def read_bills(root: LexborNode, draft: Draft) -> None:
    """One `bill` per statement or account the page shows with an amount."""
    default_title = draft.organization
    bills = _from_tables(root, default_title)
    if not bills:
        groups: dict[int, tuple[LexborNode, dict[str, str]]] = {}
        for label, field, value in _pairs(root):
            card = _card(label, root)
            _, fields = groups.setdefault(card.mem_id, (card, {}))
            fields.setdefault(field, value)
        for card, fields in groups.values():
            if "title" not in fields:
                heading = next((t for t in (text_of(h) for h in card.css("h2, h3, h4")) if t), None)
                if heading and card.mem_id != root.mem_id:
                    fields["title"] = heading
            bill = _bill(fields, default_title)
            if bill is not None:
                bills.append(bill)
    draft.records.extend(bills)
    if not bills:
        draft.warn("the billing page shows no statement with an amount due")
