"""The drift list on the escalations inbox (issue #17): patients whose attendance is falling show where the front desk
works, before the ladder fires; the button creates one outreach task and comes back to the page it was pressed on."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import PatientFactory
from visits.models import StaffTask

pytestmark = pytest.mark.django_db


def _drift_section(page: str) -> str:
    assert "Patients drifting away" in page
    return page.split("Patients drifting away", 1)[1]


@pytest.mark.parametrize("role", ["front_desk", "nurse", "clinician", "manager", "admin"])
def test_every_role_that_sees_the_inbox_sees_the_drift_list_with_the_patients_name(client_as, clinic, drifting, role):
    page = client_as(role).get(f"/clinics/{clinic.pk}/escalations/").content.decode()
    drift = _drift_section(page)
    assert "Okafor, Jordan" in drift and "10 / 56" in drift
    assert 'aria-label="Ask front desk to call Jordan Okafor"' in drift


def test_the_front_desk_asks_from_the_inbox_and_comes_back_to_it_with_its_filter(client_as, clinic, drifting):
    client = client_as("front_desk")
    back = f"/clinics/{clinic.pk}/escalations/?kind=hold"
    response = client.post(f"/clinics/{clinic.pk}/drift/outreach/", {"patient": drifting.pk, "next": back})
    assert response.status_code == 302 and response["Location"] == back
    client.post(f"/clinics/{clinic.pk}/drift/outreach/", {"patient": drifting.pk, "next": back})
    assert StaffTask.objects.filter(patient=drifting, kind="drift_outreach", done_at__isnull=True).count() == 1
    page = client.get(f"/clinics/{clinic.pk}/escalations/").content.decode()
    assert "Outreach task open" in _drift_section(page)


def test_the_button_refuses_another_clinics_patient_a_foreign_next_and_a_get(client_as, clinic, drifting):
    client = client_as("front_desk")
    url = f"/clinics/{clinic.pk}/drift/outreach/"
    assert client.post(url, {"patient": PatientFactory().pk}).status_code == 404
    assert client.post(url, {"patient": "1" * 20}).status_code == 404
    assert client.get(url).status_code == 405
    assert not StaffTask.objects.exists()
    response = client.post(url, {"patient": drifting.pk, "next": "https://evil.example/"})
    assert response["Location"] == f"/clinics/{clinic.pk}/escalations/"


def test_the_drift_list_costs_the_inbox_a_fixed_number_of_queries(client_as, clinic, drifting):
    client = client_as("front_desk")
    url = f"/clinics/{clinic.pk}/escalations/"
    client.get(url)
    with CaptureQueriesContext(connection) as one:
        client.get(url)
    for n in range(4):
        other = PatientFactory(clinic=clinic, first_name=f"Sam{n}", last_name="Drift", mrn=f"DRIFT-{n}")
        for visit in drifting.visits.all()[:66]:
            visit.pk = None
            visit.patient = other
            visit.plan = None
            visit.save()
    with CaptureQueriesContext(connection) as five:
        page = client.get(url).content.decode()
    assert page.count('aria-label="Ask front desk to call ') == 5
    assert len(five) == len(one)
