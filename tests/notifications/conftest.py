"""Fixtures for the notification tests: an injection patient with a visit, and the memory transport."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from notifications import transports
from scheduler.models import Patient, Plan
from tests.factories import PatientFactory, PlanFactory
from visits.models import Visit

NY = ZoneInfo("America/New_York")


@pytest.fixture(autouse=True)
def memory_sms(settings):
    settings.SMS_BACKEND = "memory"
    settings.TWILIO_AUTH_TOKEN = "test-auth-token"
    settings.PUBLIC_BASE_URL = "https://dosewise.example.org"
    transports.memory_outbox.clear()
    transports.memory_failures.clear()
    yield transports.memory_outbox
    transports.memory_outbox.clear()
    transports.memory_failures.clear()


@pytest.fixture(autouse=True)
def _clear_cache():
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def patient(clinic) -> Patient:
    return PatientFactory(clinic=clinic, first_name="Maria", last_name="Lopez", phone="+12125550123")


@pytest.fixture
def injection_plan(patient) -> Plan:
    return PlanFactory(patient=patient, medication="naltrexone_xr", interval_days=28, start_date=date(2026, 10, 1))


def make_visit(plan: Plan, day: date, at: time = time(11, 0), status: str = "scheduled", tz=NY) -> Visit:
    start = datetime.combine(day, at, tzinfo=tz)
    return Visit.objects.create(
        patient=plan.patient,
        clinic=plan.patient.clinic,
        plan=plan,
        kind="injection",
        date=day,
        start=start,
        end=start + timedelta(minutes=30),
        status=status,
        source="manual",
    )


@pytest.fixture
def visit_factory():
    return make_visit

