"""The receipt of one capture: what was stored, what was read, for whom, in one sentence a person reads."""

from __future__ import annotations

from pydantic import BaseModel, Field

from bridge.vendors import DISPLAY_NAMES

#: How the receipt (and the dashboard) names each portal: bridge/vendors.py's list.
VENDOR_NAMES: dict[str, str] = DISPLAY_NAMES
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
    #: When the portal's parser gave up and the generic parser read the page: which parser, the exception
    #: class, and its category ("markup_changed": a parser bug to fix; "not_shown": not an error).
    #: `bridge.parsers.registry.Fallback.as_meta()`, as the capture's meta keeps it.
    fallback: dict[str, str | None] | None = None
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
