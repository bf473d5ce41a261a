"""Medication reconciliation: the active medicines across every health system, grouped by drug.

The drug name is normalized to its ingredient: lowercase, accents folded, the strength
("500 mg", "875-125 mg", "100 unit/ml") kept separately, the dose form ("tablet", "inhaler") and the
release modifier ("ER", "XL", "HFA") dropped from the ingredient and kept as `release`. A salt
("tartrate", "hydrochloride", ...) is dropped from the ingredient so metoprolol tartrate and metoprolol
succinate fall in one group (flagged `different_formulations`), except where the salt is the drug
itself (ferrous sulfate, potassium chloride).

Flags on a group (only over medicines still active, status `active` or not shown):

- `multiple_prescribers`: two different prescribers (names compared without credentials or order).
- `multiple_strengths`: two different strengths.
- `different_formulations`: different salts or release forms (e.g. metformin and metformin ER).
- `multiple_systems`: active at two or more health systems (informational).
- `discontinued_elsewhere`: discontinued at one system while active at another.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

from .models import Entry
from .normalize import fold, norm_org, person_name

_FORMS = frozenset(
    {
        "tablet",
        "tablets",
        "tab",
        "tabs",
        "capsule",
        "capsules",
        "cap",
        "caps",
        "solution",
        "suspension",
        "injection",
        "injectable",
        "pen",
        "inhaler",
        "inhalation",
        "aerosol",
        "oral",
        "cream",
        "ointment",
        "gel",
        "patch",
        "powder",
        "spray",
        "drops",
        "drop",
        "syrup",
        "chewable",
        "extended",
        "release",
        "delayed",
        "per",
        "film",
        "coated",
        "kit",
        "lotion",
        "suppository",
        "nebulizer",
        "vial",
        "elixir",
        "liquid",
        "sublingual",
        "topical",
        "ophthalmic",
        "otic",
        "nasal",
        "transdermal",
        "disintegrating",
        "dose",
        "each",
        "actuation",
        "hr",
        "hour",
        "day",
    }
)
_RELEASE = frozenset({"er", "xr", "sr", "dr", "cr", "xl", "la", "ec", "hfa", "odt", "cd", "xr24", "24hr"})
_SALTS = frozenset(
    {
        "tartrate",
        "succinate",
        "hydrochloride",
        "hcl",
        "sodium",
        "potassium",
        "calcium",
        "besylate",
        "maleate",
        "mesylate",
        "citrate",
        "fumarate",
        "acetate",
        "phosphate",
        "bromide",
        "hyclate",
        "monohydrate",
        "magnesium",
        "dihydrate",
        "sulfate",
        "hbr",
        "dipropionate",
        "propionate",
    }
)
_MINERALS = frozenset({"ferrous", "potassium", "sodium", "calcium", "magnesium", "zinc", "lithium"})
_UNIT = re.compile(
    r"^(mg|mcg|g|gm|ml|l|unit|units|u|iu|meq|mmol|%|mg/ml|mcg/ml|unit/ml|units/ml|"
    r"mg/\d*ml|mcg/actuation|mcg/act|mg/actuation|mcg/hr|mg/hr|mg/g|mcg/dose)$"
)
_NUM = re.compile(r"^\d[\d,./-]*$")


@dataclass(frozen=True)
class Drug:
    ingredient: str  # "metformin"; "" when the title is empty
    strength: str | None  # "500 mg"
    release: str | None  # "er"
    salt: str | None  # "tartrate"


@functools.lru_cache(maxsize=1 << 14)
def parse_drug(title: str | None) -> Drug:
    text = re.sub(r"\([^)]*\)", " ", title or "")
    raw = [t for t in re.split(r"\s+", text.strip().casefold()) if t]
    # strength: from the first token that starts with a digit, numbers and units
    name_tokens: list[str] = []
    strength_tokens: list[str] = []
    release: str | None = None
    i = 0
    while i < len(raw):
        tok = raw[i]
        if tok[0].isdigit():
            break
        clean = fold(tok).replace(" ", "-")
        if clean in _RELEASE:
            release = clean
        elif clean in _FORMS:
            if name_tokens:
                break
        elif clean:
            name_tokens.append(clean)
        i += 1
    if i < len(raw):
        num = re.match(r"^(\d[\d,./-]*)([a-z%/].*)?$", raw[i].rstrip(",;"))
        if num:
            strength_tokens.append(num.group(1).replace(",", "").rstrip("."))
            if num.group(2):
                strength_tokens.append(num.group(2))
            elif i + 1 < len(raw) and _UNIT.match(raw[i + 1].rstrip(",;")):
                strength_tokens.append(raw[i + 1].rstrip(",;"))
    folded = fold(" ".join(raw))
    if release is None:
        if "extended release" in folded:
            release = "er"
        elif "delayed release" in folded:
            release = "dr"
        else:
            release = next((t for t in folded.split()[i:] if t in _RELEASE), None)
    ingredient_tokens = " ".join(name_tokens).replace("-", " ").split()
    salt: str | None = None
    if (
        len(ingredient_tokens) >= 2
        and ingredient_tokens[-1] in _SALTS
        and ingredient_tokens[0] not in _MINERALS
    ):
        salt = ingredient_tokens.pop()
    strength = " ".join(strength_tokens) or None
    return Drug(ingredient=" ".join(ingredient_tokens), strength=strength, release=release, salt=salt)


@dataclass(frozen=True)
class MedItem:
    entry_id: str
    title: str | None
    ingredient: str
    strength: str | None
    release: str | None
    salt: str | None
    status: str | None
    prescriber: str | None
    organization: str | None
    occurred_at: str | None
    instructions: str | None


@dataclass(frozen=True)
class MedGroup:
    ingredient: str
    active: tuple[MedItem, ...]
    inactive: tuple[MedItem, ...]
    organizations: tuple[str, ...]  # where it is active
    flags: tuple[str, ...]
    notes: tuple[str, ...]  # one plain sentence per flag


def _item(e: Entry) -> MedItem:
    rec = e.record
    drug = parse_drug(e.title)

    def s(k: str) -> str | None:
        v = rec.get(k)
        return v if isinstance(v, str) else None

    return MedItem(
        entry_id=e.id,
        title=e.title,
        ingredient=drug.ingredient,
        strength=drug.strength,
        release=drug.release,
        salt=drug.salt,
        status=s("status"),
        prescriber=s("prescriber"),
        organization=e.organization,
        occurred_at=e.occurred_at,
        instructions=s("instructions"),
    )


def reconcile(entries: Iterable[Entry]) -> list[MedGroup]:
    """Groups of the drugs active in at least one system, flagged; sorted by ingredient."""
    by_drug: dict[str, list[MedItem]] = {}
    for e in entries:
        if e.kind != "medication":
            continue
        it = _item(e)
        if it.ingredient:
            by_drug.setdefault(it.ingredient, []).append(it)
    out: list[MedGroup] = []
    for ingredient in sorted(by_drug):
        items = sorted(
            by_drug[ingredient], key=lambda m: (m.organization or "", m.strength or "", m.entry_id)
        )
        active = tuple(m for m in items if m.status != "discontinued")
        inactive = tuple(m for m in items if m.status == "discontinued")
        if not active:
            continue
        flags: list[str] = []
        notes: list[str] = []
        prescribers = {person_name(m.prescriber): m.prescriber for m in active if m.prescriber}
        if len(prescribers) > 1:
            flags.append("multiple_prescribers")
            notes.append(
                f"{ingredient} is prescribed by {len(prescribers)} prescribers: "
                + ", ".join(sorted(p for p in prescribers.values() if p))
                + "."
            )
        strengths = {m.strength for m in active if m.strength}
        if len(strengths) > 1:
            flags.append("multiple_strengths")
            notes.append(
                f"{ingredient} is active at {len(strengths)} strengths: {', '.join(sorted(strengths))}."
            )
        forms = {(m.salt, m.release) for m in active}
        if len(forms) > 1:
            flags.append("different_formulations")
            notes.append(f"{ingredient} is active in different formulations.")
        active_orgs = {norm_org(m.organization): m.organization for m in active if m.organization}
        if len(active_orgs) > 1:
            flags.append("multiple_systems")
            notes.append(f"{ingredient} is active at {len(active_orgs)} health systems.")
        stopped = {norm_org(m.organization): m.organization for m in inactive if m.organization}
        elsewhere = [stopped[k] for k in sorted(stopped) if k not in active_orgs and active_orgs]
        if elsewhere:
            flags.append("discontinued_elsewhere")
            notes.append(
                f"{ingredient} was discontinued at {', '.join(o for o in elsewhere if o)} but is "
                f"active at {', '.join(sorted(o for o in active_orgs.values() if o))}."
            )
        out.append(
            MedGroup(
                ingredient=ingredient,
                active=active,
                inactive=inactive,
                organizations=tuple(sorted(o for o in active_orgs.values() if o)),
                flags=tuple(flags),
                notes=tuple(notes),
            )
        )
    return out
