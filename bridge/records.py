"""Pydantic models of the record contract (docs/record-contract.md).

Every parser emits a `ParseResult`; the vault, the family model, the dashboard and the exports all
read these models. The contract is binding: fields may be added here, none renamed or dropped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from bridge.vendors import VENDORS

if TYPE_CHECKING:
    Vendor = str
else:
    # Derived from bridge/vendors.py, so a portal added there is a valid `vendor` here (a hand-kept copy
    # that missed it made every page of that portal fall back to generic, silently).
    Vendor = Literal[VENDORS]
PageKind = Literal[
    "test_result",
    "test_result_list",
    "note",
    "note_list",
    "message_thread",
    "message_list",
    "visit",
    "visit_list",
    "appointment_list",
    "medication_list",
    "immunization_list",
    "allergy_list",
    "problem_list",
    "billing",
    "health_summary",
    "unknown",
]
RecordKind = Literal[
    "test_result",
    "note",
    "message",
    "visit",
    "appointment",
    "medication",
    "immunization",
    "allergy",
    "problem",
    "bill",
    "document",
]
RECORD_KINDS: tuple[str, ...] = RecordKind.__args__  # type: ignore[attr-defined]
Flag = Literal["high", "low", "abnormal", "critical"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Patient(_Model):
    name: str | None = None
    dob: str | None = None


class Component(_Model):
    name: str
    value: str | None = None
    value_num: float | None = None
    unit: str | None = None
    ref_range: str | None = None
    ref_low: float | None = None
    ref_high: float | None = None
    flag: Flag | None = None


class _Record(_Model):
    title: str | None = None
    occurred_at: str | None = None


class TestResult(_Record):
    kind: Literal["test_result"] = "test_result"
    category: Literal["lab", "imaging", "pathology", "other"] | None = None
    status: Literal["final", "preliminary", "pending", "corrected"] | None = None
    resulted_at: str | None = None
    ordered_by: str | None = None
    performing_lab: str | None = None
    components: list[Component] = Field(default_factory=list)
    narrative: str | None = None
    comments: str | None = None


class Note(_Record):
    kind: Literal["note"] = "note"
    author: str | None = None
    author_role: str | None = None
    department: str | None = None
    text: str | None = None


class Message(_Record):
    kind: Literal["message"] = "message"
    thread_subject: str | None = None
    sender: str | None = None
    recipients: list[str] = Field(default_factory=list)
    body: str | None = None
    direction: Literal["to_patient", "from_patient"] | None = None


class Visit(_Record):
    kind: Literal["visit"] = "visit"
    visit_type: str | None = None
    provider: str | None = None
    department: str | None = None
    location: str | None = None
    reason: str | None = None
    diagnoses: list[str] = Field(default_factory=list)
    summary_text: str | None = None


class Appointment(_Record):
    kind: Literal["appointment"] = "appointment"
    visit_type: str | None = None
    provider: str | None = None
    department: str | None = None
    location: str | None = None
    status: Literal["scheduled", "cancelled", "completed", "requested"] | None = None
    instructions: str | None = None


class Medication(_Record):
    kind: Literal["medication"] = "medication"
    instructions: str | None = None
    prescriber: str | None = None
    status: Literal["active", "discontinued"] | None = None
    quantity: str | None = None
    refills_remaining: int | None = None
    pharmacy: str | None = None


class Immunization(_Record):
    kind: Literal["immunization"] = "immunization"


class Allergy(_Record):
    kind: Literal["allergy"] = "allergy"
    reaction: str | None = None
    severity: str | None = None


class Problem(_Record):
    kind: Literal["problem"] = "problem"
    status: str | None = None


class Bill(_Record):
    kind: Literal["bill"] = "bill"
    amount_due: float | None = None
    account: str | None = None
    due_on: str | None = None


class Document(_Record):
    kind: Literal["document"] = "document"
    text: str | None = None


Record = Annotated[
    TestResult
    | Note
    | Message
    | Visit
    | Appointment
    | Medication
    | Immunization
    | Allergy
    | Problem
    | Bill
    | Document,
    Field(discriminator="kind"),
]


class ParseResult(_Model):
    vendor: Vendor
    page_kind: PageKind
    patient: Patient | None = None
    organization: str | None = None
    records: list[Record] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)

    def to_contract(self) -> dict[str, object]:
        """The JSON object `kinchart parse` prints: every contract field present, nulls included."""
        return self.model_dump(mode="json")
