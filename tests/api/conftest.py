"""Fixtures for the HTTP-edge tests: a clinic with one of each resource, so every path has a real id."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest
import time_machine

from scheduler.models import Closure
from scheduler.timeutil import local_instant
from tests.factories import PatientFactory, PlanFactory
from visits.models import Visit

MONDAY = date(2026, 11, 2)
NOW = datetime(2026, 11, 2, 11, 0, tzinfo=UTC)  # 06:00 in New York


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def ids(clinic, frozen) -> dict[str, int]:
    """One real id per path parameter name the API uses."""
    patient = PatientFactory(clinic=clinic)
    plan = PlanFactory(patient=patient, start_date=MONDAY)
    window = clinic.windows.get(start=time(7, 0))
    visit = Visit.objects.create(
        patient=patient, clinic=clinic, plan=plan, kind="dose", date=MONDAY, window=window, source="plan",
        planned_date=MONDAY, start=local_instant(MONDAY, window.start, clinic.timezone),
        end=local_instant(MONDAY, window.end, clinic.timezone),
    )
    closure = Closure.objects.create(clinic=clinic, date=date(2026, 12, 25), reason="Christmas Day", services=[])
    return {"clinics": clinic.pk, "windows": window.pk, "closures": closure.pk, "patients": patient.pk,
            "plans": plan.pk, "visits": visit.pk}
