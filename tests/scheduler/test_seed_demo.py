"""seed_demo: a realistic demo clinic, one login per role, every program; running it twice changes nothing."""

from __future__ import annotations

from collections import Counter
from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command

from scheduler.models import Clinic, Closure, DosingWindow, Patient, Plan, StaffProfile
from visits.models import StaffTask, Visit


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

    # Sized for its patients (issue 11): no window over capacity, diamorphine sessions four booths at a time,
    # nothing left out for lack of room.
    capacity = dict(DosingWindow.objects.filter(clinic=clinic).values_list("id", "capacity"))
    placed = Visit.objects.filter(clinic=clinic, window__isnull=False).exclude(status="cancelled")
    per_window = Counter(placed.values_list("window_id", "date"))
    assert max(n - capacity[window_id] for (window_id, _), n in per_window.items()) <= 0
    booths = Counter(placed.filter(plan__medication="diamorphine").values_list("window_id", "start"))
    assert max(booths.values()) == 4
    assert not StaffTask.objects.filter(kind="unplaced_visit").exists()

    before = counts()
    call_command("seed_demo", stdout=StringIO())
    assert counts() == before


@pytest.mark.django_db(transaction=True)
def test_every_demo_patient_has_a_distinct_name_and_an_older_demo_gets_them_on_the_next_run():
    call_command("seed_demo", stdout=StringIO())
    clinic = Clinic.objects.get(name__contains="demo")
    names = list(Patient.objects.filter(clinic=clinic).values_list("first_name", "last_name"))
    assert len(names) >= 40
    assert len(set(names)) == len(names)

    # A demo seeded when every name was used twice: the next run renames its patients, the run after changes nothing.
    Patient.objects.filter(clinic=clinic, mrn="DEMO0021").update(first_name="Ana", last_name="Alvarez")
    Patient.objects.filter(clinic=clinic, mrn="DEMO0001").update(first_name="Ana", last_name="Alvarez")
    call_command("seed_demo", stdout=StringIO())
    renamed = list(Patient.objects.filter(clinic=clinic).values_list("first_name", "last_name"))
    assert len(set(renamed)) == len(renamed)
    rows = Patient.objects.filter(clinic=clinic).order_by("id").values_list("id", "first_name", "last_name")
    before = list(rows)
    call_command("seed_demo", stdout=StringIO())
    assert list(rows.all()) == before
