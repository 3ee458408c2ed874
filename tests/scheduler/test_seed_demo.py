"""seed_demo: a realistic demo clinic, one login per role, every program; running it twice changes nothing."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command

from scheduler.models import Clinic, Closure, Patient, Plan, StaffProfile
from visits.models import Visit


def counts() -> tuple[int, ...]:
    return (Clinic.objects.count(), Patient.objects.count(), Plan.objects.count(), Visit.objects.count(),
            Closure.objects.count(), StaffProfile.objects.count())


@pytest.mark.django_db(transaction=True)
def test_seed_demo_builds_the_demo_clinic_and_is_idempotent(rf):
    out = StringIO()
    call_command("seed_demo", stdout=out)
    clinic = Clinic.objects.get(name__contains="demo")
    assert clinic.timezone == "America/New_York"
    assert Patient.objects.filter(clinic=clinic).count() >= 40
    medications = set(Plan.objects.values_list("medication", flat=True))
    assert medications == {"methadone", "buprenorphine", "diamorphine", "naltrexone_xr",
                           "buprenorphine_xr_monthly", "buprenorphine_xr_weekly"}
    assert Visit.objects.filter(clinic=clinic, status="completed").exists()
    assert Visit.objects.filter(clinic=clinic, status="scheduled").exists()
    # Public holidays close oral dosing only; diamorphine runs every day of the year.
    assert Closure.objects.filter(clinic=clinic, services=["methadone", "buprenorphine"]).exists()
    roles = set(StaffProfile.objects.values_list("role", flat=True))
    assert roles == {"front_desk", "nurse", "clinician", "manager", "admin"}
    text = out.getvalue()
    assert "demo_front_desk" in text and "dosewise-demo" in text
    assert authenticate(rf.post("/login/"), username="demo_nurse", password="dosewise-demo") is not None

    before = counts()
    call_command("seed_demo", stdout=StringIO())
    assert counts() == before
