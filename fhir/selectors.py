"""Reads for the FHIR shell: each queryset scoped to the user's clinics, with its joins decided here.

Another clinic's rows are never in these querysets, so a read of one answers 404 and a search never finds one.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from fhir import codes
from scheduler.models import Clinic, DosingWindow, Patient, Plan
from scheduler.permissions import clinic_ids_for, scope_to_clinics
from scheduler.rules import INJECTIONS
from visits.models import Visit


def clinics(user: Any) -> QuerySet[Clinic]:
    return scope_to_clinics(Clinic.objects.order_by("id"), user, field="pk")


def patients(user: Any) -> QuerySet[Patient]:
    return scope_to_clinics(Patient.objects.order_by("id"), user)


def plans(user: Any) -> QuerySet[Plan]:
    qs = Plan.objects.select_related("patient").order_by("id")
    return scope_to_clinics(qs, user, field="patient__clinic")


def visits(user: Any) -> QuerySet[Visit]:
    qs = Visit.objects.select_related("clinic", "plan").order_by("date", "start", "id")
    return scope_to_clinics(qs, user)


def administrations(user: Any) -> QuerySet[Visit]:
    """Completed dose and injection visits: one MedicationAdministration each."""
    return visits(user).filter(status="completed", kind__in=("dose", "injection"), plan__isnull=False)


def dispenses(user: Any) -> QuerySet[Visit]:
    """Completed visits that handed out take-home doses: one MedicationDispense each."""
    return visits(user).filter(status="completed", take_home_doses__gt=0, plan__isnull=False)


def patients_by_identifier(queryset: QuerySet[Patient], raw: str) -> QuerySet[Patient]:
    """`system|value`, `|value` or `value`: the MRN, under its clinic's system or any of the user's clinics."""
    q = Q()
    for part in raw.split(","):
        system, bar, value = part.partition("|")
        if not bar:
            system, value = "", part
        if not system:
            q |= Q(mrn=value)
            continue
        clinic_id = codes.clinic_of_mrn_system(system)
        if clinic_id is not None:
            q |= Q(clinic_id=clinic_id, mrn=value)
    return queryset.filter(q) if q else queryset.none()


def patients_by_name(queryset: QuerySet[Patient], raw: str) -> QuerySet[Patient]:
    """FHIR string search: every word starts a given or family name, case-insensitive."""
    for word in raw.split():
        queryset = queryset.filter(Q(first_name__istartswith=word) | Q(last_name__istartswith=word))
    return queryset


def services_of(clinic: Clinic) -> list[str]:
    """The services a clinic's windows offer, in a stable order."""
    seen: dict[str, None] = {}
    for window in DosingWindow.objects.filter(clinic=clinic).order_by("start", "id"):
        for service in window.services:
            seen.setdefault(service, None)
    return list(seen)


def windows_offering(clinic: Clinic, service: str) -> list[DosingWindow]:
    return [w for w in DosingWindow.objects.filter(clinic=clinic).order_by("start", "end", "id")
            if service in w.services]


def visible_clinic_ids(user: Any) -> list[int]:
    ids = clinic_ids_for(user)
    return list(Clinic.objects.order_by("id").values_list("id", flat=True)) if ids is None else sorted(ids)


def active_plan_for(patient: Patient, medication: str) -> Plan | None:
    return Plan.objects.filter(patient=patient, medication=medication, status="active").order_by("id").first()


def visit_kind_for(medication: str) -> str:
    return "injection" if medication in INJECTIONS else "dose"
