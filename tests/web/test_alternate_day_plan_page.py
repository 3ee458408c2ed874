"""Issue #15: a clinician starts alternate-day buprenorphine from the patient page (2 days between doses)."""

from __future__ import annotations

from datetime import date

import pytest

from scheduler.models import Plan
from visits.models import Visit

pytestmark = pytest.mark.django_db

PLAN = {
    "medication": "buprenorphine",
    "start_date": "2026-11-18",
    "attendance_weekdays": ["0", "1", "2", "3", "4", "5", "6"],
    "attendance_every_weeks": "1",
    "interval_days": "2",
}


def test_the_form_says_how_to_plan_alternate_days(client_as, patient, morning):
    html = client_as("clinician").get(f"/patients/{patient.pk}/plans/new/").content.decode()
    assert "Buprenorphine: 2 for alternate days" in html


def test_saving_an_alternate_day_plan_books_every_other_day(client_as, patient, morning):
    response = client_as("clinician").post(f"/patients/{patient.pk}/plans/new/", PLAN)
    assert response.status_code == 302, response.content.decode()[:2000]
    plan = Plan.objects.get(patient=patient)
    assert plan.interval_days == 2
    dates = list(Visit.objects.filter(plan=plan).order_by("date").values_list("date", flat=True)[:3])
    assert dates == [date(2026, 11, 18), date(2026, 11, 20), date(2026, 11, 24)]  # Sunday 22nd: closure take-home


def test_a_methadone_interval_is_refused_at_its_field(client_as, patient, morning):
    response = client_as("clinician").post(f"/patients/{patient.pk}/plans/new/", {**PLAN, "medication": "methadone"})
    html = response.content.decode()
    assert response.status_code == 400
    assert "sublingual buprenorphine" in html.split('id="id_interval_days-error"')[1]
    assert not Plan.objects.filter(patient=patient).exists()
