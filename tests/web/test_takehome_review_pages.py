"""Take-home reviews on the staff pages: due on the escalations page and the patient page; clinicians record them."""

from __future__ import annotations

from datetime import date

import pytest

from scheduler.models import Plan
from tests.factories import PatientFactory, PlanFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def three_days(clinic) -> Plan:
    """Methadone Mon/Wed/Fri at a clinic dosing Mon–Sat: Tue, Thu and Sat are earned take-homes, never reviewed."""
    patient = PatientFactory(clinic=clinic, first_name="Ana", last_name="Reyes", mrn="MRN-31")
    return PlanFactory(
        patient=patient, medication="methadone", start_date=date(2026, 9, 1), attendance_weekdays=[0, 2, 4]
    )


def test_a_clinician_records_a_due_review_from_the_escalations_page(client_as, clinic, three_days, staff, morning):
    client = client_as("clinician")
    page = client.get(f"/clinics/{clinic.pk}/escalations/").content.decode()
    assert 'Take-home reviews due <span class="muted">(1)</span>' in page
    assert "Reyes, Ana" in page and "never reviewed · due since 2026-09-01" in page
    response = client.post(
        f"/plans/{three_days.pk}/takehome-review/", {"next": f"/clinics/{clinic.pk}/escalations/"}, follow=True
    )
    assert response.redirect_chain[-1][0] == f"/clinics/{clinic.pk}/escalations/"
    text = response.content.decode()
    assert "Take-home review recorded for MRN MRN-31." in text
    assert 'Take-home reviews due <span class="muted">(0)</span>' in text
    three_days.refresh_from_db()
    assert three_days.takehome_approved_by == staff["clinician"] and three_days.takehome_approved_at == morning


def test_the_patient_page_shows_the_review_and_when_the_next_is_due(client_as, three_days, morning):
    client = client_as("clinician")
    page = client.get(f"/patients/{three_days.patient_id}/").content.decode()
    assert "Take-home review" in page and "never reviewed" in page and "review due since 2026-09-01" in page
    client.post(f"/plans/{three_days.pk}/takehome-review/")
    page = client.get(f"/patients/{three_days.patient_id}/").content.decode()
    assert "last reviewed 2026-11-16" in page and "next review by 2027-02-14" in page  # 90 days later


def test_other_roles_see_reviews_due_but_cannot_record_them(client_as, clinic, three_days, morning):
    for role in ("front_desk", "nurse", "manager"):
        client = client_as(role)
        page = client.get(f"/clinics/{clinic.pk}/escalations/").content.decode()
        assert "Reyes, Ana" in page and f"/plans/{three_days.pk}/takehome-review/" not in page
        assert client.post(f"/plans/{three_days.pk}/takehome-review/").status_code == 403
    three_days.refresh_from_db()
    assert three_days.takehome_approved_at is None


def test_a_plan_without_earned_take_homes_is_not_listed(client_as, clinic, morning):
    PlanFactory(patient=PatientFactory(clinic=clinic, last_name="Daily"), medication="methadone",
                start_date=date(2026, 9, 1), attendance_weekdays=[0, 1, 2, 3, 4, 5])
    page = client_as("clinician").get(f"/clinics/{clinic.pk}/escalations/").content.decode()
    assert 'Take-home reviews due <span class="muted">(0)</span>' in page and "Daily" not in page


def test_another_clinics_plan_is_not_found(client_as, other_clinic, morning):
    plan = PlanFactory(patient=PatientFactory(clinic=other_clinic), medication="methadone", attendance_weekdays=[0])
    assert client_as("clinician").post(f"/plans/{plan.pk}/takehome-review/").status_code == 404
