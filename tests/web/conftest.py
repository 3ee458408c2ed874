"""Fixtures for the staff pages: a frozen clinic morning, one logged-in client per role, today's visits."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

import pytest
import time_machine
from django.test import Client

from tests.factories import PatientFactory, PlanFactory
from visits.generation import visits_generate
from visits.models import Visit

# Monday 16 November 2026, 08:00 in New York (the clinic fixture's zone): the 07:00–10:00 window is open.
MORNING = datetime(2026, 11, 16, 13, 0, tzinfo=UTC)
TODAY = date(2026, 11, 16)


@pytest.fixture(autouse=True)
def _fast_page_settings(settings) -> None:
    # The manifest storage needs collectstatic; page tests only need {% static %} to resolve.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def morning():
    with time_machine.travel(MORNING, tick=False):
        yield MORNING


@pytest.fixture
def client_as(staff) -> Callable[[str], Client]:
    def make(role: str) -> Client:
        client = Client()
        client.force_login(staff[role])
        return client

    return make


@pytest.fixture
def patient(clinic):
    return PatientFactory(
        clinic=clinic, first_name="Jordan", last_name="Okafor", mrn="MRN-4711", date_of_birth=date(1980, 3, 9)
    )


@pytest.fixture
def plan(patient):
    # Day 1 on 10 November: on 16 November the patient is on treatment day 7 (at most 7 take-homes).
    return PlanFactory(patient=patient, start_date=date(2026, 11, 10), treatment_start=date(2026, 11, 10))


@pytest.fixture
def today_visit(morning, plan) -> Visit:
    visits_generate(plans=[plan], today=TODAY, horizon_days=7)
    return Visit.objects.get(plan=plan, date=TODAY)


@pytest.fixture
def other_patient(other_clinic):
    return PatientFactory(clinic=other_clinic, first_name="Casey", last_name="Other", mrn="OTHER-1")


@pytest.fixture
def drifting(clinic, patient, plan, morning):
    """Jordan kept every day of the 8 weeks before the last 4, and 10 days of the last 4 (down 64%)."""
    from datetime import timedelta

    today = date(2026, 11, 16)
    recent_from = today - timedelta(days=27)
    days = [recent_from - timedelta(days=56 - i) for i in range(56)] + [
        recent_from + timedelta(days=i) for i in range(10)
    ]
    Visit.objects.bulk_create(
        Visit(patient=patient, clinic=clinic, plan=plan, kind="dose", date=d, status="completed") for d in days
    )
    return patient
