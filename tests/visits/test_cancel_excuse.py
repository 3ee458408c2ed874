"""POST /visits/{id}/cancel/ and /excuse/ need a reason and free the slot."""

from __future__ import annotations

import pytest

from visits.models import Visit

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("verb", ["cancel", "excuse"])
@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": "   "}])
def test_a_reason_is_required(api_as, visit, verb, body):
    response = api_as("front_desk").post(f"/api/v1/visits/{visit.pk}/{verb}/", body, format="json")
    assert response.status_code == 400
    assert "reason" in response.json()


def test_cancelling_records_the_reason_and_marks_it_edited(api_as, visit):
    response = api_as("front_desk").post(f"/api/v1/visits/{visit.pk}/cancel/", {"reason": "patient called"})
    assert response.status_code == 200
    visit.refresh_from_db()
    assert (visit.status, visit.status_reason, visit.edited) == ("cancelled", "patient called", True)


def test_a_completed_visit_cannot_be_cancelled(api_as, visit):
    Visit.objects.filter(pk=visit.pk).update(status="completed")
    response = api_as("front_desk").post(f"/api/v1/visits/{visit.pk}/cancel/", {"reason": "x"})
    assert response.status_code == 409


def test_a_missed_visit_can_be_excused(api_as, visit):
    Visit.objects.filter(pk=visit.pk).update(status="missed")
    response = api_as("clinician").post(f"/api/v1/visits/{visit.pk}/excuse/", {"reason": "was in hospital"})
    assert response.status_code == 200
    assert response.json()["status"] == "excused"


def test_a_cancelled_visit_cannot_be_excused(api_as, visit):
    Visit.objects.filter(pk=visit.pk).update(status="cancelled")
    response = api_as("clinician").post(f"/api/v1/visits/{visit.pk}/excuse/", {"reason": "x"})
    assert response.status_code == 409
