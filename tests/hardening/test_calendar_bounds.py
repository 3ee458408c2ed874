"""The plan calendar's work is bounded (issue #10): the engine simulates a plan from its start, so a range in
year 9998 took 8–12 s of CPU and 9999-12-31 answered 500 (OverflowError). Now: dates within today −5/+3
years, at most 400 days at once, at most 20 years after the plan's start; each refusal a fast JSON 400."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from tests.factories import PatientFactory, PlanFactory


@pytest.fixture
def plan(clinic):
    return PlanFactory(patient=PatientFactory(clinic=clinic), start_date=date(2026, 11, 2))


def calendar(api, plan, **params):
    return api.get(f"/api/v1/plans/{plan.pk}/calendar/", params)


def test_a_year_far_in_the_future_is_refused_naming_date_from_before_the_engine_simulates_a_day(
    api_as, plan, simulated_days
):
    response = calendar(api_as("front_desk"), plan, date_from="9998-01-01", date_to="9998-12-31")

    assert response.status_code == 400
    assert response.json()["date_from"] == ["Give a date from 2021-01-01 to 2029-12-31 (got 9998-01-01)."]
    assert simulated_days == []


def test_the_last_representable_date_answers_400_not_500(api_as, plan):
    response = calendar(api_as("front_desk"), plan, date_from="9999-12-01", date_to="9999-12-31")

    assert response.status_code == 400
    assert set(response.json()) == {"date_from", "date_to"}


def test_more_than_400_days_at_once_is_refused_naming_date_to(api_as, plan):
    response = calendar(api_as("nurse"), plan, date_from="2026-11-02", date_to="2027-12-07")

    assert response.status_code == 400
    assert response.json()["date_to"] == ["Ask for at most 400 days at once (got 401)."]


def test_a_range_ending_before_it_starts_is_refused(api_as, plan):
    response = calendar(api_as("nurse"), plan, date_from="2026-11-10", date_to="2026-11-09")

    assert response.status_code == 400
    assert "before date_from" in response.json()["date_to"][0]


def test_a_stored_plan_from_year_one_is_refused_instead_of_simulated_for_two_millennia(
    api_as, clinic, simulated_days
):
    # Stored before dates were bounded (the factory writes the row directly, as old data would be).
    ancient = PlanFactory(patient=PatientFactory(clinic=clinic), start_date=date(1, 1, 1))

    response = calendar(api_as("nurse"), ancient, date_from="2026-11-16", date_to="2026-11-22")

    assert response.status_code == 400
    assert "20 years after the plan's start (0001-01-01)" in response.json()["date_to"][0]
    assert simulated_days == []


def test_a_plan_started_nineteen_years_ago_still_has_its_calendar_simulated_from_its_start_once(
    api_as, clinic, simulated_days
):
    veteran = PlanFactory(patient=PatientFactory(clinic=clinic), start_date=date(2007, 11, 16))

    response = calendar(api_as("nurse"), veteran, date_from="2026-11-16", date_to="2026-11-22")

    assert response.status_code == 200
    assert [row["date"] for row in response.json()][:2] == ["2026-11-16", "2026-11-17"]
    # The work is bounded by the plan's age (at most 20 years) plus the range: each day simulated once.
    assert len(simulated_days) == len(set(simulated_days))
    assert min(simulated_days) == date(2007, 11, 16)
    assert max(simulated_days) <= date(2026, 11, 22) + timedelta(days=7)


def test_the_schema_states_the_calendar_limits(api_as):
    schema = api_as("admin").get("/api/schema/", {"format": "json"}).json()
    parameters = {p["name"]: p for p in schema["paths"]["/api/v1/plans/{id}/calendar/"]["get"]["parameters"]}

    assert "at most 400 days" in parameters["date_to"]["description"]
    assert "20 years after the plan's start" in parameters["date_to"]["description"]
