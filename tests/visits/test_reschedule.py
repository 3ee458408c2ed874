"""POST /visits/{id}/reschedule/ moves a scheduled visit with the same checks as booking."""

from __future__ import annotations

from datetime import date

import pytest

from tests.factories import ClosureFactory, PatientFactory
from tests.visits.conftest import MONDAY, make_visit
from visits.models import Visit

pytestmark = pytest.mark.django_db


def reschedule(api, visit, **body):
    return api.post(f"/api/v1/visits/{visit.pk}/reschedule/", body, format="json")


def test_it_moves_the_visit_marks_it_edited_and_keeps_its_planned_date(api_as, visit):
    response = reschedule(api_as("front_desk"), visit, date="2026-11-04")
    assert response.status_code == 200, response.content
    assert response.json()["start"] == "2026-11-04T07:00:00-05:00"
    visit.refresh_from_db()
    assert (visit.date, visit.planned_date, visit.edited) == (date(2026, 11, 4), MONDAY, True)


def test_moving_within_the_same_window_does_not_count_the_visit_against_itself(
    api_as, patient, counselling_window, frozen
):
    counselling_window.capacity = 1
    counselling_window.save()
    visit = make_visit(patient, window=counselling_window, kind="counselling")
    response = reschedule(api_as("front_desk"), visit, date="2026-11-02", start="2026-11-02T12:00:00-05:00")
    assert response.status_code == 200, response.content
    assert response.json()["start"] == "2026-11-02T12:00:00-05:00"


def test_rescheduling_into_a_full_window_answers_409(api_as, visit, oral_window, clinic):
    oral_window.capacity = 1
    oral_window.save()
    make_visit(PatientFactory(clinic=clinic), window=oral_window, day=date(2026, 11, 4))
    response = reschedule(api_as("front_desk"), visit, date="2026-11-04")
    assert response.status_code == 409
    visit.refresh_from_db()
    assert visit.date == MONDAY


def test_rescheduling_onto_a_closure_is_refused(api_as, visit, clinic):
    ClosureFactory(clinic=clinic, date=date(2026, 11, 11), reason="Veterans Day")
    response = reschedule(api_as("front_desk"), visit, date="2026-11-11")
    assert response.status_code == 400
    assert "Veterans Day" in response.json()["date"][0]


def test_rescheduling_into_the_past_is_refused(api_as, visit):
    assert reschedule(api_as("front_desk"), visit, date="2026-10-30").status_code == 400


@pytest.mark.parametrize("status", ["checked_in", "completed", "cancelled", "missed", "excused"])
def test_only_scheduled_visits_can_be_rescheduled(api_as, visit, status):
    Visit.objects.filter(pk=visit.pk).update(status=status)
    assert reschedule(api_as("front_desk"), visit, date="2026-11-04").status_code == 409
