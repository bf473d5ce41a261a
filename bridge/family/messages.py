"""Messages awaiting a reply: threads whose last message came from the patient's side.

A thread is member + organization + subject (without "RE:"/"FW:" prefixes). Its last message is the
latest by `occurred_at`; when it was sent `from_patient` and more than `business_days` business days
have passed since (counting the weekdays after the day it was sent, up to and including today, minus
the given holidays), the thread is awaiting a reply. With the default of 2, a message sent on a
Monday is overdue on Thursday; one sent on a Friday, on Wednesday.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from .dedupe import subject_key
from .models import Entry
from .normalize import norm_org, parse_day, wall


@dataclass(frozen=True)
class Thread:
    member_id: str
    organization: str | None
    subject: str | None
    last_entry_id: str
    last_sent_at: str | None
    last_sender: str | None
    messages: int
    business_days_waiting: int


def business_days_between(start: date, end: date, holidays: Collection[date] = ()) -> int:
    """Weekdays d with start < d <= end that are not holidays."""
    if end <= start:
        return 0
    days = (end - start).days
    weeks, rest = divmod(days, 7)
    count = weeks * 5
    d = start + timedelta(days=weeks * 7)
    for _ in range(rest):
        d += timedelta(days=1)
        if d.weekday() < 5:
            count += 1
    count -= sum(1 for h in holidays if start < h <= end and h.weekday() < 5)
    return count


def threads(entries: Iterable[Entry]) -> dict[tuple[str, str, str], list[Entry]]:
    out: dict[tuple[str, str, str], list[Entry]] = {}
    for e in entries:
        if e.kind != "message":
            continue
        subj = e.record.get("thread_subject") or e.title
        key = (e.member_id, norm_org(e.organization), subject_key(subj if isinstance(subj, str) else None))
        out.setdefault(key, []).append(e)
    return out


def awaiting_reply(
    entries: Iterable[Entry], today: date, business_days: int = 2, holidays: Collection[date] = ()
) -> list[Thread]:
    """Threads waiting on the care team for more than `business_days`, longest waiting first."""
    out: list[Thread] = []
    for msgs in threads(entries).values():
        msgs.sort(key=lambda e: (wall(e.occurred_at), e.id))
        last = msgs[-1]
        if last.record.get("direction") != "from_patient":
            continue
        sent = parse_day(last.occurred_at)
        if sent is None:
            continue
        waiting = business_days_between(sent, today, holidays)
        if waiting <= business_days:
            continue
        subj = last.record.get("thread_subject") or last.title
        sender = last.record.get("sender")
        out.append(
            Thread(
                member_id=last.member_id,
                organization=last.organization,
                subject=subj if isinstance(subj, str) else None,
                last_entry_id=last.id,
                last_sent_at=last.occurred_at,
                last_sender=sender if isinstance(sender, str) else None,
                messages=len(msgs),
                business_days_waiting=waiting,
            )
        )
    out.sort(key=lambda t: (-t.business_days_waiting, t.last_sent_at or "", t.last_entry_id))
    return out
