"""Fixtures for the ledger tests: a frozen clock at the clinic, patients, plans and visits."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest
import time_machine

from scheduler.models import DosingWindow
from scheduler.timeutil import local_instant
from tests.factories import PatientFactory, PlanFactory
from visits.models import Visit

TZ = "America/New_York"
# Monday 2 November 2026, 06:00 in New York (EST, UTC-5): before the 07:00 dosing window opens.
MONDAY = date(2026, 11, 2)
NOW = datetime(2026, 11, 2, 11, 0, tzinfo=UTC)


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def patient(clinic):
    return PatientFactory(clinic=clinic)


@pytest.fixture
def plan(patient):
    return PlanFactory(patient=patient, medication="methadone", start_date=MONDAY)


@pytest.fixture
def oral_window(clinic) -> DosingWindow:
    return clinic.windows.get(start=time(7, 0))


@pytest.fixture
def counselling_window(clinic) -> DosingWindow:
    return clinic.windows.get(start=time(11, 0))


def make_visit(patient, *, window: DosingWindow, day: date = MONDAY, plan=None, kind: str = "dose", **fields) -> Visit:
    clinic = patient.clinic
    return Visit.objects.create(
        patient=patient, clinic=clinic, plan=plan, kind=kind, date=day, window=window,
        start=local_instant(day, window.start, clinic.timezone), end=local_instant(day, window.end, clinic.timezone),
        **fields,
    )


@pytest.fixture
def visit(patient, plan, oral_window, frozen) -> Visit:
    return make_visit(patient, window=oral_window, plan=plan, source="plan", planned_date=MONDAY)

