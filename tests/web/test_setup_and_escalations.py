"""Clinic setup for admins and the escalations inbox for clinicians."""

from __future__ import annotations

from datetime import date

import pytest

from scheduler.models import Closure, DosingWindow
from visits.models import Escalation

pytestmark = pytest.mark.django_db


def test_admins_add_and_delete_windows_and_closures(client_as, clinic, morning):
    client = client_as("admin")
    page = client.get(f"/clinics/{clinic.pk}/setup/").content.decode()
    assert "Dosing windows" in page and "Rule set" in page and "Reminder templates" in page
    assert "reviewed by a clinician at least every 90 days" in page
    response = client.post(
        f"/clinics/{clinic.pk}/setup/windows/",
        {"weekdays": ["5", "6"], "start": "09:00", "end": "11:00", "services": ["counselling"], "capacity": "3"},
    )
    assert response.status_code == 302
    window = DosingWindow.objects.get(clinic=clinic, start="09:00")
    assert window.weekdays == [5, 6] and window.capacity == 3
    client.post(f"/clinics/{clinic.pk}/setup/windows/{window.pk}/delete/")
    assert not DosingWindow.objects.filter(pk=window.pk).exists()

    client.post(f"/clinics/{clinic.pk}/setup/closures/", {"date": "2026-12-24", "reason": "Christmas Eve"})
    closure = Closure.objects.get(clinic=clinic, date=date(2026, 12, 24))
    assert "Christmas Eve" in client.get(f"/clinics/{clinic.pk}/setup/").content.decode()
    client.post(f"/clinics/{clinic.pk}/setup/closures/{closure.pk}/delete/")
    assert not Closure.objects.filter(pk=closure.pk).exists()


def test_an_invalid_window_is_shown_with_its_errors(client_as, clinic, morning):
    response = client_as("admin").post(
        f"/clinics/{clinic.pk}/setup/windows/",
        {"weekdays": ["0"], "start": "11:00", "end": "09:00", "services": ["counselling"], "capacity": "3"},
    )
    assert response.status_code == 400
    assert "must end after it starts" in response.content.decode()


def test_public_holidays_are_imported_with_a_button(client_as, clinic, morning):
    response = client_as("admin").post(f"/clinics/{clinic.pk}/setup/holidays/", {"year": "2027"}, follow=True)
    assert response.status_code == 200
    assert "public holidays for 2027" in response.content.decode()
    assert Closure.objects.filter(clinic=clinic, date=date(2027, 7, 5)).exists()  # Independence Day (observed)


def test_only_admins_change_setup(client_as, clinic, morning):
    response = client_as("clinician").post(f"/clinics/{clinic.pk}/setup/closures/", {"date": "2026-12-24"})
    assert response.status_code == 403
    assert not Closure.objects.filter(clinic=clinic).exists()


@pytest.fixture
def hold(clinic, plan):
    return Escalation.objects.create(
        patient=plan.patient,
        plan=plan,
        clinic=clinic,
        kind="hold",
        reason="3 consecutive days without medication",
        consecutive_missed=3,
        anchor_date=date(2026, 11, 12),
    )


def test_clinicians_resolve_escalations_with_a_note(client_as, clinic, hold, morning):
    client = client_as("clinician")
    page = client.get(f"/clinics/{clinic.pk}/escalations/").content.decode()
    assert "Okafor, Jordan" in page and "Resolution note" in page
    empty = client.post(f"/escalations/{hold.pk}/resolve/", {"note": "  "})
    assert empty.status_code == 400
    response = client.post(f"/escalations/{hold.pk}/resolve/", {"note": "Seen; dose reduced"}, follow=True)
    assert "Resolved: Hold for MRN MRN-4711." in response.content.decode()
    hold.refresh_from_db()
    assert hold.resolved_at is not None and hold.resolution_note == "Seen; dose reduced"
    again = client.post(f"/escalations/{hold.pk}/resolve/", {"note": "twice"})
    assert again.status_code == 409


def test_nurses_see_the_inbox_but_cannot_resolve(client_as, clinic, hold, morning):
    client = client_as("nurse")
    page = client.get(f"/clinics/{clinic.pk}/escalations/").content.decode()
    assert "Okafor, Jordan" in page and "Resolution note" not in page
    assert client.post(f"/escalations/{hold.pk}/resolve/", {"note": "x"}).status_code == 403
    hold.refresh_from_db()
    assert hold.resolved_at is None
