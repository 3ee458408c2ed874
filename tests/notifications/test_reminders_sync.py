"""Planning reminders into the outbox: policy slots, quiet hours, caps, consent, moves, idempotence."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest
import time_machine

from notifications.models import Message, MessageTemplate, ReminderPolicy
from notifications.reminders import reminders_plan_missing, reminders_sync
from tests.factories import PatientFactory, PlanFactory

from .conftest import NY, make_visit

pytestmark = pytest.mark.django_db
FROZEN = datetime(2026, 10, 20, 16, 0, tzinfo=UTC)


def reminders(visit):
    return {m.slot: m for m in Message.objects.filter(visit=visit, purpose="reminder")}


@time_machine.travel(FROZEN, tick=False)
def test_it_plans_seven_day_and_one_day_reminders_for_an_injection(injection_plan):
    visit = make_visit(injection_plan, date(2026, 11, 10))
    assert reminders_sync(visit_ids=[visit.pk]) == 2
    slots = reminders(visit)
    assert set(slots) == {"7d", "1d"}
    assert slots["7d"].scheduled_for == datetime(2026, 11, 3, 10, tzinfo=NY)
    assert slots["1d"].scheduled_for == datetime(2026, 11, 9, 10, tzinfo=NY)
    body = slots["1d"].body
    assert body.startswith("Hi Maria, a reminder of your appointment at Riverside Health on Tue Nov 10 at 11:00 AM.")
    assert len(body) <= 160 and "+12125550100" in body
    assert all(m.status == "pending" and m.to_number == "+12125550123" for m in slots.values())


@time_machine.travel(FROZEN, tick=False)
def test_planning_is_idempotent(injection_plan):
    visit = make_visit(injection_plan, date(2026, 11, 10))
    reminders_sync(visit_ids=[visit.pk])
    assert reminders_sync(visit_ids=[visit.pk, visit.pk]) == 0
    assert Message.objects.count() == 2


@time_machine.travel(FROZEN, tick=False)
def test_the_one_day_reminder_on_the_new_york_fall_back_day_uses_local_time(injection_plan):
    visit = make_visit(injection_plan, date(2026, 11, 2))
    reminders_sync(visit_ids=[visit.pk])
    assert reminders(visit)["1d"].scheduled_for == datetime(2026, 11, 1, 15, 0, tzinfo=UTC)  # 10:00 EST
    assert reminders(visit)["7d"].scheduled_for == datetime(2026, 10, 26, 14, 0, tzinfo=UTC)  # 10:00 EDT


@time_machine.travel(datetime(2026, 10, 10, 12, 0, tzinfo=UTC), tick=False)
def test_a_london_patient_gets_reminders_in_london_time_across_the_clock_change(injection_plan):
    patient = injection_plan.patient
    patient.timezone = "Europe/London"
    patient.save(update_fields=["timezone"])
    visit = make_visit(injection_plan, date(2026, 10, 26))
    reminders_sync(visit_ids=[visit.pk])
    slots = reminders(visit)
    assert slots["1d"].scheduled_for == datetime(2026, 10, 25, 10, 0, tzinfo=UTC)  # 10:00 GMT
    assert slots["7d"].scheduled_for == datetime(2026, 10, 19, 9, 0, tzinfo=UTC)  # 10:00 BST


@time_machine.travel(FROZEN, tick=False)
def test_a_send_time_outside_allowed_hours_is_moved_inside(injection_plan):
    ReminderPolicy.objects.create(
        clinic=injection_plan.patient.clinic, medication="naltrexone_xr", days_before=[1], send_at=time(7, 0)
    )
    visit = make_visit(injection_plan, date(2026, 11, 10))
    reminders_sync(visit_ids=[visit.pk])
    assert set(reminders(visit)) == {"1d"}  # the clinic's own policy wins over the default
    assert reminders(visit)["1d"].scheduled_for == datetime(2026, 11, 9, 9, 0, tzinfo=NY)


@time_machine.travel(FROZEN, tick=False)
def test_a_same_day_reminder_before_an_early_visit_moves_to_the_evening_before(injection_plan):
    ReminderPolicy.objects.create(
        clinic=injection_plan.patient.clinic, medication="naltrexone_xr", days_before=[0], send_at=time(7, 0)
    )
    visit = make_visit(injection_plan, date(2026, 11, 10), at=time(8, 30))
    reminders_sync(visit_ids=[visit.pk])
    assert reminders(visit)["0d"].scheduled_for == datetime(2026, 11, 9, 20, 0, tzinfo=NY)


@time_machine.travel(datetime(2026, 11, 5, 16, 0, tzinfo=UTC), tick=False)
def test_a_reminder_whose_time_has_passed_is_not_planned(injection_plan):
    visit = make_visit(injection_plan, date(2026, 11, 10))
    reminders_sync(visit_ids=[visit.pk])
    assert set(reminders(visit)) == {"1d"}


@time_machine.travel(FROZEN, tick=False)
def test_daily_dosing_and_diamorphine_get_no_routine_reminders(patient):
    for medication in ("methadone", "buprenorphine", "diamorphine"):
        plan = PlanFactory(patient=patient, medication=medication)
        visit = make_visit(plan, date(2026, 11, 10))
        reminders_sync(visit_ids=[visit.pk])
        assert reminders(visit) == {}


@time_machine.travel(FROZEN, tick=False)
def test_the_weekly_injection_gets_one_day_before_only(patient):
    plan = PlanFactory(patient=patient, medication="buprenorphine_xr_weekly", interval_days=7)
    visit = make_visit(plan, date(2026, 11, 10))
    reminders_sync(visit_ids=[visit.pk])
    assert set(reminders(visit)) == {"1d"}


@time_machine.travel(FROZEN, tick=False)
@pytest.mark.parametrize(
    "change", [{"sms_consent": False}, {"sms_opted_out": True}, {"phone": ""}, {"phone_invalid": True}]
)
def test_no_reminder_without_consent_or_a_usable_number(injection_plan, change):
    patient = injection_plan.patient
    for key, value in change.items():
        setattr(patient, key, value)
    patient.save()
    visit = make_visit(injection_plan, date(2026, 11, 10))
    reminders_sync(visit_ids=[visit.pk])
    assert reminders(visit) == {}


@time_machine.travel(FROZEN, tick=False)
def test_a_moved_visit_re_plans_its_pending_reminders(injection_plan):
    visit = make_visit(injection_plan, date(2026, 11, 10))
    reminders_sync(visit_ids=[visit.pk])
    visit.date = date(2026, 11, 12)
    visit.start = datetime(2026, 11, 12, 14, 0, tzinfo=NY)
    visit.save()
    assert reminders_sync(visit_ids=[visit.pk]) == 2
    slots = reminders(visit)
    assert slots["1d"].scheduled_for == datetime(2026, 11, 11, 10, tzinfo=NY)
    assert "Thu Nov 12 at 2:00 PM" in slots["1d"].body
    assert Message.objects.count() == 2


@time_machine.travel(FROZEN, tick=False)
@pytest.mark.parametrize("status", ["cancelled", "excused", "completed", "missed"])
def test_a_visit_no_longer_scheduled_skips_its_pending_reminders(injection_plan, status):
    visit = make_visit(injection_plan, date(2026, 11, 10))
    reminders_sync(visit_ids=[visit.pk])
    visit.status = status
    visit.save()
    reminders_sync(visit_ids=[visit.pk])
    assert {(m.status, m.status_reason) for m in reminders(visit).values()} == {("skipped", f"visit {status}")}


@time_machine.travel(FROZEN, tick=False)
def test_a_sent_reminder_is_never_re_planned(injection_plan):
    visit = make_visit(injection_plan, date(2026, 11, 10))
    reminders_sync(visit_ids=[visit.pk])
    Message.objects.filter(visit=visit, slot="7d").update(status="sent")
    visit.status = "cancelled"
    visit.save()
    reminders_sync(visit_ids=[visit.pk])
    assert reminders(visit)["7d"].status == "sent"


@time_machine.travel(FROZEN, tick=False)
def test_at_most_one_reminder_a_day(patient):
    first = PlanFactory(patient=patient, medication="naltrexone_xr")
    second = PlanFactory(patient=patient, medication="buprenorphine_xr_weekly")
    a = make_visit(first, date(2026, 11, 10))
    b = make_visit(second, date(2026, 11, 10), at=time(12, 0))
    reminders_sync(visit_ids=[a.pk, b.pk])
    assert set(reminders(a)) == {"7d", "1d"}
    assert reminders(b) == {}  # its only reminder falls on the day a's 1d reminder already takes


@time_machine.travel(FROZEN, tick=False)
def test_at_most_three_reminders_a_week(patient):
    plan = PlanFactory(patient=patient, medication="buprenorphine_xr_weekly")
    ReminderPolicy.objects.create(clinic=patient.clinic, medication="buprenorphine_xr_weekly", days_before=[1])
    visits = [make_visit(plan, date(2026, 11, d)) for d in (3, 5, 7, 9)]
    reminders_sync(visit_ids=[v.pk for v in visits])
    planned = Message.objects.filter(patient=patient).order_by("scheduled_for")
    assert [m.visit_id for m in planned] == [v.pk for v in visits[:3]]


@time_machine.travel(FROZEN, tick=False)
def test_a_spanish_speaking_patient_gets_the_spanish_template(injection_plan):
    patient = injection_plan.patient
    patient.language = "es"
    patient.save()
    visit = make_visit(injection_plan, date(2026, 11, 10))
    reminders_sync(visit_ids=[visit.pk])
    assert reminders(visit)["1d"].body.startswith(
        "Hola Maria, le recordamos su cita en Riverside Health el 10/11 a las 11:00."
    )


@time_machine.travel(FROZEN, tick=False)
def test_an_unknown_language_falls_back_to_english(injection_plan):
    patient = injection_plan.patient
    patient.language = "pl"
    patient.save()
    visit = make_visit(injection_plan, date(2026, 11, 10))
    reminders_sync(visit_ids=[visit.pk])
    assert reminders(visit)["1d"].body.startswith("Hi Maria")


@time_machine.travel(FROZEN, tick=False)
def test_a_clinic_sms_name_with_a_forbidden_word_plans_nothing(injection_plan):
    clinic = injection_plan.patient.clinic
    clinic.sms_name = "Eastside Methadone"
    clinic.save()
    visit = make_visit(injection_plan, date(2026, 11, 10))
    reminders_sync(visit_ids=[visit.pk])
    assert reminders(visit) == {}


@time_machine.travel(FROZEN, tick=False)
def test_a_clinic_template_overrides_the_default(injection_plan):
    clinic = injection_plan.patient.clinic
    MessageTemplate.objects.create(
        clinic=clinic,
        purpose="reminder",
        language="en",
        body="{first_name}: see you {date} {time} at {clinic}. {phone}. STOP to opt out.",
    )
    visit = make_visit(injection_plan, date(2026, 11, 10))
    reminders_sync(visit_ids=[visit.pk])
    assert reminders(visit)["1d"].body.startswith("Maria: see you Tue Nov 10 11:00 AM")


@time_machine.travel(FROZEN, tick=False)
def test_planning_many_visits_takes_a_bounded_number_of_queries(clinic, django_assert_max_num_queries):
    visits = []
    for i in range(25):
        plan = PlanFactory(patient=PatientFactory(clinic=clinic), medication="naltrexone_xr")
        visits.append(make_visit(plan, date(2026, 11, 1 + i)))
    with django_assert_max_num_queries(12):
        reminders_sync(visit_ids=[v.pk for v in visits])
    assert Message.objects.count() == 50


@time_machine.travel(FROZEN, tick=False)
def test_the_safety_net_plans_reminders_for_visits_in_the_horizon(injection_plan):
    inside = make_visit(injection_plan, date(2026, 11, 10))
    outside = make_visit(injection_plan, date(2026, 12, 30))
    assert reminders_plan_missing(today=date(2026, 10, 20), horizon_days=28) == 2
    assert set(reminders(inside)) == {"7d", "1d"}
    assert reminders(outside) == {}
    assert reminders_plan_missing(today=date(2026, 10, 20), horizon_days=28) == 0


def test_zoneinfo_sanity():
    assert ZoneInfo("America/New_York").key == "America/New_York"
