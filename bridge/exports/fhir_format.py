"""`fhir`: one FHIR R4 Bundle (type `collection`, JSON), built and validated with the `fhir.resources`
models (their R4B package, whose resources used here are R4's).

Resources: a Patient per member; an Organization per source health system; per timeline entry:

| kind | resource(s) |
| --- | --- |
| test_result | DiagnosticReport + one Observation per component (LOINC where certain, see loinc.py) |
| note, document | DocumentReference (the text as a text/plain attachment) |
| message | Communication |
| visit | Encounter |
| appointment | Appointment |
| medication | MedicationStatement |
| immunization | Immunization |
| allergy | AllergyIntolerance |
| problem | Condition |

(bills have no resource here: use the json or csv export.) A Provenance per source capture targets
every resource that capture showed, with the source Organization as its agent and the capture (id and
page address) as its entity. Ids are uuid5 of the entry id, so an export is reproducible and every
reference is a `urn:uuid:` fullUrl inside the bundle.

Times: FHIR wants a zone on every time. The portals mostly show local wall time without one; such a
time is written with this computer's UTC offset for that date; a date alone stays a date.

Validation: every resource is validated against its `fhir.resources` model before it is written (see
fhir_validate.py: a full model validation per resource shape, plus each value against the model's own
primitive type); the JSON written is the very dict that was validated, streamed (no whole-bundle model
in memory).
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import IO, Any

import orjson
from fhir.resources.R4B.allergyintolerance import AllergyIntolerance
from fhir.resources.R4B.appointment import Appointment
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.communication import Communication
from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.diagnosticreport import DiagnosticReport
from fhir.resources.R4B.documentreference import DocumentReference
from fhir.resources.R4B.encounter import Encounter
from fhir.resources.R4B.immunization import Immunization
from fhir.resources.R4B.medicationstatement import MedicationStatement
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.organization import Organization
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.provenance import Provenance
from fhir.resources.R4B.reference import Reference

from bridge.family import Entry, Family, Member

from .common import ExportOptions, Progress, chosen_members, entries, s
from .fhir_validate import ShapeValidator
from .loinc import LOINC_SYSTEM, loinc_for

NS = uuid.UUID("5b0c1e54-8f0e-4b8e-9a53-6b1f3c2d7e10")  # Kinchart's uuid5 namespace for FHIR ids
CAPTURE_SYSTEM = "urn:kinchart:capture"
ENTRY_SYSTEM = "urn:kinchart:entry"
MEMBER_SYSTEM = "urn:kinchart:member"
V2_0074 = "http://terminology.hl7.org/CodeSystem/v2-0074"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
PROVENANCE_AGENT = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"

RESULT_STATUS = {
    "final": "final",
    "preliminary": "preliminary",
    "pending": "registered",
    "corrected": "corrected",
}
FLAGS = {
    "high": ("H", "High"),
    "low": ("L", "Low"),
    "abnormal": ("A", "Abnormal"),
    "critical": ("AA", "Critical abnormal"),
}
APPT_STATUS = {
    "scheduled": "booked",
    "requested": "proposed",
    "cancelled": "cancelled",
    "completed": "fulfilled",
}
MED_STATUS = {"active": "active", "discontinued": "stopped"}
SEVERITY = {"mild": "mild", "moderate": "moderate", "severe": "severe"}
CLINICAL = {
    "active": "active",
    "resolved": "resolved",
    "inactive": "inactive",
    "remission": "remission",
    "recurrence": "recurrence",
    "relapse": "relapse",
}
MODELS: dict[str, Any] = {
    m.__name__: m
    for m in (
        AllergyIntolerance,
        Appointment,
        Communication,
        Condition,
        DiagnosticReport,
        DocumentReference,
        Encounter,
        Immunization,
        MedicationStatement,
        Observation,
        Organization,
        Patient,
        Provenance,
    )
}
SKIPPED_KINDS = ("bill",)

Resource = dict[str, Any]
Made = list[tuple[str, Resource]]


def fid(*parts: str) -> str:
    """uuid5(NS, parts joined by U+001F), formatted directly (uuid.UUID is slow in a loop)."""
    h = bytearray(hashlib.sha1(NS.bytes + "\x1f".join(parts).encode(), usedforsecurity=False).digest()[:16])
    h[6] = (h[6] & 0x0F) | 0x50
    h[8] = (h[8] & 0x3F) | 0x80
    x = h.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


def urn(id_: str) -> str:
    return f"urn:uuid:{id_}"


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def resource(rtype: str, rid: str, fields: dict[str, Any]) -> Resource:
    """A resource dict without the empty elements (FHIR forbids empty values)."""
    data: Resource = {"resourceType": rtype, "id": rid}
    for k, v in fields.items():
        if v is None or v == [] or v == "" or v == {}:
            continue
        data[k] = v
    return data


class FhirWriter:
    """Turns timeline entries into validated bundle resources, one entry at a time."""

    def __init__(self, members: list[Member], strict: bool = False) -> None:
        self.validator = ShapeValidator(strict=strict)
        self.patients = {m.id: fid("patient", m.id) for m in members}
        self.orgs: dict[str, str] = {}
        self.org_names: dict[str, str] = {}
        self.targets: dict[str, list[str]] = {}  # capture id -> resource urns
        self.capture_info: dict[str, tuple[str | None, str | None, str | None]] = {}
        self._concepts: dict[tuple[Any, ...], dict[str, Any]] = {}
        self._times: dict[str, str | None] = {}
        self._org_refs: dict[str, dict[str, Any]] = {}
        self.subjects = {mid: self.ref(urn(pid)) for mid, pid in self.patients.items()}
        for ref in self.subjects.values():
            self.validator.pin(ref, Reference)

    def check(self, res: Resource) -> Resource:
        self.validator.validate(MODELS[res["resourceType"]], res)
        return res

    # ------------------------------------------------------------------ elements

    def concept(self, text: str | None, *codings: tuple[str, str, str]) -> dict[str, Any]:
        key = (text, codings)
        hit = self._concepts.get(key)
        if hit is None:
            hit = {}
            if codings:
                hit["coding"] = [{"system": sy, "code": c, "display": d} for sy, c, d in codings]
            if text:
                hit["text"] = text
            if len(self._concepts) < 100_000:
                self._concepts[key] = hit
                self.validator.pin(hit, CodeableConcept)
        return hit

    @staticmethod
    def ref(reference: str | None = None, display: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if reference:
            out["reference"] = reference
        if display:
            out["display"] = display
        return out

    def when(self, iso: str | None) -> str | None:
        """A FHIR dateTime: a date stays a date; a time gets a zone (this computer's, where the portal
        stated none)."""
        if not iso:
            return None
        hit = self._times.get(iso, "")
        if hit != "":
            return hit
        out: str | None
        try:
            if len(iso) == 10:
                out = date.fromisoformat(iso).isoformat()
            else:
                dt = datetime.fromisoformat(iso.replace("Z", "+00:00"))
                if dt.tzinfo is None:
                    dt = dt.astimezone()
                out = dt.isoformat(timespec="seconds")
        except ValueError:
            out = None
        if len(self._times) < 500_000:
            self._times[iso] = out
        return out

    def instant(self, iso: str | None) -> str | None:
        """A FHIR instant (a time with a zone), or None for a date alone."""
        w = self.when(iso)
        return w if w and len(w) > 10 else None

    def org_ref(self, name: str | None) -> dict[str, Any] | None:
        if not name:
            return None
        key = " ".join(name.split()).casefold()
        if key not in self.orgs:
            self.orgs[key] = fid("organization", key)
            self.org_names[key] = name
            self._org_refs[key] = self.ref(urn(self.orgs[key]), name)
            self.validator.pin(self._org_refs[key], Reference)
        return self._org_refs[key]

    @staticmethod
    def ident(e: Entry) -> list[dict[str, Any]]:
        return [{"system": ENTRY_SYSTEM, "value": e.id}]

    # ------------------------------------------------------------------ resources

    def patient(self, m: Member) -> Resource:
        return self.check(
            resource(
                "Patient",
                self.patients[m.id],
                {
                    "identifier": [{"system": MEMBER_SYSTEM, "value": m.id}],
                    "name": [{"text": m.name}],
                    "birthDate": m.dob,
                },
            )
        )

    def organizations(self) -> Iterable[tuple[str, Resource]]:
        for key, oid in self.orgs.items():
            yield oid, self.check(resource("Organization", oid, {"name": self.org_names[key]}))

    def provenances(self) -> Iterable[tuple[str, Resource]]:
        now = datetime.now(UTC).isoformat(timespec="seconds")
        agent_type = self.concept("Source health system", (PROVENANCE_AGENT, "author", "Author"))
        for capture_id, targets in self.targets.items():
            org, url, captured_at = self.capture_info[capture_id]
            who = self.org_ref(org) or self.ref(None, "unknown source")
            pid = fid("provenance", capture_id)
            yield (
                pid,
                self.check(
                    resource(
                        "Provenance",
                        pid,
                        {
                            "target": [{"reference": t} for t in targets],
                            "recorded": self.instant(captured_at) or now,
                            "agent": [{"type": agent_type, "who": who}],
                            "entity": [
                                {
                                    "role": "source",
                                    "what": {
                                        "identifier": {"system": CAPTURE_SYSTEM, "value": capture_id},
                                        "display": url or capture_id,
                                    },
                                }
                            ],
                        },
                    )
                ),
            )

    def entry(self, e: Entry) -> Made:
        """The bundle resources of one timeline entry, as (id, resource dict), validated."""
        make = getattr(self, f"_{e.kind}", None)
        if make is None or e.member_id not in self.patients:
            return []
        out: Made = make(e, self.subjects[e.member_id])
        for _, res in out:
            self.check(res)
        for p in e.sources:
            if p.capture_id not in self.capture_info:
                self.capture_info[p.capture_id] = (p.organization, p.url, p.captured_at)
            self.targets.setdefault(p.capture_id, []).extend(urn(rid) for rid, _ in out)
        return out

    # -- one method per kind ----------------------------------------------------------

    def _test_result(self, e: Entry, subject: dict[str, Any]) -> Made:
        r = e.record
        category = s(r.get("category"))
        dr_cat = {
            "lab": self.concept("Laboratory", (V2_0074, "LAB", "Laboratory")),
            "imaging": self.concept("Radiology", (V2_0074, "RAD", "Radiology")),
        }.get(category or "")
        if dr_cat is None and category:
            dr_cat = self.concept(category.capitalize())
        obs_cat = {
            "lab": self.concept(None, (OBS_CATEGORY, "laboratory", "Laboratory")),
            "imaging": self.concept(None, (OBS_CATEGORY, "imaging", "Imaging")),
        }.get(category or "")
        status = RESULT_STATUS.get(s(r.get("status")) or "", "unknown")
        effective = self.when(e.occurred_at)
        performer = self.org_ref(e.organization)
        out: Made = []
        results: list[dict[str, Any]] = []
        for i, c in enumerate(r.get("components") or []):
            if not isinstance(c, dict) or not c.get("name"):
                continue
            name = str(c["name"])
            unit = s(c.get("unit"))
            loinc = loinc_for(name, unit, e.title)
            code = self.concept(name, (LOINC_SYSTEM, *loinc)) if loinc else self.concept(name)
            value_num = _num(c.get("value_num"))
            value = s(c.get("value"))
            quantity: dict[str, Any] | None = None
            if value_num is not None:
                quantity = {"value": value_num}
                shown = (value or "").lstrip()
                comparator = next((op for op in ("<=", ">=", "<", ">") if shown.startswith(op)), None)
                if comparator:
                    quantity["comparator"] = comparator
                if unit:
                    quantity["unit"] = unit
            flag = s(c.get("flag"))
            interp = self.concept(FLAGS[flag][1], (INTERPRETATION, *FLAGS[flag])) if flag in FLAGS else None
            rr: dict[str, Any] = {}
            low, high = _num(c.get("ref_low")), _num(c.get("ref_high"))
            if low is not None:
                rr["low"] = {"value": low, **({"unit": unit} if unit else {})}
            if high is not None:
                rr["high"] = {"value": high, **({"unit": unit} if unit else {})}
            if s(c.get("ref_range")):
                rr["text"] = s(c.get("ref_range"))
            oid = fid("observation", e.id, str(i))
            out.append(
                (
                    oid,
                    resource(
                        "Observation",
                        oid,
                        {
                            "status": status,
                            "category": [obs_cat] if obs_cat else None,
                            "code": code,
                            "subject": subject,
                            "effectiveDateTime": effective,
                            "performer": [performer] if performer else None,
                            "valueQuantity": quantity,
                            "valueString": value if quantity is None else None,
                            "interpretation": [interp] if interp else None,
                            "referenceRange": [rr] if rr else None,
                        },
                    ),
                )
            )
            results.append({"reference": urn(oid)})
        rid = fid("diagnosticreport", e.id)
        notes = "\n\n".join(x for x in (s(r.get("narrative")), s(r.get("comments"))) if x)
        out.append(
            (
                rid,
                resource(
                    "DiagnosticReport",
                    rid,
                    {
                        "identifier": self.ident(e),
                        "status": status,
                        "category": [dr_cat] if dr_cat else None,
                        "code": self.concept(e.title or "Test result"),
                        "subject": subject,
                        "effectiveDateTime": effective,
                        "issued": self.instant(s(r.get("resulted_at"))),
                        "performer": [performer] if performer else None,
                        "result": results,
                        "conclusion": notes or None,
                    },
                ),
            )
        )
        return out

    def _document_reference(
        self, e: Entry, subject: dict[str, Any], text: str | None, author: str | None
    ) -> Made:
        rid = fid("documentreference", e.id)
        attachment = {
            "contentType": "text/plain; charset=utf-8",
            "data": base64.b64encode((text or "").encode("utf-8")).decode("ascii"),
            "title": e.title or "Document",
        }
        return [
            (
                rid,
                resource(
                    "DocumentReference",
                    rid,
                    {
                        "identifier": self.ident(e),
                        "status": "current",
                        "type": self.concept(e.title or e.kind.capitalize()),
                        "subject": subject,
                        "date": self.instant(e.occurred_at),
                        "description": e.title,
                        "author": [self.ref(None, author)] if author else None,
                        "custodian": self.org_ref(e.organization),
                        "content": [{"attachment": attachment}],
                    },
                ),
            )
        ]

    def _note(self, e: Entry, subject: dict[str, Any]) -> Made:
        return self._document_reference(e, subject, s(e.record.get("text")), s(e.record.get("author")))

    def _document(self, e: Entry, subject: dict[str, Any]) -> Made:
        return self._document_reference(e, subject, s(e.record.get("text")), None)

    def _message(self, e: Entry, subject: dict[str, Any]) -> Made:
        r = e.record
        sender = s(r.get("sender"))
        recipients = [self.ref(None, str(x)) for x in r.get("recipients") or [] if x and str(x).strip()]
        direction = r.get("direction")
        if direction == "to_patient":
            recipients = [subject, *recipients]
        body = s(r.get("body"))
        topic = s(r.get("thread_subject")) or e.title
        rid = fid("communication", e.id)
        return [
            (
                rid,
                resource(
                    "Communication",
                    rid,
                    {
                        "identifier": self.ident(e),
                        "status": "completed",
                        "subject": subject,
                        "topic": self.concept(topic) if topic else None,
                        "sent": self.when(e.occurred_at),
                        "sender": subject
                        if direction == "from_patient"
                        else (self.ref(None, sender) if sender else None),
                        "recipient": recipients,
                        "payload": [{"contentString": body}] if body else None,
                    },
                ),
            )
        ]

    def _visit(self, e: Entry, subject: dict[str, Any]) -> Made:
        r = e.record
        start = self.when(e.occurred_at)
        vtype = s(r.get("visit_type")) or e.title
        location = s(r.get("location")) or s(r.get("department"))
        rid = fid("encounter", e.id)
        return [
            (
                rid,
                resource(
                    "Encounter",
                    rid,
                    {
                        "identifier": self.ident(e),
                        "status": "finished",
                        "class": {"system": ACT_CODE, "code": "AMB", "display": "ambulatory"},
                        "type": [self.concept(vtype)] if vtype else None,
                        "subject": subject,
                        "period": {"start": start} if start else None,
                        "participant": [{"individual": {"display": s(r.get("provider"))}}]
                        if s(r.get("provider"))
                        else None,
                        "reasonCode": [self.concept(s(r.get("reason")))] if s(r.get("reason")) else None,
                        "diagnosis": [
                            {"condition": {"display": str(d)}}
                            for d in r.get("diagnoses") or []
                            if d and str(d).strip()
                        ],
                        "location": [{"location": {"display": location}}] if location else None,
                        "serviceProvider": self.org_ref(e.organization),
                    },
                ),
            )
        ]

    def _appointment(self, e: Entry, subject: dict[str, Any]) -> Made:
        r = e.record
        start = self.instant(e.occurred_at)
        participants: list[dict[str, Any]] = [{"actor": subject, "status": "accepted"}]
        if s(r.get("provider")):
            participants.append({"actor": {"display": s(r.get("provider"))}, "status": "accepted"})
        place = ", ".join(x for x in (s(r.get("location")), s(r.get("department"))) if x)
        if place:
            participants.append({"actor": {"display": place}, "status": "accepted"})
        day = self.when(e.occurred_at) if start is None else None
        vtype = s(r.get("visit_type"))
        rid = fid("appointment", e.id)
        return [
            (
                rid,
                resource(
                    "Appointment",
                    rid,
                    {
                        "identifier": self.ident(e),
                        "status": APPT_STATUS.get(s(r.get("status")) or "", "booked"),
                        "appointmentType": self.concept(vtype) if vtype else None,
                        "description": e.title,
                        "start": start,
                        "requestedPeriod": [{"start": day}] if day else None,
                        "comment": s(r.get("instructions")),
                        "participant": participants,
                    },
                ),
            )
        ]

    def _medication(self, e: Entry, subject: dict[str, Any]) -> Made:
        r = e.record
        notes = [
            f"Prescribed by {s(r.get('prescriber'))}" if s(r.get("prescriber")) else "",
            f"Quantity {s(r.get('quantity'))}" if s(r.get("quantity")) else "",
            f"Refills remaining {r.get('refills_remaining')}"
            if r.get("refills_remaining") is not None
            else "",
            f"Pharmacy {s(r.get('pharmacy'))}" if s(r.get("pharmacy")) else "",
        ]
        note = "; ".join(x for x in notes if x)
        rid = fid("medicationstatement", e.id)
        return [
            (
                rid,
                resource(
                    "MedicationStatement",
                    rid,
                    {
                        "identifier": self.ident(e),
                        "status": MED_STATUS.get(s(r.get("status")) or "", "unknown"),
                        "medicationCodeableConcept": self.concept(e.title or "Medication"),
                        "subject": subject,
                        "effectiveDateTime": self.when(e.occurred_at),
                        "informationSource": self.org_ref(e.organization),
                        "note": [{"text": note}] if note else None,
                        "dosage": [{"text": s(r.get("instructions"))}] if s(r.get("instructions")) else None,
                    },
                ),
            )
        ]

    def _immunization(self, e: Entry, subject: dict[str, Any]) -> Made:
        when = self.when(e.occurred_at)
        rid = fid("immunization", e.id)
        return [
            (
                rid,
                resource(
                    "Immunization",
                    rid,
                    {
                        "identifier": self.ident(e),
                        "status": "completed",
                        "vaccineCode": self.concept(e.title or "Vaccine"),
                        "patient": subject,
                        "occurrenceDateTime": when,
                        "occurrenceString": None if when else "date not shown",
                    },
                ),
            )
        ]

    def _allergy(self, e: Entry, subject: dict[str, Any]) -> Made:
        r = e.record
        shown = s(r.get("severity"))
        severity = SEVERITY.get((shown or "").strip().lower())
        reaction: dict[str, Any] | None = None
        if s(r.get("reaction")):
            reaction = {"manifestation": [self.concept(s(r.get("reaction")))]}
            if severity:
                reaction["severity"] = severity
        note = f"Severity: {shown}" if shown and not severity else None
        rid = fid("allergyintolerance", e.id)
        return [
            (
                rid,
                resource(
                    "AllergyIntolerance",
                    rid,
                    {
                        "identifier": self.ident(e),
                        "code": self.concept(e.title or "Allergy"),
                        "patient": subject,
                        "recordedDate": self.when(e.occurred_at),
                        "reaction": [reaction] if reaction else None,
                        "note": [{"text": note}] if note else None,
                    },
                ),
            )
        ]

    def _problem(self, e: Entry, subject: dict[str, Any]) -> Made:
        shown = s(e.record.get("status"))
        status = CLINICAL.get((shown or "").strip().lower())
        rid = fid("condition", e.id)
        return [
            (
                rid,
                resource(
                    "Condition",
                    rid,
                    {
                        "identifier": self.ident(e),
                        "clinicalStatus": self.concept(
                            None, (CONDITION_CLINICAL, status, status.capitalize())
                        )
                        if status
                        else None,
                        "category": [
                            self.concept(None, (CONDITION_CATEGORY, "problem-list-item", "Problem List Item"))
                        ],
                        "code": self.concept(e.title or "Problem"),
                        "subject": subject,
                        "recordedDate": self.when(e.occurred_at),
                        "note": [{"text": f"Status: {shown}"}] if shown and not status else None,
                    },
                ),
            )
        ]


def write(
    family: Family,
    opts: ExportOptions,
    out: IO[bytes],
    progress: Progress | None = None,
    strict: bool = False,
) -> int:
    """Write the bundle; return how many resources. `strict`: validate every resource in full."""
    members = chosen_members(family, opts)
    w = FhirWriter(members, strict=strict)
    bundle_id = str(uuid.uuid4())
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    shell = {
        "resourceType": "Bundle",
        "id": bundle_id,
        "type": "collection",
        "timestamp": stamp,
        "identifier": {"system": "urn:kinchart:export", "value": bundle_id},
    }
    Bundle.model_validate(shell)
    out.write(json.dumps(shell, ensure_ascii=False)[:-1].encode() + b', "entry": [')
    n = 0

    def put(rid: str, res: Resource) -> None:
        nonlocal n
        out.write(
            (b",\n" if n else b"\n")
            + b'{"fullUrl":"urn:uuid:'
            + rid.encode()
            + b'","resource":'
            + orjson.dumps(res)
            + b"}"
        )
        n += 1

    for m in members:
        put(w.patients[m.id], w.patient(m))
    done = 0
    for e in entries(family, opts):
        for rid, res in w.entry(e):
            put(rid, res)
        done += 1
        if progress is not None and done % 1000 == 0:
            progress(done, 0)
    for org, _, _ in w.capture_info.values():  # every source system is an Organization in the bundle
        w.org_ref(org)
    for rid, res in w.organizations():
        put(rid, res)
    for rid, res in w.provenances():
        put(rid, res)
    out.write(b"\n]}\n")
    if progress is not None:
        progress(done, done)
    return n
