"""Random drug screens and random call-backs (issue #15; DOMAIN §1).

Drug screens: 42 CFR 8.12(f)(6) (2024) asks for at least 8 random drug tests a year per patient. At check-in the
pure picker (visits.screens) decides by surprise whether the visit is a screen; nurses and clinicians record the
result. Call-backs [PRACTICE, DOMAIN §1]: a patient holding take-homes is called back and must come within 24 h
with all their take-home bottles; a missed call-back is marked missed by the sweep like any visit, and
`callbacks_missed` lists those for the escalations page (the sweep's ladder evaluates dose and injection visits
only, and is left as it is).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, Min, Q, QuerySet
from django.utils import timezone

from scheduler.errors import RuleViolation, StateConflict
from scheduler.models import Clinic, Patient
from scheduler.permissions import CLINICAL, DOSING, has_role
from scheduler.selectors import rules_for_clinic
from scheduler.timeutil import local_date
from visits import screens
from visits.models import DRUG_SCREEN_RESULT_CHOICES, OPEN_STATUSES, Visit
from visits.services import _locked, _require_status, _swap

RESULTS = frozenset(value for value, _ in DRUG_SCREEN_RESULT_CHOICES)
YEAR = timedelta(days=screens.YEAR_DAYS)


# --- drug screens ----------------------------------------------------------------------------------


def _program_start(patient_id: int) -> date | None:
    """Day 1 of the patient's treatment: the earliest treatment start among their plans."""
    return Patient.objects.filter(pk=patient_id).aggregate(start=Min("plans__treatment_start"))["start"]


def _year_end(start: date, today: date) -> date:
    """The first day after the patient's current program year (years counted from day 1)."""
    years = (today - start).days // screens.YEAR_DAYS + 1
    return start + timedelta(days=screens.YEAR_DAYS * years)


def screens_in_last_year(*, patient_ids: list[int], today: date) -> dict[int, int]:
    """Per patient, the visits drawn for a drug screen in the 365 days up to and including `today`."""
    rows = (
        Visit.objects.filter(patient_id__in=patient_ids, drug_screen=True, date__gt=today - YEAR, date__lte=today)
        .values("patient_id")
        .annotate(n=Count("id"))
    )
    return {row["patient_id"]: row["n"] for row in rows}


def drug_screen_draw(*, visit: Visit, rng: random.Random | None = None) -> Visit:
    """At check-in: mark the visit a drug screen when the draw says so. Called by visits.services.visit_check_in
    inside its transaction, the visit just checked in. The draw is unguessable (SystemRandom) unless a test
    passes a seeded Random. At most one screen a day."""
    today = visit.date
    if Visit.objects.filter(patient_id=visit.patient_id, date=today, drug_screen=True).exists():
        return visit
    start = _program_start(visit.patient_id) or today
    days_left = (
        Visit.objects.filter(
            patient_id=visit.patient_id, status__in=OPEN_STATUSES, date__gte=today, date__lt=_year_end(start, today)
        )
        .values("date")
        .distinct()
        .count()
    )
    done = screens_in_last_year(patient_ids=[visit.patient_id], today=today).get(visit.patient_id, 0)
    target = rules_for_clinic(visit.clinic).drug_screens_per_year
    draw = screens.screen_draw(
        screens_done=done, visit_days_left=max(days_left, 1), target=target, rng=rng or random.SystemRandom()
    )
    if not draw.screen:
        return visit
    # No audit entry of its own: the draw is part of the check-in just logged, and only this draw sets the flag;
    # the result a person records is audited (drug_screen_record).
    if Visit.objects.filter(pk=visit.pk, status="checked_in").update(drug_screen=True) == 1:
        visit.drug_screen = True
    return visit


@transaction.atomic
def drug_screen_record(*, visit: Visit, result: str, by: Any) -> Visit:
    """A nurse or clinician records the screen's result (audited). Only a visit drawn for a screen, checked in or
    completed, and once: a result already recorded is not overwritten."""
    if not has_role(by, DOSING):
        raise PermissionDenied("Only nurses, clinicians and admins record drug screen results.")
    if result not in RESULTS:
        raise RuleViolation(f"result: one of {', '.join(sorted(RESULTS))}, got {result!r}.", "result")
    visit = _locked(visit)
    if not visit.drug_screen:
        raise StateConflict("This visit was not drawn for a drug screen.")
    _require_status(visit, ["checked_in", "completed"])
    if visit.drug_screen_result:
        raise StateConflict(f"This drug screen's result is already recorded ({visit.drug_screen_result}).")
    return _swap(visit, ["checked_in", "completed"], by, drug_screen_result=result)


@dataclass(frozen=True)
class ScreenPace:
    patient: Patient
    screens: int
    expected: float
    days_in_program: int


def screens_due(*, clinic: Clinic, today: date | None = None) -> list[ScreenPace]:
    """Patients of the clinic with an active plan who are behind the yearly pace: fewer screens in the last 365
    days than target × days-in-program / 365 (a year at most). For a report; two queries."""
    today = today or local_date(timezone.now(), clinic.timezone)
    target = rules_for_clinic(clinic).drug_screens_per_year
    patients = list(
        Patient.objects.filter(clinic=clinic, plans__status="active")
        .annotate(program_start=Min("plans__treatment_start"))
        .order_by("last_name", "first_name", "id")
        .distinct()
    )
    counts = screens_in_last_year(patient_ids=[p.pk for p in patients], today=today)
    due = []
    for patient in patients:
        days = (today - patient.program_start).days + 1  # type: ignore[attr-defined]
        done = counts.get(patient.pk, 0)
        if screens.behind_pace(screens_done=done, days_in_program=days, target=target):
            expected = screens.screens_expected(days_in_program=days, target=target)
            due.append(ScreenPace(patient, done, expected, days))
    return due


# --- call-backs -------------------------------------------------------------------------------------


def holds_take_homes(*, patient: Patient, today: date) -> bool:
    """A completed dose covers a day after today: the patient has take-home bottles at home now."""
    return Visit.objects.filter(patient=patient, status="completed", covered_through__gt=today).exists()


def callback_check(*, patient: Patient, by: Any, now: datetime) -> None:
    """Whether a clinician may call this patient back now [PRACTICE, DOMAIN §1]: only a clinician or admin, only a
    patient holding take-homes, and not one already called back (an open call-back visit). The booking itself is
    notifications.replanning.callback_start (the orchestrator, which re-plans reminders with it)."""
    if not has_role(by, CLINICAL):
        raise PermissionDenied("Only clinicians and admins start a call-back.")
    today = local_date(now, patient.clinic.timezone)
    if not holds_take_homes(patient=patient, today=today):
        # A conflict with the patient's state (no take-homes held now), not bad input: 409.
        raise StateConflict("This patient holds no take-home doses now; a call-back is for take-home holders.")
    if Visit.objects.filter(patient=patient, kind="callback", status__in=OPEN_STATUSES, date__gte=today).exists():
        raise StateConflict("This patient already has an open call-back visit.")


def callbacks_missed(clinic: Clinic) -> QuerySet[Visit]:
    """Call-back visits the sweep marked missed, newest first, for the escalations page."""
    return (
        Visit.objects.filter(Q(clinic=clinic) & Q(kind="callback", status="missed"))
        .select_related("patient")
        .order_by("-date", "-id")
    )
