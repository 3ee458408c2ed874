"""POST /api/v1/visits/ books a manual visit into the window of that date offering its service."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from tests.factories import ClosureFactory, PatientFactory, PlanFactory
from tests.visits.conftest import MONDAY, make_visit
from visits.models import Visit

pytestmark = pytest.mark.django_db
URL = "/api/v1/visits/"


def book(api, **body):
    return api.post(URL, body, format="json")


def test_it_books_a_counselling_visit_into_the_window_offering_counselling(api_as, patient, frozen):
    response = book(api_as("front_desk"), patient=patient.pk, kind="counselling", date="2026-11-02")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["kind"] == "counselling"
    assert body["source"] == "manual"
    assert body["status"] == "scheduled"
    assert body["plan"] is None
    assert body["start"] == "2026-11-02T11:00:00-05:00"
    assert body["end"] == "2026-11-02T13:00:00-05:00"
    assert Visit.objects.get(pk=body["id"]).clinic_id == patient.clinic_id


def test_it_finds_the_patients_active_plan_for_a_dose_visit(api_as, patient, plan, frozen):
    response = book(api_as("nurse"), patient=patient.pk, kind="dose", date="2026-11-03")
    assert response.status_code == 201, response.content
    assert response.json()["plan"] == plan.pk
    assert response.json()["start"] == "2026-11-03T07:00:00-05:00"


def test_a_dose_visit_without_any_active_plan_is_refused(api_as, patient, frozen):
    response = book(api_as("nurse"), patient=patient.pk, kind="dose", date="2026-11-03")
    assert response.status_code == 400
    assert "plan" in response.json()


def test_start_picks_the_window_containing_it_and_is_the_booked_time(api_as, patient, frozen):
    plan = PlanFactory(patient=patient, medication="diamorphine", start_date=MONDAY, doses_per_day=2)
    response = book(
        api_as("nurse"), patient=patient.pk, kind="dose", date="2026-11-03", plan=plan.pk,
        start="2026-11-03T14:30:00-05:00",
    )
    assert response.status_code == 201, response.content
    assert response.json()["start"] == "2026-11-03T14:30:00-05:00"
    assert response.json()["end"] == "2026-11-03T16:00:00-05:00"


def test_a_start_outside_every_window_is_refused_naming_start(api_as, patient, frozen):
    response = book(api_as("front_desk"), patient=patient.pk, kind="counselling", date="2026-11-03",
                    start="2026-11-03T15:00:00-05:00")
    assert response.status_code == 400
    assert "start" in response.json()


def test_a_start_without_an_offset_is_refused(api_as, patient, frozen):
    response = book(api_as("front_desk"), patient=patient.pk, kind="counselling", date="2026-11-03",
                    start="2026-11-03T11:30:00")
    assert response.status_code == 400
    assert "start" in response.json()


def test_booking_on_a_closure_is_refused_with_its_reason(api_as, patient, clinic, frozen):
    ClosureFactory(clinic=clinic, date=date(2026, 11, 26), reason="Thanksgiving")
    response = book(api_as("front_desk"), patient=patient.pk, kind="counselling", date="2026-11-26")
    assert response.status_code == 400
    assert "Thanksgiving" in response.json()["date"][0]


def test_a_closure_of_other_services_does_not_block_the_booking(api_as, patient, clinic, frozen):
    ClosureFactory(clinic=clinic, date=date(2026, 11, 26), reason="Oral dosing closed", services=["methadone"])
    response = book(api_as("front_desk"), patient=patient.pk, kind="counselling", date="2026-11-26")
    assert response.status_code == 201


def test_booking_on_a_weekday_without_a_window_is_refused(api_as, patient, frozen):
    # The counselling window runs Monday to Friday; 7 November 2026 is a Saturday.
    response = book(api_as("front_desk"), patient=patient.pk, kind="counselling", date="2026-11-07")
    assert response.status_code == 400
    assert "Saturdays" in response.json()["date"][0]


def test_booking_in_the_past_is_refused(api_as, patient, frozen):
    response = book(api_as("front_desk"), patient=patient.pk, kind="counselling", date="2026-11-01")
    assert response.status_code == 400
    assert "past" in response.json()["date"][0]


def test_today_is_bookable_until_the_window_has_ended(api_as, patient, frozen):
    frozen.move_to("2026-11-02T17:59:00+00:00")  # 12:59 in New York: the 11:00–13:00 window is still open
    assert book(api_as("front_desk"), patient=patient.pk, kind="counselling", date="2026-11-02").status_code == 201
    other = PatientFactory(clinic=patient.clinic)
    frozen.move_to("2026-11-02T18:00:00+00:00")  # 13:00: it has ended
    response = book(api_as("front_desk"), patient=other.pk, kind="counselling", date="2026-11-02")
    assert response.status_code == 400
    assert "ended" in response.json()["date"][0]


def test_a_full_window_answers_409(api_as, patient, clinic, counselling_window, frozen):
    counselling_window.capacity = 2
    counselling_window.save()
    for _ in range(2):
        make_visit(PatientFactory(clinic=clinic), window=counselling_window, kind="counselling")
    response = book(api_as("front_desk"), patient=patient.pk, kind="counselling", date="2026-11-02")
    assert response.status_code == 409
    assert "full" in response.json()["detail"]


def test_cancelled_and_excused_visits_free_their_place_and_missed_ones_hold_it(
    api_as, patient, clinic, counselling_window, frozen
):
    counselling_window.capacity = 2
    counselling_window.save()
    make_visit(PatientFactory(clinic=clinic), window=counselling_window, kind="counselling", status="cancelled")
    make_visit(PatientFactory(clinic=clinic), window=counselling_window, kind="counselling", status="excused")
    make_visit(PatientFactory(clinic=clinic), window=counselling_window, kind="counselling", status="missed")
    assert book(api_as("front_desk"), patient=patient.pk, kind="counselling", date="2026-11-02").status_code == 201
    late = PatientFactory(clinic=clinic)
    assert book(api_as("front_desk"), patient=late.pk, kind="counselling", date="2026-11-02").status_code == 409


def test_a_patient_cannot_be_booked_twice_into_overlapping_times(api_as, patient, counselling_window, frozen):
    make_visit(patient, window=counselling_window, kind="assessment")
    response = book(api_as("front_desk"), patient=patient.pk, kind="counselling", date="2026-11-02")
    assert response.status_code == 409
    assert "already booked" in response.json()["detail"]


def test_a_plan_of_another_patient_is_refused(api_as, patient, clinic, frozen):
    someone_else = PlanFactory(patient=PatientFactory(clinic=clinic), start_date=MONDAY)
    response = book(api_as("nurse"), patient=patient.pk, kind="dose", date="2026-11-03", plan=someone_else.pk)
    assert response.status_code == 400
    assert "another patient" in response.json()["plan"][0]


def test_a_patient_of_another_clinic_answers_404(api_as, other_clinic, frozen):
    stranger = PatientFactory(clinic=other_clinic)
    response = book(api_as("admin"), patient=stranger.pk, kind="counselling", date="2026-11-03")
    assert response.status_code == 404


def test_booking_more_than_a_year_ahead_is_refused(api_as, patient, frozen):
    far = (MONDAY + timedelta(days=400)).isoformat()
    response = book(api_as("front_desk"), patient=patient.pk, kind="counselling", date=far)
    assert response.status_code == 400


def test_an_injection_kind_on_an_oral_plan_is_refused(api_as, patient, plan, frozen):
    response = book(api_as("nurse"), patient=patient.pk, kind="injection", date="2026-11-03", plan=plan.pk)
    assert response.status_code == 400
    assert "kind" in response.json()
