"""POST /visits/{id}/complete/: who may, from which states, and holds."""

from __future__ import annotations

from datetime import timedelta

import pytest

from scheduler.models import Plan
from tests.visits.conftest import MONDAY, make_visit
from visits.models import Escalation, Visit

pytestmark = pytest.mark.django_db


def complete(api, visit, **body):
    return api.post(f"/api/v1/visits/{visit.pk}/complete/", body, format="json")


def test_a_nurse_completes_a_checked_in_visit(api_as, visit, plan, staff):
    # Monday and Wednesday: Tuesday is a take-home day, so the calendar expects one take-home on Monday.
    Plan.objects.filter(pk=plan.pk).update(attendance_weekdays=[0, 2])
    Visit.objects.filter(pk=visit.pk).update(status="checked_in")
    response = complete(api_as("nurse"), visit, take_home_doses=1)
    assert response.status_code == 200, response.content
    visit.refresh_from_db()
    assert (visit.status, visit.take_home_doses, visit.completed_by_id) == ("completed", 1, staff["nurse"].pk)
    assert visit.completed_at is not None
    assert visit.covered_through == MONDAY + timedelta(days=1)


def test_completing_twice_answers_409(api_as, visit):
    assert complete(api_as("nurse"), visit).status_code == 200
    response = complete(api_as("nurse"), visit)
    assert response.status_code == 409
    assert "already completed" in response.json()["detail"]


@pytest.mark.parametrize("status", ["cancelled", "missed", "excused"])
def test_a_closed_visit_cannot_be_completed(api_as, visit, status):
    Visit.objects.filter(pk=visit.pk).update(status=status)
    response = complete(api_as("clinician"), visit)
    assert response.status_code == 409
    assert status in response.json()["detail"]


@pytest.mark.parametrize("kind", ["hold", "clinician_review", "reinduction"])
def test_an_open_hold_on_the_plan_blocks_completion(api_as, visit, patient, plan, kind):
    Escalation.objects.create(
        patient=patient, plan=plan, clinic=patient.clinic, kind=kind, reason="3 days without medication",
        consecutive_missed=3, anchor_date=MONDAY - timedelta(days=4),
    )
    response = complete(api_as("nurse"), visit)
    assert response.status_code == 409
    assert response.json()["detail"].startswith("plan on hold:")
    visit.refresh_from_db()
    assert visit.status == "scheduled"


def test_a_resolved_hold_or_outreach_does_not_block(api_as, visit, patient, plan, frozen):
    from django.utils import timezone

    Escalation.objects.create(
        patient=patient, plan=plan, clinic=patient.clinic, kind="hold", reason="r", anchor_date=MONDAY,
        resolved_at=timezone.now(),
    )
    Escalation.objects.create(
        patient=patient, plan=plan, clinic=patient.clinic, kind="outreach", reason="r", anchor_date=MONDAY,
    )
    assert complete(api_as("nurse"), visit).status_code == 200


def test_a_future_visit_cannot_be_completed_yet(api_as, patient, plan, oral_window, frozen):
    tomorrow = make_visit(patient, window=oral_window, plan=plan, day=MONDAY + timedelta(days=1))
    response = complete(api_as("nurse"), tomorrow)
    assert response.status_code == 400


def test_a_patient_is_not_dosed_twice_on_one_day_for_one_plan(api_as, visit, patient, plan, clinic):
    other_window = next(w for w in clinic.windows.all() if "counselling" in w.services)
    make_visit(patient, window=other_window, plan=plan, status="completed")
    response = complete(api_as("nurse"), visit)
    assert response.status_code == 409
