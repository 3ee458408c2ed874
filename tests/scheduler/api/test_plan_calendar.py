"""GET /api/v1/plans/{id}/calendar/: the engine's answer for any range, with the materialised visits."""

from __future__ import annotations

from datetime import date

import pytest

from tests.factories import PatientFactory, PlanFactory
from visits.generation import plan_visits_regenerate
from visits.models import Visit


@pytest.fixture
def plan(clinic):
    p = PlanFactory(patient=PatientFactory(clinic=clinic), start_date=date(2026, 11, 2))
    plan_visits_regenerate(plan=p)
    return p


def calendar(client, plan, **query):
    return client.get(f"/api/v1/plans/{plan.pk}/calendar/", query)


def test_anonymous_gets_401(anon, plan):
    assert calendar(anon, plan, date_from="2026-11-02", date_to="2026-11-08").status_code == 401


def test_it_answers_one_row_per_date_with_sessions_and_visit_ids(api_as, plan):
    response = calendar(api_as("manager"), plan, date_from="2026-11-07", date_to="2026-11-08")

    assert response.status_code == 200
    saturday, sunday = response.json()
    visit = Visit.objects.get(plan=plan, date=date(2026, 11, 7))
    assert saturday["date"] == "2026-11-07"
    assert saturday["expected"] == "visit"
    assert saturday["sessions"] == [{"start": "2026-11-07T07:00:00-05:00", "end": "2026-11-07T10:00:00-05:00"}]
    assert saturday["visits"] == [visit.pk]
    assert sunday["expected"] in {"take_home", "closure_take_home"}
    assert sunday["sessions"] == []
    assert sunday["visits"] == []


def test_it_answers_ranges_beyond_the_generated_horizon(api_as, plan):
    response = calendar(api_as("nurse"), plan, date_from="2027-06-01", date_to="2027-06-30")

    assert response.status_code == 200
    assert len(response.json()) == 30
    assert all(row["visits"] == [] for row in response.json())


@pytest.mark.parametrize(
    ("query", "field"),
    [({"date_to": "2026-11-08"}, "date_from"), ({"date_from": "2026-11-02"}, "date_to"),
     ({"date_from": "2026-13-01", "date_to": "2026-11-08"}, "date_from"),
     ({"date_from": "2026-11-08", "date_to": "2026-11-02"}, "date_to"),
     ({"date_from": "2026-01-01", "date_to": "2027-12-31"}, "date_to")],
)
def test_bad_or_too_long_ranges_are_400_naming_the_field(api_as, plan, query, field):
    response = calendar(api_as("nurse"), plan, **query)

    assert response.status_code == 400
    assert field in response.json()


def test_a_range_of_400_days_is_allowed(api_as, plan):
    response = calendar(api_as("nurse"), plan, date_from="2026-11-02", date_to="2027-12-06")

    assert response.status_code == 200
    assert len(response.json()) == 400
