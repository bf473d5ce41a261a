"""MyChart PX health summary (`app/health-summary`): cards found by their `h2`, in any order.

* "Current Health Issues" → one `problem` per item: the name, "Date noted:" → `occurred_at`;
* "Current Medications" → one `medication` per item: the `h3` drug (not "Commonly known as: …"),
  the sig paragraph, the `dl` pairs "Prescribed" → `occurred_at` and "Approved by" → `prescriber`
  ("Documented by …" is not a prescriber);
* "Allergies" → one `allergy` per item: the `h3`, "Reactions", "Severity", "Noted";
* "Immunizations" → one `immunization` per date in `ul[aria-label="Dates given"]` (else "Given:").

Everything under a "Current …" heading is `active`; under a "Discontinued …" / "Past …" heading a
medication is `discontinued` and a problem `resolved`. An empty card holds a `role="status"` sentence
and no items, so it gives no records.

The same cards make up the single-activity PX list pages (`app/medications`, `app/allergies`, …), which
`parse_list_page` reads: their `h2` cards when they have any, else the list under the `h1`. Those pages
may also show a prescription's quantity, refills and pharmacy, read here by label when present.
"""

from __future__ import annotations

import re

from selectolax.lexbor import LexborNode

from bridge.records import Allergy, Immunization, Medication, Problem

from ..base import Draft
from ..dates import parse_date
from ..labels import dl_pairs
from ..text import clean, text_of
from ..values import refills_in
from .px_dom import DocIndex, descendants, has_date, is_inside, key, leaves, region_css

DOSES = 'ul[aria-label="Dates given"]'
_LABELLED = re.compile(
    r"^(?P<label>date noted|noted|diagnosed|onset|given|last given|prescribed|started|"
    r"start date|reactions?|severity|approved by|prescribed by|ordered by)\s*:\s*(?P<rest>.*)$",
    re.I,
)
_SKIP_MED = re.compile(r"^(commonly known as|documented by|brand name|generic name)\b", re.I)
_DATE_LIST = re.compile(r"[A-Za-z]{3,9}\.? \d{1,2}, \d{4}|\d{1,2}/\d{1,2}/\d{2,4}")
_STOPPED = ("discontinued", "stopped", "past", "previous", "inactive", "historical", "resolved")
# The card kind each single-activity list page holds (the page kind is the key's value).
LIST_PAGE_KINDS: dict[str, str] = {
    "medication_list": "medication",
    "allergy_list": "allergy",
    "immunization_list": "immunization",
    "problem_list": "problem",
}


def parse_summary(draft: Draft, main: LexborNode, only: str | None = None) -> int:
    """Read every card whose `h2` names a kind (only that kind when `only` is given); the number of
    cards read."""
    idx = DocIndex(main)
    cards = 0
    for h2 in main.css("h2"):
        title = key(text_of(h2))
        kind = _card_kind(title)
        if kind is None or (only is not None and kind != only):
            continue
        cards += 1
        _read_card(draft, idx.region(h2), kind, _section_status(title))
    return cards


def parse_list_page(draft: Draft, main: LexborNode, page_kind: str) -> None:
    """A single-activity list page: its `h2` cards of that kind, else the items under the `h1`."""
    kind = LIST_PAGE_KINDS[page_kind]
    if parse_summary(draft, main, only=kind):
        return
    h1 = main.css_first("h1")
    if h1 is None:
        return
    title = key(text_of(h1))
    _read_card(draft, DocIndex(main).region(h1), kind, _section_status(title))


def _section_status(title: str) -> str | None:
    """ "current" / "discontinued" from a card heading, None when it says neither."""
    if title.startswith(("current", "active")):
        return "current"
    if any(word in title for word in _STOPPED):
        return "stopped"
    return None


def _read_card(draft: Draft, region: list[LexborNode], kind: str, section: str | None) -> None:
    for item in _items(region):
        if kind == "problem":
            _problem(draft, item, section)
        elif kind == "medication":
            _medication(draft, item, section)
        elif kind == "allergy":
            _allergy(draft, item)
        else:
            _immunization(draft, item)


def _card_kind(title: str) -> str | None:
    if "health issue" in title or "problem" in title or title in {"conditions", "current conditions"}:
        return "problem"
    if "medication" in title or "prescription" in title:
        return "medication"
    if "allerg" in title:
        return "allergy"
    if "immunization" in title or "vaccin" in title:
        return "immunization"
    return None


