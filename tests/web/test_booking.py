"""Booking and rescheduling through the page, with live availability from the JSON endpoint."""

from __future__ import annotations

from datetime import date

import pytest

from tests.factories import ClosureFactory, PatientFactory
from visits.models import Visit

pytestmark = pytest.mark.django_db

TUESDAY = "2026-11-17"


def availability(client, clinic, day=TUESDAY, service="counselling"):
    return client.get(f"/clinics/{clinic.pk}/availability.json", {"date": day, "service": service})


def test_availability_lists_each_window_with_free_places(client_as, clinic, morning):
    data = availability(client_as("front_desk"), clinic).json()
    assert data["closed"] == ""
    [row] = data["results"]
    assert row["label"] == "11:00–13:00"
    assert (row["capacity"], row["booked"], row["remaining"]) == (6, 0, 6)


def test_availability_rejects_bad_input_with_400(client_as, clinic, morning):
    client = client_as("front_desk")
    assert availability(client, clinic, day="17/11/2026").status_code == 400
    assert availability(client, clinic, service="heroin").status_code == 400


def test_booking_a_visit_lowers_availability(client_as, clinic, patient, morning):
    client = client_as("front_desk")
    window_id = availability(client, clinic).json()["results"][0]["window_id"]
    response = client.post(
        f"/patients/{patient.pk}/book/submit/",
        {"kind": "counselling", "date": TUESDAY, "window": window_id},
        follow=True,
    )
    assert response.status_code == 200
    assert "Booked counselling on 2026-11-17 at 11:00." in response.content.decode()
    visit = Visit.objects.get(patient=patient, kind="counselling")
    assert visit.date == date(2026, 11, 17) and visit.window_id == window_id
    assert availability(client, clinic).json()["results"][0]["remaining"] == 5


def test_a_full_window_answers_409_with_a_clear_message(client_as, clinic, patient, morning):
    client = client_as("front_desk")
    for _ in range(6):
        other = PatientFactory(clinic=clinic)
        client.post(f"/patients/{other.pk}/book/submit/", {"kind": "counselling", "date": TUESDAY})
    assert availability(client, clinic).json()["results"][0]["remaining"] == 0
    response = client.post(f"/patients/{patient.pk}/book/submit/", {"kind": "counselling", "date": TUESDAY})
    assert response.status_code == 409
    assert "is full (6 visits)" in response.content.decode()


def test_a_closed_day_and_a_service_not_offered_answer_400(client_as, clinic, patient, morning):
    ClosureFactory(clinic=clinic, date=date(2026, 11, 17), reason="Staff training")
    client = client_as("front_desk")
    data = availability(client, clinic).json()
    assert data["results"] == [] and "Staff training" in data["closed"]
    response = client.post(f"/patients/{patient.pk}/book/submit/", {"kind": "counselling", "date": TUESDAY})
    assert response.status_code == 400
    assert "closed" in response.content.decode() and "Staff training" in response.content.decode()
    saturday = client.post(f"/patients/{patient.pk}/book/submit/", {"kind": "counselling", "date": "2026-11-21"})
    assert saturday.status_code == 400
    assert "No window offers counselling on Saturdays." in saturday.content.decode()


def test_a_visit_can_be_rescheduled_and_cancelled(client_as, clinic, patient, morning):
    client = client_as("front_desk")
    client.post(f"/patients/{patient.pk}/book/submit/", {"kind": "counselling", "date": TUESDAY})
    visit = Visit.objects.get(patient=patient)
    response = client.post(f"/visits/{visit.pk}/reschedule/", {"date": "2026-11-18"}, follow=True)
    assert "Moved visit to 2026-11-18 at 11:00." in response.content.decode()
    visit.refresh_from_db()
    assert visit.date == date(2026, 11, 18)
    client.post(f"/visits/{visit.pk}/cancel/", {"reason": "patient asked"})
    visit.refresh_from_db()
    assert visit.status == "cancelled"


def test_managers_cannot_book(client_as, patient, morning):
    response = client_as("manager").post(
        f"/patients/{patient.pk}/book/submit/", {"kind": "counselling", "date": TUESDAY}
    )
    assert response.status_code == 403
    assert not Visit.objects.filter(patient=patient).exists()
