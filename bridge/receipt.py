"""The receipt of one capture: what was stored, what was read, for whom, in one sentence a person reads."""

from __future__ import annotations

from pydantic import BaseModel, Field

VENDOR_NAMES = {
    "epic_mychart": "MyChart",
    "oracle_health": "Oracle Health",
    "athenahealth": "athenahealth",
    "nextgen": "NextGen",
    "generic": "an unknown portal",
}
# (singular, plural) for the receipt sentence.
KIND_WORDS = {
    "test_result": ("result", "results"),
    "note": ("note", "notes"),
    "message": ("message", "messages"),
    "visit": ("visit", "visits"),
    "appointment": ("appointment", "appointments"),
    "medication": ("medication", "medications"),
    "immunization": ("immunization", "immunizations"),
    "allergy": ("allergy", "allergies"),
    "problem": ("problem", "problems"),
    "bill": ("bill", "bills"),
    "document": ("page as a document", "documents"),
}


class MemberRef(BaseModel):
    id: str
    name: str


class Receipt(BaseModel):
    capture_id: str
    hash: str
    duplicate: bool
    vendor: str | None = None
    page_kind: str | None = None
    parser: str | None = None
    parser_version: str | None = None
    patient: dict[str, str | None] | None = None
    organization: str | None = None
    counts: dict[str, int] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)
    error: str | None = None
    member: MemberRef | None = None
    needs_assignment: bool = False
    candidates: list[MemberRef] = Field(default_factory=list)
    summary: str = ""

    def describe(self) -> str:
        """ "Saved 12 results for Margaret, Lakeside Health (MyChart)"."""
        parts = [
            f"{n} {KIND_WORDS.get(k, (k, k + 's'))[0 if n == 1 else 1]}"
            for k, n in sorted(self.counts.items(), key=lambda kv: -kv[1])
            if n
        ]
        what = ", ".join(parts) if parts else "the page (nothing readable as records)"
        who = ""
        if self.member:
            who = f" for {self.member.name.split()[0]}"
        elif self.patient and self.patient.get("name"):
            who = f" for {self.patient['name']} (who is this?)"
        where = ", ".join(x for x in (self.organization, None) if x)
        portal = VENDOR_NAMES.get(self.vendor or "", self.vendor or "")
        place = f", {where} ({portal})" if where else (f" ({portal})" if portal else "")
        verb = "Already saved:" if self.duplicate else "Saved"
        return f"{verb} {what}{who}{place}"
