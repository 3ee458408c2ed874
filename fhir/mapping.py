"""Dosewise rows → FHIR R4 resources, as plain dicts (no FHIR library at run time; the tests validate every
shape against the fhir.resources R4B models).

Identifiers and codes that are Dosewise's own live under `urn:dosewise:` (codes.py). Patient-bearing resources
carry 42 CFR Part 2 security labels so a receiving system keeps the re-disclosure restriction.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fhir import codes
from scheduler.engine import dose_every_days
from scheduler.models import MEDICATION_CHOICES, Clinic, Patient, Plan
from scheduler.rules import INJECTIONS
from scheduler.timeutil import local_instant
from visits.models import KIND_CHOICES, Visit

MEDICATION_WORDS = dict(MEDICATION_CHOICES)
KIND_WORDS = dict(KIND_CHOICES)
WEEKDAY_CODES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEKDAY_WORDS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

# 42 CFR Part 2 (2024 rule, 89 FR 12472): records of a Part 2 program may not be re-disclosed without the
# patient's consent. HL7's Part 2 labelling: the policy (42CFRPart2), the confidentiality (R, restricted) and
# the refrain (NORDSCLCD: no re-disclosure without a consent directive).
SECURITY_LABELS: list[dict[str, str]] = [
    {"system": codes.ACT_CODE, "code": "42CFRPart2", "display": "42 CFR Part2"},
    {"system": codes.CONFIDENTIALITY, "code": "R", "display": "restricted"},
    {"system": codes.ACT_CODE, "code": "NORDSCLCD", "display": "no redisclosure without consent directive"},
]

# Dosewise visit status → FHIR Appointment.status (issue #18).
APPOINTMENT_STATUS = {
    "scheduled": "booked",
    "checked_in": "checked-in",
    "completed": "fulfilled",
    "missed": "noshow",
    "cancelled": "cancelled",
    "excused": "cancelled",
}
CAREPLAN_STATUS = {"active": "active", "paused": "on-hold", "ended": "completed"}


def instant(value: datetime | None, tz: str) -> str | None:
    """An instant with the clinic's UTC offset (FHIR `instant`/`dateTime`)."""
    return value.astimezone(ZoneInfo(tz)).isoformat() if value is not None else None


def _meta(updated: datetime | None, *, labelled: bool = True) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    if updated is not None:
        meta["lastUpdated"] = updated.isoformat()
    if labelled:
        meta["security"] = [dict(label) for label in SECURITY_LABELS]
    return meta


def ref(resource_type: str, pk: Any, display: str | None = None) -> dict[str, str]:
    out = {"reference": f"{resource_type}/{pk}"}
    if display:
        out["display"] = display
    return out


def service_words(service: str) -> str:
    return MEDICATION_WORDS.get(service) or KIND_WORDS.get(service) or service.replace("_", " ").capitalize()


def service_concept(service: str) -> dict[str, Any]:
    """The service a window offers: a medication or a visit kind, in clinic words."""
    words = service_words(service)
    return {"coding": [{"system": codes.SERVICE, "code": service, "display": words}], "text": words}


def medication_concept(medication: str) -> dict[str, Any]:
    words = MEDICATION_WORDS.get(medication, medication)
    return {"coding": [{"system": codes.MEDICATION, "code": medication, "display": words}], "text": words}


def visit_service(visit: Visit) -> str:
    """The medication for dose and injection visits, else the visit kind (what the window offered)."""
    if visit.kind in ("dose", "injection") and visit.plan is not None:
        return visit.plan.medication
    return visit.kind


# --- Patient and Location ---------------------------------------------------------------------------


def patient(p: Patient, *, telecom: bool) -> dict[str, Any]:
    """`telecom` only for roles that may see phone numbers (not managers)."""
    out: dict[str, Any] = {
        "resourceType": "Patient",
        "id": str(p.pk),
        "meta": _meta(p.updated),
        "identifier": [
            {
                "use": "usual",
                "type": {"coding": [{"system": codes.V2_0203, "code": "MR", "display": "Medical record number"}]},
                "system": codes.mrn_system(p.clinic_id),
                "value": p.mrn,
            }
        ],
        "active": True,
        "name": [{"use": "official", "family": p.last_name, "given": [p.first_name]}],
        "communication": [{"language": {"coding": [{"system": codes.BCP47, "code": p.language}]}, "preferred": True}],
    }
    if p.date_of_birth is not None:
        out["birthDate"] = p.date_of_birth.isoformat()
    if telecom and p.phone:
        out["telecom"] = [{"system": "sms", "value": p.phone, "use": "mobile"}]
    return out


