"""Calendar changes made through the API bring the outbox along in the same transaction:
a new plan's reminders exist as pending rows at once, and a moved or cancelled visit re-plans them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

from notifications.models import Message
from tests.factories import PatientFactory
from visits.models import Visit

NY = ZoneInfo("America/New_York")
NOW = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)  # Monday 10:00 in New York


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def create_injection_plan(api_as, clinic):
    patient = PatientFactory(clinic=clinic, sms_consent=True, phone="+12125550123")
    response = api_as("clinician").post(
        "/api/v1/plans/",
        {"patient": patient.pk, "medication": "naltrexone_xr", "start_date": "2026-11-20"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    return Visit.objects.get(plan_id=response.json()["id"], date=date(2026, 11, 20))


@pytest.mark.django_db
def test_a_new_plans_reminders_exist_as_pending_rows_at_once(api_as, clinic):
    visit = create_injection_plan(api_as, clinic)
    reminders = Message.objects.filter(visit=visit, purpose="reminder", status="pending").order_by("scheduled_for")
    # DOMAIN.md §5 defaults for injections: 7 days and 1 day before, inside quiet hours.
    assert [m.scheduled_for.astimezone(NY).date() for m in reminders] == [date(2026, 11, 13), date(2026, 11, 19)]
    assert all(9 <= m.scheduled_for.astimezone(NY).hour < 20 for m in reminders)


@pytest.mark.django_db
def test_rescheduling_a_visit_moves_its_pending_reminders(api_as, clinic):
    visit = create_injection_plan(api_as, clinic)
    response = api_as("front_desk").post(
        f"/api/v1/visits/{visit.pk}/reschedule/", {"date": "2026-11-24"}, format="json"
    )
    assert response.status_code == 200, response.json()
    day_before = Message.objects.get(visit=visit, purpose="reminder", slot="1d")
    assert day_before.status == "pending"
    assert day_before.scheduled_for.astimezone(NY).date() == date(2026, 11, 23)
    assert "Tue Nov 24" in day_before.body  # the body is rendered again for the new date


@pytest.mark.django_db
def test_cancelling_a_visit_skips_its_pending_reminders(api_as, clinic):
    visit = create_injection_plan(api_as, clinic)
    response = api_as("front_desk").post(f"/api/v1/visits/{visit.pk}/cancel/", {"reason": "moved away"}, format="json")
    assert response.status_code == 200
    statuses = set(Message.objects.filter(visit=visit, purpose="reminder").values_list("status", flat=True))
    assert statuses == {"skipped"}
