"""GET /api/v1/visits/ and /visits/{id}/: fields and filters."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.factories import PatientFactory
from tests.visits.conftest import MONDAY, make_visit

# Query dates are bounded around today (scheduler.bounds): the clock is frozen at the dates these tests ask about.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen")]

CONTRACT_FIELDS = {
    "id", "patient", "clinic", "plan", "kind", "date", "start", "end", "status", "take_home_doses", "source",
}


def test_a_visit_has_the_contract_fields(api_as, visit):
    body = api_as("manager").get(f"/api/v1/visits/{visit.pk}/").json()
    assert set(body) >= CONTRACT_FIELDS
    assert body["start"] == "2026-11-02T07:00:00-05:00"
    assert body["source"] == "plan"


@pytest.fixture
def ledger(clinic, patient, plan, oral_window, counselling_window):
    other = PatientFactory(clinic=clinic)
    return {
        "a": make_visit(patient, window=oral_window, plan=plan),
        "b": make_visit(patient, window=oral_window, plan=plan, day=MONDAY + timedelta(days=1), status="missed"),
        "c": make_visit(other, window=counselling_window, kind="counselling", day=MONDAY + timedelta(days=2)),
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", {"a", "b", "c"}),
        ("date=2026-11-03", {"b"}),
        ("date_from=2026-11-03", {"b", "c"}),
        ("date_to=2026-11-03", {"a", "b"}),
        ("date_from=2026-11-03&date_to=2026-11-03", {"b"}),
        ("status=missed", {"b"}),
        ("kind=counselling", {"c"}),
    ],
)
def test_filters(api_as, ledger, query, expected):
    ids = {v["id"] for v in api_as("nurse").get(f"/api/v1/visits/?{query}").json()["results"]}
    assert ids == {ledger[k].pk for k in expected}


def test_filter_by_patient_plan_and_clinic(api_as, ledger, patient, plan, clinic):
    api = api_as("nurse")
    assert api.get(f"/api/v1/visits/?patient={patient.pk}").json()["count"] == 2
    assert api.get(f"/api/v1/visits/?plan={plan.pk}").json()["count"] == 2
    assert api.get(f"/api/v1/visits/?clinic={clinic.pk}").json()["count"] == 3


def test_a_bad_filter_value_answers_400(api_as, ledger):
    assert api_as("nurse").get("/api/v1/visits/?status=asleep").status_code == 400
    assert api_as("nurse").get("/api/v1/visits/?date=yesterday").status_code == 400
