"""Filters with another clinic's ids answer 404 (API.md: such ids answer 404), not 200 and an empty list, on
every list endpoint with such filters: visits, patients, plans, escalations, messages, tasks, reports."""

from __future__ import annotations

from datetime import date

import pytest

from notifications.models import Message
from tests.factories import PatientFactory, PlanFactory
from tests.hardening.conftest import NOW
from visits.models import Escalation, StaffTask, Visit


def ledger(clinic) -> dict[str, int]:
    """One row of everything in `clinic`: the ids a filter may name."""
    plan = PlanFactory(patient=PatientFactory(clinic=clinic), start_date=date(2026, 11, 2))
    visit = Visit.objects.create(
        patient=plan.patient, clinic=clinic, plan=plan, kind="dose", date=date(2026, 11, 16), source="manual"
    )
    Escalation.objects.create(
        patient=plan.patient,
        plan=plan,
        clinic=clinic,
        kind="hold",
        anchor_date=date(2026, 11, 13),
        consecutive_missed=3,
        reason="3 consecutive days without medication",
    )
    Message.objects.create(patient=plan.patient, visit=visit, purpose="reminder", body="Hi", scheduled_for=NOW)
    StaffTask.objects.create(clinic=clinic, patient=plan.patient, visit=visit, kind="other")
    return {"clinic": clinic.pk, "patient": plan.patient_id, "plan": plan.pk, "visit": visit.pk}


FILTERS = [
    ("/api/v1/visits/", "clinic"),
    ("/api/v1/visits/", "patient"),
    ("/api/v1/visits/", "plan"),
    ("/api/v1/patients/", "clinic"),
    ("/api/v1/plans/", "patient"),
    ("/api/v1/escalations/", "clinic"),
    ("/api/v1/escalations/", "patient"),
    ("/api/v1/escalations/", "plan"),
    ("/api/v1/messages/", "patient"),
    ("/api/v1/messages/", "visit"),
    ("/api/v1/tasks/", "clinic"),
    ("/api/v1/tasks/", "patient"),
    ("/api/v1/reports/attendance/", "clinic"),
]


@pytest.mark.parametrize("url, param", FILTERS)
def test_another_clinics_id_in_a_filter_answers_404(api_as, clinic, other_clinic, url, param):
    theirs = ledger(other_clinic)

    response = api_as("admin").get(url, {param: theirs[param]})

    assert response.status_code == 404, response.content
    assert "detail" in response.json()


@pytest.mark.parametrize("url, param", FILTERS)
def test_an_id_of_ones_own_clinic_narrows_the_list(api_as, clinic, other_clinic, url, param):
    mine, theirs = ledger(clinic), ledger(other_clinic)

    response = api_as("admin").get(url, {param: mine[param]})

    assert response.status_code == 200, response.content
    if "results" in response.json():
        assert response.json()["count"] >= 1
        assert theirs["patient"] not in {row.get("patient") for row in response.json()["results"]}


@pytest.mark.parametrize("url, param", FILTERS[:-1])
def test_an_id_that_does_not_exist_answers_404_too(api_as, clinic, url, param):
    response = api_as("admin").get(url, {param: 987654321})

    assert response.status_code == 404


@pytest.mark.parametrize("value", ["٣", "²", "1.5", "-1", "abc"])
def test_an_id_filter_that_is_not_ascii_digits_answers_400_naming_it(api_as, clinic, value):
    response = api_as("admin").get("/api/v1/visits/", {"patient": value})

    assert response.status_code == 400
    assert list(response.json()) == ["patient"]