def location(clinic: Clinic) -> dict[str, Any]:
    out: dict[str, Any] = {
        "resourceType": "Location",
        "id": str(clinic.pk),
        "meta": _meta(clinic.updated, labelled=False),
        "status": "active",
        "name": clinic.name,
        "mode": "instance",
        "address": {"country": clinic.country, **({"state": clinic.subdivision} if clinic.subdivision else {})},
    }
    if clinic.phone:
        out["telecom"] = [{"system": "phone", "value": clinic.phone, "use": "work"}]
    return out


# --- Appointment --------------------------------------------------------------------------------------


def visit_period(visit: Visit) -> tuple[datetime, datetime]:
    """The visit's instants; a visit without a booked time spans its clinic-local day."""
    if visit.start is not None and visit.end is not None:
        return visit.start, visit.end
    tz = visit.clinic.timezone
    begin = local_instant(visit.date, time(0, 0), tz)
    return begin, local_instant(visit.date + timedelta(days=1), time(0, 0), tz)


def appointment(visit: Visit) -> dict[str, Any]:
    tz = visit.clinic.timezone
    service = visit_service(visit)
    start, end = visit_period(visit)
    out: dict[str, Any] = {
        "resourceType": "Appointment",
        "id": str(visit.pk),
        "meta": _meta(visit.updated),
        "status": APPOINTMENT_STATUS[visit.status],
        "serviceType": [service_concept(service)],
        "description": _visit_words(visit, service),
        "start": instant(start, tz),
        "end": instant(end, tz),
        "created": instant(visit.created, tz),
        "participant": [
            {"actor": ref("Patient", visit.patient_id), "required": "required", "status": "accepted"},
            {"actor": ref("Location", visit.clinic_id, visit.clinic.name), "required": "required",
             "status": "accepted"},
        ],
    }
    if visit.status in ("cancelled", "excused") and visit.status_reason:
        out["cancelationReason"] = {"text": visit.status_reason}
    if visit.window_id is not None:
        out["slot"] = [ref("Slot", slot_id(visit.window_id, visit.date, service))]
    if visit.plan_id is not None:
        # R5 lets basedOn name a CarePlan (R4 lists ServiceRequest only); supportingInformation is
        # Reference(Any) in R4, so a strict R4 reader finds the plan there too.
        out["basedOn"] = [ref("CarePlan", visit.plan_id)]
        out["supportingInformation"] = [ref("CarePlan", visit.plan_id)]
    if visit.reason:
        out["comment"] = visit.reason
    return out


def _visit_words(visit: Visit, service: str) -> str:
    if visit.kind == "dose":
        return f"{service_words(service)} dose"
    if visit.kind == "injection":
        return service_words(service)
    return KIND_WORDS.get(visit.kind, visit.kind)


# --- CarePlan ----------------------------------------------------------------------------------------------


def careplan(plan: Plan) -> dict[str, Any]:
    """A plan: its attendance pattern as the activity's timing, its dates as the period."""
    period: dict[str, str] = {"start": plan.start_date.isoformat()}
    if plan.end_date is not None:
        period["end"] = plan.end_date.isoformat()
    return {
        "resourceType": "CarePlan",
        "id": str(plan.pk),
        "meta": _meta(plan.updated),
        "status": CAREPLAN_STATUS[plan.status],
        "intent": "plan",
        "title": f"{service_words(plan.medication)} attendance plan",
        "description": pattern_words(plan),
        "subject": ref("Patient", plan.patient_id),
        "period": period,
        "created": plan.created.isoformat(),
        "activity": [
            {
                "detail": {
                    "kind": "Appointment",
                    "code": service_concept(plan.medication),
                    "status": _activity_status(plan),
                    "scheduledTiming": {"repeat": _repeat(plan)},
                    "location": ref("Location", plan.patient.clinic_id),
                    "productCodeableConcept": medication_concept(plan.medication),
                    "description": pattern_words(plan),
                }
            }
        ],
    }


