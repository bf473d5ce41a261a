"""Family members: encrypted documents in the vault's `members` collection, keyed by a random uuid.

A member document that fails its integrity check is left out of the list (the vault reports it by
collection and keyed id) and looked up as an unknown member; every other member, and the captures
filed under any member, still read.

A member document also keeps the member's *identities*: the (normalized name, birth date) pairs the
caregiver has vouched for, either by creating the member with them or by assigning a capture of that
patient to the member. Filing files a capture automatically by identity only (filing.py).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from bridge.vault.errors import TamperedData

from .models import Member
from .normalize import patient_name
from .store import MEMBERS, REDIRECTS, VaultLike


class UnknownMember(KeyError):
    pass


def member_from_doc(doc: dict[str, Any]) -> Member:
    return Member(
        id=str(doc["id"]),
        name=str(doc.get("name") or ""),
        dob=doc.get("dob"),
        relationship=doc.get("relationship"),
        notes=doc.get("notes"),
        created_at=doc.get("created_at"),
    )


def identities(doc: dict[str, Any]) -> list[dict[str, Any]]:
    ids = doc.get("identities")
    return [i for i in ids if isinstance(i, dict)] if isinstance(ids, list) else []


def add_identity(
    doc: dict[str, Any], name: str | None, dob: str | None, source: str, patient_key: str | None = None
) -> bool:
    """Add a vouched-for (name, dob) to a member document; False when already there or incomplete."""
    n = patient_name(name)
    if not n or not dob:
        return False
    ids = identities(doc)
    for i in ids:
        if i.get("name") == n and i.get("dob") == dob:
            return False
    ids.append({"name": n, "dob": dob, "source": source, "patient_key": patient_key})
    doc["identities"] = ids
    return True


class Members:
    def __init__(self, vault: VaultLike) -> None:
        self.vault = vault

    def create(
        self, name: str, dob: str | None = None, relationship: str | None = None, notes: str | None = None
    ) -> Member:
        name = " ".join(name.split())
        if not name:
            raise ValueError("a member needs a name")
        doc: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "name": name,
            "dob": dob or None,
            "relationship": relationship,
            "notes": notes,
            "created_at": datetime.now(UTC).isoformat(timespec="microseconds"),
            "identities": [],
        }
        add_identity(doc, name, dob, "created")
        self.vault.put_doc(MEMBERS, doc["id"], doc)
        return member_from_doc(doc)

    def doc(self, member_id: str) -> dict[str, Any]:
        try:
            doc = self.vault.get_doc(MEMBERS, self.resolve(member_id))
        except TamperedData:  # reported by the vault (`integrity()`); the rest of the family still reads
            doc = None
        if doc is None:
            raise UnknownMember(member_id)
        return doc

    def get(self, member_id: str) -> Member:
        return member_from_doc(self.doc(member_id))

    def all_docs(self) -> list[dict[str, Any]]:
        docs = list(self.vault.list_docs(MEMBERS).values())
        return sorted(docs, key=lambda d: (str(d.get("created_at") or ""), str(d.get("id"))))

    def list(self) -> list[Member]:
        return [member_from_doc(d) for d in self.all_docs()]

    def save(self, doc: dict[str, Any]) -> None:
        self.vault.put_doc(MEMBERS, str(doc["id"]), doc)

    def update(
        self,
        member_id: str,
        *,
        name: str | None = None,
        dob: str | None = None,
        relationship: str | None = None,
        notes: str | None = None,
    ) -> Member:
        """Rename or edit a member. A new name or birth date becomes a vouched-for identity too (the
        old ones stay: the portals still show the old name)."""
        doc = self.doc(member_id)
        if name is not None:
            name = " ".join(name.split())
            if not name:
                raise ValueError("a member needs a name")
            doc["name"] = name
        if dob is not None:
            doc["dob"] = dob or None
        if relationship is not None:
            doc["relationship"] = relationship
        if notes is not None:
            doc["notes"] = notes
        add_identity(doc, doc.get("name"), doc.get("dob"), "created")
        self.save(doc)
        return member_from_doc(doc)

    def resolve(self, member_id: str) -> str:
        """Follow merge redirects to the surviving member id."""
        seen = set()
        while member_id not in seen:
            seen.add(member_id)
            try:
                red = self.vault.get_doc(REDIRECTS, member_id)
            except TamperedData:  # reported by the vault; the member is looked up as it is
                return member_id
            if not red:
                return member_id
            member_id = str(red["into"])
        return member_id

    def absorb(self, keep_id: str, drop_id: str) -> dict[str, Any]:
        """Fold `drop`'s document into `keep`'s (identities, notes) and leave a redirect."""
        keep, drop = self.doc(keep_id), self.doc(drop_id)
        if keep["id"] == drop["id"]:
            raise ValueError("cannot merge a member into itself")
        for i in identities(drop):
            add_identity(
                keep,
                str(i.get("name") or ""),
                i.get("dob"),
                str(i.get("source") or "confirmed"),
                i.get("patient_key"),
            )
        for field in ("dob", "relationship", "notes"):
            if not keep.get(field) and drop.get(field):
                keep[field] = drop[field]
        merged = keep.get("merged_from")
        keep["merged_from"] = [*(merged if isinstance(merged, list) else []), drop["id"]]
        self.save(keep)
        self.vault.delete_doc(MEMBERS, str(drop["id"]))
        self.vault.put_doc(REDIRECTS, str(drop["id"]), {"into": keep["id"]})
        # earlier redirects into `drop` now lead to `keep` through the chain
        return keep
