"""Filing: which family member a capture's detected patient is. Never a silent guess.

The rule, in order (the first that answers wins):

1. **The caregiver's answer for this capture** (`assignments`, set by `assign`).
2. **The remembered answer for this patient key**: the hash of the normalized patient name, birth date
   and organization (`patient_keys`, set when the caregiver assigned a capture of that patient).
3. **A vouched-for identity**: the normalized name *and* the birth date equal exactly one member's
   identity, where an identity is a (name, dob) pair the caregiver vouched for, by creating or editing
   the member with it or by assigning a capture showing it (at any organization). Both name and birth
   date must be present on the page; a page without a birth date never files by identity.
4. Otherwise the capture is left **unassigned** (fully stored, not on the timeline) and the caregiver
   is asked; `candidates` lists the members it may be, best first, with the reasons. A name that only
   resembles a member's (a middle initial more, another order, a different birth date) is a candidate,
   never an automatic filing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .members import identities
from .normalize import digest, name_tokens, norm_org, patient_name


@dataclass(frozen=True)
class Candidate:
    member_id: str
    name: str
    score: float
    reasons: tuple[str, ...]

    @property
    def id(self) -> str:
        """The member id (the receipt's MemberRef reads `id` and `name`)."""
        return self.member_id


@dataclass(frozen=True)
class Filing:
    capture_id: str
    member_id: str | None
    needs_assignment: bool
    candidates: list[Candidate] = field(default_factory=list)
    reason: str = ""  # assigned | remembered | identity | new_patient | similar | ambiguous | no_patient


def patient_of(meta: dict[str, Any]) -> tuple[str | None, str | None]:
    p = meta.get("patient")
    if not isinstance(p, dict):
        return None, None
    name, dob = p.get("name"), p.get("dob")
    return (
        name if isinstance(name, str) and name.strip() else None,
        dob if isinstance(dob, str) and dob.strip() else None,
    )


def patient_key(name: str | None, dob: str | None, organization: str | None) -> str | None:
    """The opaque key under which the caregiver's answer is remembered; None without a name."""
    n = patient_name(name)
    if not n:
        return None
    return digest("patient", n, dob or "", norm_org(organization), size=32)


def capture_patient_key(meta: dict[str, Any]) -> str | None:
    name, dob = patient_of(meta)
    org = meta.get("organization")
    return patient_key(name, dob, org if isinstance(org, str) else None)


def score_candidates(name: str | None, dob: str | None, members: Sequence[dict[str, Any]]) -> list[Candidate]:
    """Members the patient may be, best first. Scores are for ordering only, never for filing."""
    n = patient_name(name)
    toks = name_tokens(name)
    out: list[Candidate] = []
    for m in members:
        names = {patient_name(str(m.get("name") or ""))} | {str(i.get("name")) for i in identities(m)}
        dobs = {m.get("dob")} | {i.get("dob") for i in identities(m)}
        dobs.discard(None)
        reasons: list[str] = []
        score = 0.0
        if n and n in names:
            score += 0.6
            reasons.append("same name")
        elif toks:
            best = 0.0
            for other in names:
                ot = frozenset(other.split())
                if not ot:
                    continue
                jac = len(toks & ot) / len(toks | ot)
                if toks <= ot or ot <= toks:
                    jac = max(jac, 0.6)
                best = max(best, jac)
            if best >= 0.3:
                score += 0.5 * best
                reasons.append("similar name")
        if dob and dobs:
            if dob in dobs:
                score += 0.4
                reasons.append("same birth date")
            else:
                score -= 0.3
                reasons.append("different birth date")
        if score > 0.1:
            out.append(
                Candidate(
                    member_id=str(m["id"]),
                    name=str(m.get("name") or ""),
                    score=round(score, 3),
                    reasons=tuple(reasons),
                )
            )
    out.sort(key=lambda c: (-c.score, c.name, c.member_id))
    return out


def identity_matches(name: str | None, dob: str | None, members: Sequence[dict[str, Any]]) -> list[str]:
    """Ids of members with a vouched-for identity equal to (name, dob); empty without both."""
    n = patient_name(name)
    if not n or not dob:
        return []
    return [
        str(m["id"])
        for m in members
        if any(i.get("name") == n and i.get("dob") == dob for i in identities(m))
    ]


def decide(
    capture_id: str,
    meta: dict[str, Any],
    members: Sequence[dict[str, Any]],
    assigned: str | None,
    remembered: str | None,
) -> Filing:
    """The filing decision as a pure function (see the module docstring). The member a capture was
    filed under before is deliberately not an input: after a reparse that reads the patient
    differently, a capture the caregiver did not assign is decided afresh (and may ask)."""
    if assigned:
        return Filing(capture_id, assigned, False, [], "assigned")
    if remembered:
        return Filing(capture_id, remembered, False, [], "remembered")
    name, dob = patient_of(meta)
    if not name:
        cands = [
            Candidate(str(m["id"]), str(m.get("name") or ""), 0.0, ("page shows no patient",))
            for m in members
        ]
        return Filing(capture_id, None, True, cands, "no_patient")
    matches = identity_matches(name, dob, members)
    if len(matches) == 1:
        return Filing(capture_id, matches[0], False, [], "identity")
    cands = score_candidates(name, dob, members)
    if len(matches) > 1:
        return Filing(capture_id, None, True, cands, "ambiguous")
    return Filing(capture_id, None, True, cands, "similar" if cands else "new_patient")
