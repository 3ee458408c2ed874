"""Random call-backs (issue #15; DOMAIN §1 [PRACTICE]): a take-home holder is called back and must come within 24 h
with all their bottles. POST /api/v1/patients/{id}/callback/ books the visit; a missed one is listed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from tests.factories import PatientFactory, PlanFactory
from tests.visits.conftest import MONDAY, make_visit
from visits import screening
from visits.missed import visits_mark_missed
from visits.models import Visit

pytestmark = pytest.mark.django_db


@pytest.fixture
def holder(patient, plan, oral_window, frozen):
    """Dosed on Saturday with 3 take-home doses: covered through Tuesday."""
    make_visit(patient, window=oral_window, plan=plan, day=MONDAY - timedelta(days=2), status="completed",
               take_home_doses=3, covered_through=MONDAY + timedelta(days=1))
    return patient


def call_back(api, patient):
    return api.post(f"/api/v1/patients/{patient.pk}/callback/", {}, format="json")


@pytest.mark.parametrize("role", ["clinician", "admin"])
def test_a_clinician_calls_a_take_home_holder_back_today(api_as, holder, role):
    response = call_back(api_as(role), holder)
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["kind"], body["date"], body["status"]) == ("callback", MONDAY.isoformat(), "scheduled")
    assert body["start"] == "2026-11-02T11:00:00-05:00"


def test_after_todays_window_the_call_back_is_tomorrow_within_24_hours(api_as, holder, frozen):
    frozen.move_to(datetime(2026, 11, 2, 19, 0, tzinfo=UTC))  # 14:00 in New York: the 11:00 window is over
    response = call_back(api_as("clinician"), holder)
    assert response.status_code == 201, response.content
    assert response.json()["start"] == "2026-11-03T11:00:00-05:00"


def test_no_call_back_window_in_the_next_24_hours_is_a_conflict(api_as, holder, frozen):
    frozen.move_to(datetime(2026, 11, 6, 19, 0, tzinfo=UTC))  # Friday 14:00; no call-back window at weekends
    Visit.objects.filter(patient=holder).update(covered_through=MONDAY + timedelta(days=10))
    response = call_back(api_as("clinician"), holder)
    assert response.status_code == 409
    assert not Visit.objects.filter(patient=holder, kind="callback").exists()


def test_a_patient_holding_no_take_homes_is_not_called_back(api_as, patient, plan, oral_window, frozen):
    make_visit(patient, window=oral_window, plan=plan, day=MONDAY - timedelta(days=1), status="completed",
               covered_through=MONDAY)  # today's dose is due at the clinic: nothing at home
    response = call_back(api_as("clinician"), patient)
    assert response.status_code == 409  # a conflict with the patient's state
    assert "take-home" in response.content.decode()


def test_a_second_call_back_while_one_is_open_is_a_conflict(api_as, holder):
    assert call_back(api_as("clinician"), holder).status_code == 201
    assert call_back(api_as("clinician"), holder).status_code == 409


@pytest.mark.parametrize("role", ["front_desk", "nurse", "manager"])
def test_other_roles_may_not_call_a_patient_back(api_as, holder, role):
    assert call_back(api_as(role), holder).status_code == 403


def test_another_clinics_patient_answers_404(api_as, other_clinic, frozen):
    stranger = PatientFactory(clinic=other_clinic)
    PlanFactory(patient=stranger, start_date=MONDAY)
    assert call_back(api_as("clinician"), stranger).status_code == 404


def test_a_missed_call_back_is_marked_missed_and_listed(api_as, holder, clinic, other_clinic):
    visit_id = call_back(api_as("clinician"), holder).json()["id"]
    with time_machine.travel(datetime(2026, 11, 2, 20, 0, tzinfo=UTC), tick=False):  # 15:00: window over + grace
        visits_mark_missed()
    assert Visit.objects.get(pk=visit_id).status == "missed"
    assert [v.pk for v in screening.callbacks_missed(clinic)] == [visit_id]
    assert list(screening.callbacks_missed(other_clinic)) == []
