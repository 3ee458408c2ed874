"""Dates are bounded everywhere (issue #10): plans, pauses, closures and query dates within today −5/+3 years,
birth dates 1900-01-01 … today; a refusal is a JSON 400 naming the field and the bound, before any engine work."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from scheduler import bounds
from scheduler.models import Closure, Patient, Plan
from tests.factories import PatientFactory, PlanFactory

PLAN = {"medication": "methadone", "start_date": "2026-11-17"}


@pytest.fixture
def patient(clinic):
    return PatientFactory(clinic=clinic)


def plan_body(patient, **changes):
    return {**PLAN, "patient": patient.pk, **changes}


def test_a_plan_from_year_one_is_refused_naming_start_date_and_its_bound_before_the_engine_runs(
    api_as, patient, simulated_days
):
    response = api_as("clinician").post("/api/v1/plans/", plan_body(patient, start_date="0001-01-01"), format="json")

    assert response.status_code == 400
    assert response.json()["start_date"] == ["Give a date from 2021-01-01 to 2029-12-31 (got 0001-01-01)."]
    assert simulated_days == []
    assert not Plan.objects.exists()


@pytest.mark.parametrize(
    "field, value",
    [("end_date", "9999-12-31"), ("treatment_start", "0001-01-01"), ("start_date", "2030-01-01")],
)
def test_each_plan_date_is_bounded(api_as, patient, field, value):
    response = api_as("clinician").post("/api/v1/plans/", plan_body(patient, **{field: value}), format="json")

    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert "2021-01-01 to 2029-12-31" in response.json()[field][0]


def test_a_plan_at_the_bounds_is_accepted(api_as, patient):
    body = plan_body(patient, start_date="2021-01-01", treatment_start="2021-01-01", end_date="2029-12-31")

    response = api_as("clinician").post("/api/v1/plans/", body, format="json")

    assert response.status_code == 201, response.json()


def test_a_plan_update_to_year_9999_is_refused(api_as, patient):
    plan = PlanFactory(patient=patient)

    response = api_as("clinician").patch(f"/api/v1/plans/{plan.pk}/", {"end_date": "9999-12-31"}, format="json")

    assert response.status_code == 400
    assert "end_date" in response.json()
    plan.refresh_from_db()
    assert plan.end_date is None


# 2026-11-17 is already today east of UTC, but not yet anywhere west of UTC-12: no clinic's future.
@pytest.mark.parametrize("born", ["1899-12-31", "0001-01-01", "9999-12-31", "2026-11-17"])
def test_a_date_of_birth_outside_1900_to_today_is_refused(api_as, clinic, born):
    body = {"clinic": clinic.pk, "mrn": "B-1", "first_name": "Ana", "last_name": "Lee", "date_of_birth": born}

    response = api_as("front_desk").post("/api/v1/patients/", body, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["date_of_birth"]
    assert not Patient.objects.filter(mrn="B-1").exists()


def test_a_date_of_birth_of_1900_01_01_is_accepted(api_as, clinic):
    body = {"clinic": clinic.pk, "mrn": "B-2", "first_name": "Ana", "last_name": "Lee", "date_of_birth": "1900-01-01"}

    assert api_as("front_desk").post("/api/v1/patients/", body, format="json").status_code == 201


@pytest.mark.parametrize("start, end", [("9999-12-30", "9999-12-31"), ("0001-01-01", "2026-11-20")])
def test_a_pause_far_from_today_is_refused(api_as, patient, start, end):
    plan = PlanFactory(patient=patient)

    response = api_as("clinician").post(
        f"/api/v1/plans/{plan.pk}/pauses/", {"start": start, "end": end, "reason": "hospital"}, format="json"
    )

    assert response.status_code == 400
    assert "start" in response.json()


def test_a_closure_in_year_9999_is_refused(api_as, clinic):
    response = api_as("admin").post(
        f"/api/v1/clinics/{clinic.pk}/closures/", {"date": "9999-12-31", "reason": "far"}, format="json"
    )

    assert response.status_code == 400
    assert "2029-12-31" in response.json()["date"][0]
    assert not Closure.objects.exists()


@pytest.mark.parametrize("param", ["date", "date_from", "date_to"])
@pytest.mark.parametrize("value", ["0001-01-01", "9999-12-31"])
def test_the_visit_list_refuses_query_dates_out_of_bounds(api_as, clinic, param, value):
    response = api_as("nurse").get("/api/v1/visits/", {param: value})

    assert response.status_code == 400
    assert list(response.json()) == [param]


def test_availability_for_year_9999_is_refused_naming_date(api_as, clinic):
    response = api_as("front_desk").get(
        f"/api/v1/clinics/{clinic.pk}/availability/", {"date": "9999-12-31", "service": "methadone"}
    )

    assert response.status_code == 400
    assert list(response.json()) == ["date"]


def test_booking_a_visit_in_year_9999_is_refused(api_as, patient):
    response = api_as("front_desk").post(
        "/api/v1/visits/", {"patient": patient.pk, "kind": "counselling", "date": "9999-12-31"}, format="json"
    )

    assert response.status_code == 400
    assert list(response.json()) == ["date"]


@pytest.mark.parametrize("value", ["2026-11-5", "20261117", "2026-11-17T00:00:00"])
def test_dates_are_yyyy_mm_dd_exactly(api_as, patient, value):
    response = api_as("clinician").post("/api/v1/plans/", plan_body(patient, start_date=value), format="json")

    assert response.status_code == 400
    assert "start_date" in response.json()


def test_the_schema_states_the_date_bounds_as_exact_patterns(api_as):
    schema = api_as("admin").get("/api/schema/", {"format": "json"}).json()
    plan = schema["components"]["schemas"]["PlanRequest"]["properties"]
    patient = schema["components"]["schemas"]["PatientRequest"]["properties"]
    visit_params = {p["name"]: p for p in schema["paths"]["/api/v1/visits/"]["get"]["parameters"]}
    start, born, query = (
        re.compile(plan["start_date"]["pattern"]),
        re.compile(patient["date_of_birth"]["pattern"]),
        re.compile(visit_params["date_from"]["schema"]["pattern"]),
    )

    for day in ("2021-01-01", "2024-02-29", "2029-12-31"):
        assert start.search(day) and query.search(day)
    for day in ("2020-12-31", "2030-01-01", "2025-02-29", "2026-04-31", "2026-1-05", "0001-01-01"):
        assert not start.search(day) and not query.search(day)
    assert born.search("1900-01-01") and born.search("2000-02-29") and born.search("2026-11-16")
    assert not born.search("1899-12-31") and not born.search("1900-02-29") and not born.search("2026-11-17")
    assert "1 January 5 years ago to 31 December 3 years ahead" in plan["start_date"]["description"]
    assert plan["interval_days"]["maximum"] == 366
    assert plan["min_interval_minutes"]["maximum"] == 1440


def test_the_server_accepts_exactly_what_the_pattern_admits(api_as, clinic):
    pattern = re.compile(bounds.date_pattern(bounds.schedule_range()))
    edges = [date(2020, 12, 31), date(2021, 1, 1), date(2029, 12, 31), date(2030, 1, 1)]
    every_two_months = [date(2021, 1, 1) + timedelta(days=61 * n) for n in range(54)]
    for day in edges + every_two_months:
        response = api_as("nurse").get("/api/v1/visits/", {"date": day.isoformat(), "page_size": 1})
        assert (response.status_code == 200) == bool(pattern.search(day.isoformat())), day


@pytest.mark.parametrize("start", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:00:00-05:00", "2026-11-17T07:30:60Z"])
def test_an_instant_out_of_bounds_or_out_of_shape_is_refused_not_a_500(api_as, patient, start):
    body = {"patient": patient.pk, "kind": "counselling", "date": "2026-11-17", "start": start}

    response = api_as("front_desk").post("/api/v1/visits/", body, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["start"]
