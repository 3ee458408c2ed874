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


@pytest.mark.django_db
def test_a_clinician_suspending_take_homes_is_never_refused_for_lack_of_room_staff_book_what_does_not_fit(
    api_as, clinic
):
    from datetime import time, timedelta

    from tests.factories import PlanFactory
    from visits.generation import visits_generate
    from visits.models import StaffTask

    window = clinic.windows.get(start=time(7, 0))
    window.capacity = 1
    window.save()
    tuesday = date(2026, 11, 3)
    Visit.objects.create(patient=PatientFactory(clinic=clinic), clinic=clinic, kind="counselling", date=tuesday,
                         window=window, source="manual", edited=True)
    plan = PlanFactory(patient=PatientFactory(clinic=clinic), medication="methadone", start_date=date(2026, 11, 2),
                       treatment_start=date(2026, 11, 2) - timedelta(days=60), attendance_weekdays=[0, 2, 4])
    visits_generate(horizon_days=7)
    assert not Visit.objects.filter(plan=plan, date=tuesday).exists()  # a take-home day

    response = api_as("clinician").post(f"/api/v1/plans/{plan.pk}/takehome-review/", {"approved": False},
                                        format="json")

    assert response.status_code == 200, response.json()
    # Take-home days became visit days; Tuesday's window is full, so that visit is left out and staff are told.
    assert Visit.objects.filter(plan=plan, date=date(2026, 11, 5)).exists()
    assert not Visit.objects.filter(plan=plan, date=tuesday).exists()
    task = StaffTask.objects.get(kind="unplaced_visit", patient=plan.patient)
    assert "Tue 3 Nov" in task.detail