def _items(region: list[LexborNode]) -> list[LexborNode]:
    """The outermost list items of a card (the dose dates inside an item are not items)."""
    found = region_css(region, 'li, [role="listitem"]')
    outer = [li for li in found if not any(o.mem_id != li.mem_id and is_inside(li, o) for o in found)]
    return [li for li in outer if text_of(li)]


def _labelled(item: LexborNode) -> dict[str, str]:
    pairs = dict(dl_pairs(item))
    for _node, t in leaves(item, include_hidden=False):
        m = _LABELLED.match(t)
        if m and clean(m.group("rest")):
            pairs.setdefault(m.group("label").lower(), clean(m.group("rest")) or "")
    return pairs


def _name(item: LexborNode) -> str | None:
    h = item.css_first("h3, h4, strong")
    if h is not None and text_of(h):
        return text_of(h)
    for node in item.css("p, span, div"):
        t = text_of(node)
        if t and not _LABELLED.match(t) and not descendants(node, "p, div"):
            return t
    return None


def _problem(draft: Draft, item: LexborNode, section: str | None) -> None:
    name = _name(item)
    if not name:
        return
    pairs = _labelled(item)
    noted = pairs.get("date noted") or pairs.get("noted") or pairs.get("diagnosed") or pairs.get("onset")
    draft.records.append(
        Problem(
            title=name,
            occurred_at=parse_date(noted) if has_date(noted) else None,
            status={"current": "active", "stopped": "resolved"}.get(section or ""),
        )
    )


def _medication(draft: Draft, item: LexborNode, section: str | None) -> None:
    name = _name(item)
    if not name:
        return
    pairs = _labelled(item)
    sig = None
    for p in item.css("p"):
        t = text_of(p)
        if (
            t
            and t != name
            and not _SKIP_MED.match(t)
            and not _LABELLED.match(t)
            and refills_in(t, at_start=True) is None
        ):
            sig = t
            break
    started = pairs.get("prescribed") or pairs.get("started") or pairs.get("start date")
    draft.records.append(
        Medication(
            title=name,
            occurred_at=parse_date(started) if has_date(started) else None,
            instructions=sig,
            prescriber=pairs.get("approved by") or pairs.get("prescribed by"),
            status={"current": "active", "stopped": "discontinued"}.get(section or ""),
            quantity=pairs.get("quantity") or pairs.get("qty") or pairs.get("dispense"),
            refills_remaining=_refills(item, pairs),
            pharmacy=pairs.get("pharmacy"),
        )
    )


def _refills(item: LexborNode, pairs: dict[str, str]) -> int | None:
    """ "3 refills remaining", "1 refill remaining", "No refills remaining" (or a "Refills" pair)."""
    texts = [t for _node, t in leaves(item, include_hidden=False)]
    for label in ("refills remaining", "refills left", "refills"):
        if pairs.get(label):
            texts.insert(0, f"{pairs[label]} refills")
    return next((n for n in (refills_in(t, at_start=True) for t in texts) if n is not None), None)


def _allergy(draft: Draft, item: LexborNode) -> None:
    name = _name(item)
    if not name:
        return
    pairs = _labelled(item)
    noted = pairs.get("noted") or pairs.get("date noted")
    draft.records.append(
        Allergy(
            title=name,
            occurred_at=parse_date(noted) if has_date(noted) else None,
            reaction=pairs.get("reactions") or pairs.get("reaction"),
            severity=pairs.get("severity"),
        )
    )


def _immunization(draft: Draft, item: LexborNode) -> None:
    name = _name(item)
    if not name:
        return
    dates: list[str] = []
    doses = item.css_first(DOSES)
    if doses is not None:
        dates = [t for li in descendants(doses, 'li, [role="listitem"]') if (t := text_of(li))]
        if not dates:
            dates = _DATE_LIST.findall(text_of(doses) or "")
    else:
        given = _labelled(item).get("given") or _labelled(item).get("last given") or ""
        dates = _DATE_LIST.findall(given)
        if not dates:  # "Given:" on its own, the dates beside it
            dates = _DATE_LIST.findall((text_of(item) or "").replace(name, " ", 1))
    if not dates:
        draft.records.append(Immunization(title=name, occurred_at=None))
        draft.warn(f"immunization '{name}' shows no date given")
    for d in dates:
        draft.records.append(Immunization(title=name, occurred_at=parse_date(d) if has_date(d) else None))
