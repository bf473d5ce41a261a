"""Portal accounts: member x health system x vendor, learned from the filed captures.

An account is one member's access to one health system through one vendor's portal. The health system
is the organization the pages name (compared normalized); one system may serve its portal under more
than one host (Oracle Health's shell and its pagelets), and one host may serve many systems (NextGen's
pxpportal.nextgen.com), so the host identifies the account only when a page names no organization.

What is derived (never stored): the accounts themselves, the last capture per account and per page
kind. What the caregiver records (stored in the `accounts` collection under the account id, a hash):
the proxy relationship ("self", "parent", "adult proxy", ...), the access level (`full`, `partial`,
`none`) and an expiry date.

Expiry: an explicit date wins. Otherwise, when the member's birth date makes them a minor (or they
turned 18 within the last `RECENT_ADULT_DAYS` days) and the relationship is not "self", the default is
the 18th birthday (a 29 February birthday gives 28 February), since a minor's proxy access usually ends
then. Adult proxy access that a system expires after a period is recorded by the caregiver as a date.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlsplit

from .dedupe import instant
from .models import Member
from .normalize import digest, norm_org, parse_instant_day

ACCESS_LEVELS = ("full", "partial", "none")
RECENT_ADULT_DAYS = 90


@dataclass(frozen=True)
class PageKindSeen:
    page_kind: str
    last_captured_at: str | None
    capture_id: str
    count: int


@dataclass(frozen=True)
class Account:
    id: str
    member_id: str
    organization: str | None
    portal_host: str  # of the latest capture
    vendor: str | None
    relationship: str | None
    access_level: str | None
    expires_on: str | None  # what the caregiver set
    effective_expires_on: str | None  # what applies (the set date, else the 18th-birthday default)
    expiry_source: str | None  # "set" | "18th_birthday" | None
    last_captured_at: str | None
    last_capture_id: str | None
    capture_count: int
    page_kinds: tuple[PageKindSeen, ...]
    portal_hosts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Expiry:
    account: Account
    expires_on: str
    days_left: int  # negative: already expired
    source: str
    expired: bool


@dataclass(frozen=True)
class Stale:
    account: Account
    page_kind: str
    last_captured_at: str | None
    age_days: int


def host_of(meta: Mapping[str, Any]) -> str:
    host = meta.get("portal_host")
    if isinstance(host, str) and host:
        return host.lower()
    url = meta.get("url")
    return (urlsplit(url).hostname or "").lower() if isinstance(url, str) else ""


@functools.lru_cache(maxsize=1 << 12)
def account_id(member_id: str, organization: str | None, vendor: str | None, host: str) -> str:
    org = norm_org(organization)
    if org:
        return digest("account", member_id, org, vendor or "")
    return digest("account", member_id, "", vendor or "", host.lower())


def eighteenth_birthday(dob: str | None) -> date | None:
    try:
        born = date.fromisoformat(dob) if dob else None
    except ValueError:
        return None
    if born is None:
        return None
    try:
        return born.replace(year=born.year + 18)
    except ValueError:  # 29 February
        return date(born.year + 18, 2, 28)


def default_expiry(member: Member | None, relationship: str | None, today: date) -> date | None:
    if member is None or (relationship or "").strip().lower() == "self":
        return None
    b18 = eighteenth_birthday(member.dob)
    if b18 is None or (today - b18).days > RECENT_ADULT_DAYS:
        return None
    return b18


def derive_accounts(
    captures: Iterable[tuple[str, Mapping[str, Any]]],
    settings: Mapping[str, Mapping[str, Any]],
    members: Mapping[str, Member],
    today: date,
) -> list[Account]:
    """Accounts from filed capture metas (capture id, meta) and the stored proxy settings."""
    acc: dict[str, dict[str, Any]] = {}
    for cid, meta in captures:
        member_id = meta.get("member_id")
        if meta.get("status") != "filed" or not isinstance(member_id, str):
            continue
        host = host_of(meta)
        org = meta.get("organization") if isinstance(meta.get("organization"), str) else None
        vendor = meta.get("vendor") if isinstance(meta.get("vendor"), str) else None
        aid = account_id(member_id, org, vendor, host)
        a = acc.setdefault(
            aid,
            {
                "member_id": member_id,
                "host": host,
                "org": org,
                "vendor": vendor,
                "last": None,
                "kinds": {},
                "count": 0,
                "hosts": set(),
            },
        )
        a["hosts"].add(host)
        at = meta.get("captured_at") if isinstance(meta.get("captured_at"), str) else None
        key = (instant(at), cid)
        a["count"] += 1
        if a["last"] is None or key > a["last"][0]:
            a["last"] = (key, at, cid)
            a["org"] = org or a["org"]
            a["host"] = host
        pk = str(meta.get("page_kind") or "unknown")
        k = a["kinds"].get(pk)
        if k is None or key > k[0]:
            a["kinds"][pk] = (key, at, cid, (k[3] if k else 0) + 1)
        else:
            a["kinds"][pk] = (*k[:3], k[3] + 1)
    out: list[Account] = []
    for aid, a in acc.items():
        s = settings.get(aid, {})
        rel = s.get("relationship")
        explicit = s.get("expires_on")
        eff: str | None = explicit if isinstance(explicit, str) else None
        source: str | None = "set" if eff else None
        if eff is None:
            d = default_expiry(members.get(a["member_id"]), rel if isinstance(rel, str) else None, today)
            if d is not None:
                eff, source = d.isoformat(), "18th_birthday"
        kinds = tuple(
            PageKindSeen(page_kind=pk, last_captured_at=v[1], capture_id=v[2], count=v[3])
            for pk, v in sorted(a["kinds"].items())
        )
        out.append(
            Account(
                id=aid,
                member_id=a["member_id"],
                organization=a["org"],
                portal_host=a["host"],
                vendor=a["vendor"],
                relationship=rel if isinstance(rel, str) else None,
                access_level=s.get("access_level") if isinstance(s.get("access_level"), str) else None,
                expires_on=explicit if isinstance(explicit, str) else None,
                effective_expires_on=eff,
                expiry_source=source,
                last_captured_at=a["last"][1],
                last_capture_id=a["last"][2],
                capture_count=a["count"],
                page_kinds=kinds,
                portal_hosts=tuple(sorted(a["hosts"])),
            )
        )
    out.sort(key=lambda x: (x.member_id, x.organization or "", x.portal_host))
    return out


def expiring(accounts: Iterable[Account], today: date, within_days: int = 90) -> list[Expiry]:
    """Accounts whose access ends within `within_days` (or has ended), soonest first."""
    out: list[Expiry] = []
    for a in accounts:
        if not a.effective_expires_on or not a.expiry_source:
            continue
        try:
            d = date.fromisoformat(a.effective_expires_on[:10])
        except ValueError:
            continue
        left = (d - today).days
        if left <= within_days:
            out.append(
                Expiry(
                    account=a,
                    expires_on=d.isoformat(),
                    days_left=left,
                    source=a.expiry_source,
                    expired=left < 0,
                )
            )
    out.sort(key=lambda e: (e.days_left, e.account.id))
    return out


def stale(accounts: Iterable[Account], today: date, older_than_days: int = 30) -> list[Stale]:
    """(account, page kind) pairs whose last capture is older than `older_than_days`, oldest first."""
    out: list[Stale] = []
    for a in accounts:
        for k in a.page_kinds:
            d = parse_instant_day(k.last_captured_at)
            if d is None:
                continue
            age = (today - d).days
            if age > older_than_days:
                out.append(
                    Stale(account=a, page_kind=k.page_kind, last_captured_at=k.last_captured_at, age_days=age)
                )
    out.sort(key=lambda s: (-s.age_days, s.account.id, s.page_kind))
    return out