def _activity_status(plan: Plan) -> str:
    return {"active": "scheduled", "paused": "on-hold", "ended": "completed"}[plan.status]


def _repeat(plan: Plan) -> dict[str, Any]:
    if plan.medication in INJECTIONS:
        return {"frequency": 1, "period": plan.interval_days or 28, "periodUnit": "d"}
    # Issue #15: alternate-day buprenorphine is one (double) dose every 2 days.
    period = dose_every_days(plan.medication, plan.interval_days)
    repeat: dict[str, Any] = {"frequency": max(plan.doses_per_day, 1), "period": period, "periodUnit": "d"}
    days = sorted(set(plan.attendance_weekdays or []))
    if days:
        repeat["dayOfWeek"] = [WEEKDAY_CODES[d] for d in days]
    return repeat


def pattern_words(plan: Plan) -> str:
    """The attendance pattern in clinic words, e.g. "Methadone: in Mon, Wed, Fri every week; take-home days between"."""
    name = service_words(plan.medication)
    if plan.medication in INJECTIONS:
        return f"{name}: one injection every {plan.interval_days or 28} days"
    days = sorted(set(plan.attendance_weekdays or []))
    weeks = "every week" if plan.attendance_every_weeks <= 1 else f"every {plan.attendance_every_weeks} weeks"
    text = f"{name}: in {', '.join(WEEKDAY_WORDS[d] for d in days) or 'no day'} {weeks}"
    if plan.doses_per_day > 1:
        text += f", {plan.doses_per_day} supervised sessions a day"
        if plan.min_interval_minutes:
            text += f" at least {plan.min_interval_minutes} minutes apart"
    if dose_every_days(plan.medication, plan.interval_days) == 2:
        text += ", a double dose every 48 hours (alternate days)"
    if len(days) < 7 or plan.attendance_every_weeks > 1:
        text += "; take-home days between" + ("" if plan.takehome_approved else " (take-homes suspended)")
    return text


# --- Schedule and Slot ---------------------------------------------------------------------------------


def schedule_id(clinic_id: int, service: str) -> str:
    # FHIR ids allow [A-Za-z0-9-.]: naltrexone_xr → naltrexone-xr.
    return f"{clinic_id}-{service.replace('_', '-')}"


def slot_id(window_id: int, day: date, service: str) -> str:
    return f"{window_id}-{day.isoformat()}-{service.replace('_', '-')}"


def schedule(clinic: Clinic, service: str) -> dict[str, Any]:
    return {
        "resourceType": "Schedule",
        "id": schedule_id(clinic.pk, service),
        "active": True,
        "serviceType": [service_concept(service)],
        "actor": [ref("Location", clinic.pk, clinic.name)],
        "comment": f"{service_words(service)} at {clinic.name}: one Slot per dosing window and date.",
    }


def slot(
    *, clinic: Clinic, service: str, window_id: int, day: date, start: datetime, end: datetime,
    capacity: int, booked: int, closure: str | None = None,
) -> dict[str, Any]:
    remaining = max(capacity - booked, 0)
    if closure is not None:
        status, comment = "busy-unavailable", f"Closed: {closure}" if closure else "Closed"
    else:
        status = "free" if remaining > 0 else "busy"
        comment = f"{remaining} of {capacity} places free ({booked} booked)"
    return {
        "resourceType": "Slot",
        "id": slot_id(window_id, day, service),
        "schedule": ref("Schedule", schedule_id(clinic.pk, service)),
        "serviceType": [service_concept(service)],
        "status": status,
        "start": instant(start, clinic.timezone),
        "end": instant(end, clinic.timezone),
        "overbooked": booked > capacity,
        "comment": comment,
    }


# --- MedicationAdministration and MedicationDispense -------------------------------------------------------


def medication_administration(visit: Visit) -> dict[str, Any]:
    """A completed dose or injection visit; `dosage.dose` is the amount given, in mg, when it was recorded."""
    tz = visit.clinic.timezone
    assert visit.plan is not None
    when = visit.completed_at or visit_period(visit)[0]
    out: dict[str, Any] = {
        "resourceType": "MedicationAdministration",
        "id": str(visit.pk),
        "meta": _meta(visit.updated),
        "status": "completed",
        "category": {"coding": [{"system": codes.MED_ADMIN_CATEGORY, "code": "outpatient"}], "text": "Observed"},
        "medicationCodeableConcept": medication_concept(visit.plan.medication),
        "subject": ref("Patient", visit.patient_id),
        "effectiveDateTime": instant(when, tz),
        "supportingInformation": [ref("Appointment", visit.pk), ref("CarePlan", visit.plan_id)],
        "dosage": {"text": _dose_words(visit), "route": _route(visit.plan.medication)},
    }
    if visit.dose_mg is not None:
        out["dosage"]["dose"] = _mg(visit.dose_mg)
    if visit.completed_by_id is not None:
        out["performer"] = [{"actor": {"display": f"Staff #{visit.completed_by_id}"}}]
    return out


