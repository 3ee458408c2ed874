"""FHIR Appointment writes → Dosewise's services: booking (notifications.replanning.visit_book, so the dosing
guard and capacity hold) and status changes (check-in, cancel). Refusals keep the rule's own text."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from fhir import codes, mapping, search, selectors
from fhir.http import FhirError, not_found
from notifications import replanning
from scheduler.models import SERVICES, Patient, Plan
from scheduler.timeutil import local_date
from visits import services as ledger
from visits.models import Visit

BOOKABLE_STATUSES = ("booked", "proposed", "pending")
KIND_SERVICES = ("counselling", "assessment", "callback")


@dataclass(frozen=True)
class Booking:
    patient: Patient
    kind: str
    date: date
    plan: Plan | None
    start: datetime | None


def _invalid(message: str, path: str) -> FhirError:
    return FhirError(message, expression=[path])


def _references(items: Any, path: str) -> list[str]:
    if items is None:
        return []
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise _invalid(f"{path} must be a list of objects.", path)
    return [str(i.get("reference", "")) for i in items if isinstance(i.get("reference"), str)]


def _patient_ref(body: dict[str, Any]) -> str:
    participants = body.get("participant")
    if not isinstance(participants, list) or not all(isinstance(p, dict) for p in participants):
        raise _invalid("participant: give a list with the patient, e.g. "
                       '[{"actor": {"reference": "Patient/12"}, "status": "accepted"}].', "Appointment.participant")
    refs = [p["actor"].get("reference") for p in participants if isinstance(p.get("actor"), dict)]
    patients = [r for r in refs if isinstance(r, str) and r.startswith("Patient/")]
    if len(patients) != 1:
        raise _invalid("participant: name exactly one Patient (actor.reference Patient/<id>).",
                       "Appointment.participant")
    return patients[0]


def _service_codes(body: dict[str, Any]) -> list[str]:
    concepts = body.get("serviceType") or []
    if not isinstance(concepts, list) or not all(isinstance(c, dict) for c in concepts):
        raise _invalid("serviceType must be a list of CodeableConcepts.", "Appointment.serviceType")
    found = []
    for concept in concepts:
        for coding in concept.get("coding") or []:
            if isinstance(coding, dict) and coding.get("system") in (None, codes.SERVICE):
                found.append(str(coding.get("code", "")))
    unknown = [c for c in found if c not in SERVICES]
    if unknown:
        raise _invalid(f"serviceType: unknown service {unknown[0][:40]!r}; use one of {', '.join(SERVICES)} "
                       f"(system {codes.SERVICE}).", "Appointment.serviceType")
    return found


def _instant(value: Any, path: str) -> datetime:
    bound = search.parse_bound("eq", value, path) if isinstance(value, str) and len(value) > 10 else None
    if bound is None or bound.moment is None:
        raise _invalid(f"{path}: give an instant with its offset, e.g. 2026-11-02T07:00:00-05:00.", path)
    return bound.moment


def parse_booking(body: Any, user: Any) -> Booking:
    if not isinstance(body, dict) or body.get("resourceType") != "Appointment":
        raise FhirError("The body must be an Appointment resource (resourceType Appointment).", code="structure")
    status = body.get("status", "booked")
    if status not in BOOKABLE_STATUSES:
        raise _invalid(f"status: a new Appointment is booked (status booked), not {str(status)[:20]!r}.",
                       "Appointment.status")
    patient_pk = search.id_value(_patient_ref(body), "Patient", "Appointment.participant")
    patient = selectors.patients(user).select_related("clinic").filter(pk=patient_pk or 0).first()
    if patient is None:
        raise not_found("Patient", patient_pk)
    plan = _plan(body, user)
    service = _service(body, patient, plan)
    start, day = _when(body, patient, service, user)
    if service in KIND_SERVICES:
        plan = None  # counselling, assessment and call-back visits stand apart from dosing plans
    elif plan is None:
        plan = selectors.active_plan_for(patient, service)
        if plan is None:
            raise FhirError(f"The patient has no active {mapping.service_words(service)} plan to book a visit "
                            "for; name one in basedOn (CarePlan/<id>).", code="business-rule",
                            expression=["Appointment.basedOn"])
    kind = service if plan is None else selectors.visit_kind_for(plan.medication)
    return Booking(patient=patient, kind=kind, date=day, plan=plan, start=start)


def _plan(body: dict[str, Any], user: Any) -> Plan | None:
    refs = [r for r in _references(body.get("basedOn"), "Appointment.basedOn") if r.startswith("CarePlan/")]
    if not refs:
        return None
    if len(set(refs)) > 1:
        raise _invalid("basedOn: name at most one CarePlan.", "Appointment.basedOn")
    pk = search.id_value(refs[0], "CarePlan", "Appointment.basedOn")
    plan = selectors.plans(user).filter(pk=pk or 0).first()
    if plan is None:
        raise not_found("CarePlan", pk)
    return plan


def _service(body: dict[str, Any], patient: Patient, plan: Plan | None) -> str:
    found = _service_codes(body)
    if plan is not None:
        if found and found[0] != plan.medication and found[0] not in KIND_SERVICES:
            raise _invalid(f"serviceType {found[0]!r} does not match the CarePlan's medication "
                           f"({plan.medication}).", "Appointment.serviceType")
        return found[0] if found else plan.medication
    if not found:
        raise _invalid(f"serviceType: name the service (a coding of {codes.SERVICE}, e.g. methadone or "
                       "counselling) or the plan in basedOn.", "Appointment.serviceType")
    return found[0]


def _when(body: dict[str, Any], patient: Patient, service: str, user: Any) -> tuple[datetime | None, date]:
    """The booked time: `start`, or the start of the Slot named in `slot` (its window on its date)."""
    slot_refs = _references(body.get("slot"), "Appointment.slot")
    start = _instant(body["start"], "Appointment.start") if body.get("start") is not None else None
    if slot_refs:
        slot = _slot(slot_refs[0], user)
        if slot["clinic"].pk != patient.clinic_id or slot["service"] != service:
            raise _invalid("slot: that Slot is not for this patient's clinic and this service.", "Appointment.slot")
        if start is None:
            start = slot["start"]
        return start, slot["date"]
    if start is None:
        raise _invalid("Give start (an instant inside a dosing window) or slot (Slot/<id>).", "Appointment.start")
    return start, local_date(start, patient.clinic.timezone)


def _slot(reference: str, user: Any) -> dict[str, Any]:
    from fhir import schedules  # the Slot ids live there

    found = schedules.slot_parts(reference.rpartition("/")[2], user)
    if found is None:
        raise not_found("Slot", reference.rpartition("/")[2])
    return found


def book(body: Any, user: Any) -> Visit:
    booking = parse_booking(body, user)
    return replanning.visit_book(
        patient=booking.patient, kind=booking.kind, date=booking.date, plan=booking.plan, start=booking.start,
        by=user,
    )


# --- status changes --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    status: str
    reason: str


def _reason_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if not isinstance(value, dict):
        return ""
    if isinstance(value.get("text"), str):
        return str(value["text"])
    for coding in value.get("coding") or []:
        if isinstance(coding, dict):
            return str(coding.get("display") or coding.get("code") or "")
    return ""


_PATCHABLE = {"/status": "status", "/cancelationReason": "cancelationReason", "/cancelationReason/text": "text"}


def parse_patch(body: Any) -> Change:
    """JSON Patch ([{"op": "replace", "path": "/status", "value": "checked-in"}]) or a merge patch
    ({"status": "cancelled", "cancelationReason": {"text": "..."}})."""
    if isinstance(body, list):
        fields: dict[str, Any] = {}
        for op in body:
            if not isinstance(op, dict) or op.get("op") not in ("replace", "add", "test"):
                raise FhirError("JSON Patch: only replace/add of /status and /cancelationReason are supported.")
            if op["op"] == "test":
                continue
            name = _PATCHABLE.get(str(op.get("path")))
            if name is None:
                raise FhirError(f"JSON Patch: {str(op.get('path'))[:60]!r} cannot change here; only /status and "
                                "/cancelationReason may.", expression=["Appointment.status"])
            fields[name] = op.get("value")
        return Change(str(fields.get("status", "")), _reason_text(fields.get("cancelationReason", fields.get("text"))))
    if not isinstance(body, dict):
        raise FhirError("Send a JSON Patch list or a merge patch object.", code="structure")
    extra = set(body) - {"resourceType", "id", "status", "cancelationReason", "meta"}
    if extra:
        raise FhirError(f"Only status and cancelationReason may change here, not {', '.join(sorted(extra))}.",
                        expression=[f"Appointment.{sorted(extra)[0]}"])
    return Change(str(body.get("status", "")), _reason_text(body.get("cancelationReason")))


def parse_put(body: Any, visit: Visit) -> Change:
    """A whole Appointment: its status (and cancelationReason) change; its time may not (reschedule in Dosewise)."""
    if not isinstance(body, dict) or body.get("resourceType") != "Appointment":
        raise FhirError("The body must be an Appointment resource.", code="structure")
    if str(body.get("id", "")) != str(visit.pk):
        raise FhirError(f"The body's id ({str(body.get('id'))[:20]}) must be the id in the URL ({visit.pk}).",
                        expression=["Appointment.id"])
    current_start = mapping.visit_period(visit)[0]
    if body.get("start") is not None and _instant(body["start"], "Appointment.start") != current_start:
        raise FhirError("An Appointment's time does not change by PUT: Dosewise reschedules visits "
                        "(POST /api/v1/visits/{id}/reschedule/) so capacity and the dosing guard apply.",
                        code="not-supported", expression=["Appointment.start"])
    return Change(str(body.get("status", "")), _reason_text(body.get("cancelationReason")))


FULFIL_REFUSAL = (
    "A dose or injection is completed in Dosewise by a nurse or clinician (take-home decisions and the dosing "
    "guard); the FHIR interface does not complete visits."
)


def change_status(visit: Visit, change: Change, user: Any) -> Visit:
    target = change.status
    if target == mapping.APPOINTMENT_STATUS[visit.status] and target != "cancelled":
        return visit  # already there
    if target in ("checked-in", "arrived"):
        return ledger.visit_check_in(visit=visit, by=user)
    if target == "cancelled":
        if visit.status in ("cancelled", "excused"):
            return visit
        if not change.reason.strip():
            raise FhirError("Cancelling needs a reason: give cancelationReason.text.",
                            code="required", expression=["Appointment.cancelationReason"])
        return replanning.visit_cancel(visit=visit, reason=change.reason, by=user)
    if target == "noshow":
        return ledger.visit_mark_missed(visit=visit, by=user)
    if target == "fulfilled":
        raise FhirError(FULFIL_REFUSAL, code="not-supported", expression=["Appointment.status"])
    raise FhirError(
        f"status: {target[:30]!r} cannot be set here; an Appointment may become checked-in, cancelled or noshow.",
        expression=["Appointment.status"],
    )
