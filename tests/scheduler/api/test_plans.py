"""Plans: clinicians and admins create and change them; the engine validates them."""

from __future__ import annotations

from datetime import date

import pytest

from scheduler.models import Plan
from tests.factories import PatientFactory, PlanFactory

URL = "/api/v1/plans/"


def new_plan(patient, **extra):
    return {"patient": patient.pk, "medication": "methadone", "start_date": "2026-11-02", **extra}


def test_anonymous_gets_401(anon, clinic):
    plan = PlanFactory(patient=PatientFactory(clinic=clinic))
    assert anon.get(URL).status_code == 401
    assert anon.get(f"{URL}{plan.pk}/").status_code == 401


def test_another_clinics_user_gets_404(other_api, clinic):
    plan = PlanFactory(patient=PatientFactory(clinic=clinic))
    for path in ("", "calendar/?date_from=2026-11-02&date_to=2026-11-03", "history/"):
        assert other_api.get(f"{URL}{plan.pk}/{path}").status_code == 404
    assert other_api.patch(f"{URL}{plan.pk}/", {"status": "ended"}, format="json").status_code == 404
    assert other_api.get(URL).json()["results"] == []


def test_another_clinics_patient_in_the_body_gets_404(other_api, clinic):
    patient = PatientFactory(clinic=clinic)

    response = other_api.post(URL, new_plan(patient), format="json")

    assert response.status_code == 404
    assert not Plan.objects.exists()


@pytest.mark.parametrize("role", ["front_desk", "nurse", "manager"])
def test_only_clinicians_and_admins_write_plans(api_as, clinic, role):
    patient = PatientFactory(clinic=clinic)
    plan = PlanFactory(patient=patient)
    client = api_as(role)

    created = client.post(URL, new_plan(patient), format="json")
    changed = client.patch(f"{URL}{plan.pk}/", {"status": "ended"}, format="json")

    assert created.status_code == 403
    assert "clinicians and admins" in created.json()["detail"]
    assert changed.status_code == 403
    assert client.get(f"{URL}{plan.pk}/").status_code == 200


@pytest.mark.parametrize("role", ["clinician", "admin"])
def test_a_clinician_creates_a_plan_with_api_defaults(api_as, clinic, role):
    patient = PatientFactory(clinic=clinic)

    response = api_as(role).post(URL, new_plan(patient), format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["treatment_start"] == "2026-11-02"
    assert body["attendance_weekdays"] == [0, 1, 2, 3, 4, 5, 6]
    assert body["attendance_every_weeks"] == 1
    assert body["doses_per_day"] == 1
    assert body["status"] == "active"
    assert body["end_date"] is None


def test_only_diamorphine_may_have_more_than_one_dose_a_day(api_as, clinic):
    patient = PatientFactory(clinic=clinic)

    response = api_as("clinician").post(URL, new_plan(patient, doses_per_day=2), format="json")

    assert response.status_code == 400
    assert "doses_per_day" in response.json()


def test_more_than_three_doses_a_day_is_refused(api_as, clinic):
    patient = PatientFactory(clinic=clinic)

    response = api_as("clinician").post(URL, new_plan(patient, medication="diamorphine", doses_per_day=4),
                                        format="json")

    assert response.status_code == 400
    assert "doses_per_day" in response.json()


def test_a_plan_the_windows_cannot_hold_is_refused_with_the_engines_reason(api_as, clinic):
    patient = PatientFactory(clinic=clinic)
    # Two diamorphine windows a day (08–10, 14–16) cannot hold three sessions three hours apart.
    body = new_plan(patient, medication="diamorphine", doses_per_day=3, min_interval_minutes=180)

    response = api_as("clinician").post(URL, body, format="json")

    assert response.status_code == 400
    assert "diamorphine" in response.json()["detail"]
    assert not Plan.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [({"end_date": "2026-11-01"}, "end_date"), ({"medication": "ketamine"}, "medication"),
     ({"attendance_weekdays": [9]}, "attendance_weekdays"), ({"start_date": "tomorrow"}, "start_date"),
     ({"interval_days": 14}, "interval_days"), ({"patient": "abc"}, "patient")],
)
def test_it_names_the_field_of_a_bad_plan(api_as, clinic, change, field):
    patient = PatientFactory(clinic=clinic)

    response = api_as("clinician").post(URL, {**new_plan(patient), **change}, format="json")

    assert response.status_code == 400
    assert field in response.json()


def test_active_true_lists_active_plans_that_have_not_ended(api_as, clinic):
    patient = PatientFactory(clinic=clinic)
    current = PlanFactory(patient=patient)
    PlanFactory(patient=patient, status="paused")
    PlanFactory(patient=patient, start_date=date(2026, 1, 1), end_date=date(2026, 10, 1))

    response = api_as("nurse").get(URL, {"active": "true", "patient": patient.pk})

    assert [row["id"] for row in response.json()["results"]] == [current.pk]


@pytest.mark.parametrize("query", [{"patient": "x"}, {"active": "perhaps"}])
def test_bad_filters_are_400(api_as, clinic, query):
    response = api_as("nurse").get(URL, query)

    assert response.status_code == 400
    assert next(iter(query)) in response.json()


def test_the_history_lists_changes_with_their_actor(api_as, clinic):
    patient = PatientFactory(clinic=clinic)
    client = api_as("clinician")
    plan_id = client.post(URL, new_plan(patient), format="json").json()["id"]
    client.patch(f"{URL}{plan_id}/", {"attendance_weekdays": [0, 2, 4]}, format="json")

    response = client.get(f"{URL}{plan_id}/history/")

    assert response.status_code == 200
    entries = response.json()["results"]
    assert [e["action"] for e in entries] == ["update", "create"]
    assert entries[0]["actor"] == "clinician_user"
    assert "attendance_weekdays" in entries[0]["changes"]