def _dose_words(visit: Visit) -> str:
    assert visit.plan is not None
    words = service_words(visit.plan.medication)
    if visit.kind == "injection":
        return f"{words}, given at the clinic"
    return f"Observed {words} dose at the clinic"


def _route(medication: str) -> dict[str, Any]:
    if medication in INJECTIONS or medication == "diamorphine":
        text = "Injection (intramuscular or subcutaneous)" if medication in INJECTIONS else "Injection (supervised)"
        return {"text": text}
    return {"text": "Oral"}


def medication_dispense(visit: Visit) -> dict[str, Any]:
    """A take-home batch: the doses handed out at a completed visit, one a day for the days after it."""
    tz = visit.clinic.timezone
    assert visit.plan is not None
    doses = visit.take_home_doses
    out: dict[str, Any] = {
        "resourceType": "MedicationDispense",
        "id": str(visit.pk),
        "meta": _meta(visit.updated),
        "status": "completed",
        "medicationCodeableConcept": medication_concept(visit.plan.medication),
        "subject": ref("Patient", visit.patient_id),
        "location": ref("Location", visit.clinic_id),
        "type": {"text": "Take-home doses"},
        "quantity": {"value": doses, "unit": "dose"},
        "daysSupply": {"value": doses, "unit": "day", "system": codes.UCUM, "code": "d"},
        "whenHandedOver": instant(visit.completed_at or visit_period(visit)[0], tz),
        "supportingInformation": [ref("Appointment", visit.pk), ref("CarePlan", visit.plan_id)],
        "dosageInstruction": [
            {
                "text": f"One dose a day from {(visit.date + timedelta(days=1)).isoformat()} "
                f"to {(visit.covered_through or visit.date + timedelta(days=doses)).isoformat()}",
                "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
            }
        ],
    }
    bottles = visit.take_home_mg
    if bottles:
        # Issue #14: each bottle's own amount, one dosage line per bottle with the date it covers.
        out["dosageInstruction"] = [
            {
                "sequence": n,
                "text": f"Bottle {n} for {(visit.date + timedelta(days=n)).isoformat()}",
                "timing": {"event": [(visit.date + timedelta(days=n)).isoformat()]},
                **({"doseAndRate": [{"doseQuantity": _mg(amount)}]} if amount is not None else {}),
            }
            for n, amount in enumerate(bottles, start=1)
        ]
    elif visit.dose_mg is not None:
        # Recorded before per-bottle amounts: each bottle holds the dose given at the visit.
        out["dosageInstruction"][0]["doseAndRate"] = [{"doseQuantity": _mg(visit.dose_mg)}]
    if visit.status_reason.startswith("take-homes:"):
        out["note"] = [{"text": visit.status_reason}]
    return out


def _mg(amount: Any) -> dict[str, Any]:
    return {"value": float(amount), "unit": "mg", "system": codes.UCUM, "code": "mg"}


# --- OperationOutcome and Bundle ------------------------------------------------------------------------


def operation_outcome(
    message: str, *, code: str = "invalid", severity: str = "error", expression: list[str] | None = None
) -> dict[str, Any]:
    issue: dict[str, Any] = {"severity": severity, "code": code, "diagnostics": message}
    if expression:
        issue["expression"] = expression
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def bundle(
    *, entries: list[dict[str, Any]], total: int | None, links: list[tuple[str, str]], labelled: bool,
    timestamp: datetime,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "meta": _meta(timestamp, labelled=labelled),
        "timestamp": timestamp.isoformat(),
        "link": [{"relation": relation, "url": url} for relation, url in links],
        "entry": entries,
    }
    if total is not None:
        out["total"] = total
    if not entries:
        del out["entry"]
    return out
