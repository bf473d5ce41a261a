"""Normalization shared by the family model: text keys, person names, organizations, ISO times.

Everything here is pure and deterministic: the natural keys (dedupe), the patient keys (filing) and
the analyte and drug names all rest on these functions, so a change here changes entry ids.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from datetime import date, datetime

# Letters NFKD does not decompose into a base letter and a mark.
_FOLD = str.maketrans(
    {
        "đ": "d",
        "Đ": "d",
        "ø": "o",
        "Ø": "o",
        "ł": "l",
        "Ł": "l",
        "ß": "ss",
        "æ": "ae",
        "Æ": "ae",
        "œ": "oe",
        "Œ": "oe",
        "ı": "i",
        "þ": "th",
        "ð": "d",
    }
)
_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)
_WS = re.compile(r"\s+")

# Credentials and honorifics that follow or precede a person's name on portal pages.
CREDENTIALS = frozenset(
    {
        "md",
        "do",
        "pa",
        "pa-c",
        "pac",
        "np",
        "rn",
        "lpn",
        "cnp",
        "fnp",
        "aprn",
        "dnp",
        "phd",
        "pharmd",
        "dds",
        "dmd",
        "od",
        "dpm",
        "cnm",
        "crnp",
        "ma",
        "cma",
        "lcsw",
        "mph",
        "facp",
        "faap",
        "mr",
        "mrs",
        "ms",
        "miss",
        "dr",
        "jr",
        "sr",
        "ii",
        "iii",
        "iv",
        "bsn",
        "msn",
        "np-c",
        "fnp-c",
        "agpcnp-bc",
    }
)


def fold(text: str | None) -> str:
    """Casefolded, accent-free, punctuation to single spaces: 'Đỗ Thị  Hoa' -> 'do thi hoa'."""
    if not text:
        return ""
    if len(text) <= 200:
        return _fold_short(text)
    return _fold(text)


@functools.lru_cache(maxsize=1 << 16)
def _fold_short(text: str) -> str:
    return _fold(text)


def _fold(text: str) -> str:
    if text.isascii():
        text = text.casefold().replace("'", "")
        return _WS.sub(" ", _NON_WORD.sub(" ", text).replace("_", " ")).strip()
    text = text.translate(_FOLD)
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.casefold().replace("'", "").replace("\u2019", "")
    return _WS.sub(" ", _NON_WORD.sub(" ", text).replace("_", " ")).strip()


def search_fold(text: str) -> str:
    """Cheaper fold for long search text: casefold, accents and apostrophes out, punctuation kept."""
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text.translate(_FOLD))
        text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return text.casefold().replace("'", "").replace("\u2019", "")


def norm_text(text: str | None) -> str:
    """Key form of a free-text label (titles, departments, subjects)."""
    return fold(text)


@functools.lru_cache(maxsize=1 << 14)
def person_name(name: str | None, credentials: bool = True) -> str:
    """Key form of a person's name: 'OKAFOR, Adaeze MD' -> 'adaeze okafor'; order 'First Last'.

    A part after a comma made only of credentials ('Priya Raman, MD') is dropped; a remaining single
    'Last, First' comma is turned around. With `credentials` (providers, senders) trailing credential
    tokens are dropped while more than two tokens remain and a leading honorific is dropped; patient
    names use credentials=False ('Anh Do' keeps its 'Do'). Middle names and initials are kept: a name
    that differs only by a middle initial is similar, not equal, and the caregiver is asked.
    """
    if not name:
        return ""
    parts = [p.strip() for p in name.split(",") if p.strip()]
    while len(parts) > 1 and all(t in CREDENTIALS for t in fold(parts[-1]).split()):
        parts.pop()
    if credentials:
        keep = 1 if len(parts) > 1 else 2
        parts = [" ".join(_strip_credentials(fold(p).split(), keep)) for p in parts]
    if len(parts) == 2:
        parts = [parts[1], parts[0]]
    return fold(" ".join(parts))


_HONORIFICS = frozenset({"mr", "mrs", "ms", "miss", "dr", "mx"})


def _strip_credentials(tokens: list[str], keep: int) -> list[str]:
    while len(tokens) > keep and tokens[-1] in CREDENTIALS:
        tokens = tokens[:-1]
    if len(tokens) > keep and tokens[0] in _HONORIFICS:
        tokens = tokens[1:]
    return tokens


def patient_name(name: str | None) -> str:
    return person_name(name, credentials=False)


def name_tokens(name: str | None) -> frozenset[str]:
    return frozenset(patient_name(name).split())


def norm_org(org: str | None) -> str:
    return fold(org)


def digest(*parts: str | None, size: int = 24) -> str:
    """An opaque, stable id: the hex SHA-256 of the parts joined by an unambiguous separator."""
    joined = "\x1f".join("" if p is None else p for p in parts)
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()[:size]


# ---------------------------------------------------------------------------------------- times


def wall(iso: str | None) -> str:
    """The local wall time of an ISO string without any offset: '2026-05-05T10:30:00-05:00' ->
    '2026-05-05T10:30:00'. Portals show local times; the offset, when present, is not a different time."""
    if not iso:
        return ""
    if len(iso) > 19 and iso[10] == "T":
        return iso[:19]
    return iso


def day_of(iso: str | None) -> str:
    return wall(iso)[:10]


def minute_of(iso: str | None) -> str:
    """'YYYY-MM-DDTHH:MM' when the string has a time, else ''."""
    w = wall(iso)
    return w[:16] if len(w) >= 16 and w[10] == "T" else ""


def has_time(iso: str | None) -> bool:
    return bool(minute_of(iso))


def parse_day(iso: str | None) -> date | None:
    d = day_of(iso)
    try:
        return date.fromisoformat(d) if d else None
    except ValueError:
        return None


def parse_wall(iso: str | None) -> datetime | None:
    """Naive local datetime of an ISO string (date-only gives midnight); None when unreadable."""
    w = wall(iso)
    if not w:
        return None
    try:
        return datetime.fromisoformat(w)
    except ValueError:
        return None


def parse_instant_day(iso: str | None) -> date | None:
    """The calendar date of an instant such as a capture time ('2025-09-17T01:10:05Z')."""
    if not iso:
        return None
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).date()
    except ValueError:
        return parse_day(iso)
