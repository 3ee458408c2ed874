"""seed_demo's day (issue #13): something to act on at any hour of the clinic's day (a window open now with patients
in it), texts from patients waiting as front-desk tasks, delivered texts, consent recorded with who and the words;
a second run changes nothing."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command

from jobs.management.commands.seed_demo import WINDOWS
from notifications.models import InboundMessage, Message
from scheduler.models import Clinic, Patient
from scheduler.privacy_words import find_all_forbidden_words
from scheduler.services import CONSENT_WORDS
from visits.models import StaffTask, Visit

NEW_YORK = ZoneInfo("America/New_York")
# Monday 7 December 2026 and the Sunday before: no public holiday.
MONDAY = datetime(2026, 12, 7, tzinfo=NEW_YORK)
SUNDAY = datetime(2026, 12, 6, tzinfo=NEW_YORK)


def _open_at(weekday: int, moment: time) -> bool:
    return any(weekday in w.weekdays and w.start <= moment < w.end for w in WINDOWS)


@pytest.mark.parametrize("weekday", range(7))
def test_some_window_is_open_at_every_quarter_hour_of_the_clinics_day(weekday):
    opens = min(w.start for w in WINDOWS if weekday in w.weekdays)
    closes = max(w.end for w in WINDOWS if weekday in w.weekdays)
    assert opens <= time(8) and closes >= time(17)
    moment = datetime.combine(MONDAY.date(), opens)
    while moment.time() < closes:
        assert _open_at(weekday, moment.time()), f"no window open on weekday {weekday} at {moment:%H:%M}"
        moment += timedelta(minutes=15)


def _seed() -> Clinic:
    call_command("seed_demo", stdout=StringIO())
    return Clinic.objects.get(name__contains="demo")


def _state(clinic: Clinic) -> tuple:
    visits = Visit.objects.filter(clinic=clinic).order_by("id").values_list("id", "status", "start", "window_id")
    messages = Message.objects.order_by("id").values_list("id", "status", "body")
    tasks = StaffTask.objects.order_by("id").values_list("id", "kind", "detail")
    return list(visits), list(messages), list(tasks), InboundMessage.objects.count()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "moment",
    [
        MONDAY.replace(hour=6, minute=30),
        MONDAY.replace(hour=9, minute=50),
        MONDAY.replace(hour=10, minute=15),
        MONDAY.replace(hour=12, minute=45),
        MONDAY.replace(hour=14, minute=30),
        MONDAY.replace(hour=16, minute=45),
        SUNDAY.replace(hour=12, minute=0),
    ],
    ids=lambda m: f"{m:%a-%H%M}",
)
def test_whenever_the_demo_is_seeded_during_the_day_a_window_open_now_has_patients_to_see(moment):
    with time_machine.travel(moment, tick=False):
        clinic = _seed()
        now = moment
        in_progress = Visit.objects.filter(
            clinic=clinic, date=moment.date(), start__lte=now, end__gt=now, status__in=["scheduled", "checked_in"]
        )
        assert in_progress.exists(), f"nothing to act on at {moment:%a %H:%M}"
        assert in_progress.filter(status="checked_in").exists()  # someone is waiting to be seen
        assert all(v.window.start <= moment.time() < v.window.end for v in in_progress.select_related("window"))
        # Visits of windows that closed earlier today are done, but for a few the missed sweep will catch.
        ended = Visit.objects.filter(clinic=clinic, date=moment.date(), end__lte=now)
        if ended.count() >= 7:
            assert ended.filter(status="completed").count() > ended.filter(status="scheduled").count() > 0
        assert not Visit.objects.filter(clinic=clinic, date=moment.date(), start__gt=now).exclude(
            status__in=["scheduled", "cancelled"]
        ).exists()


@pytest.mark.django_db(transaction=True)
def test_the_demo_day_has_patients_waiting_texts_from_patients_delivered_texts_and_consent_records():
    moment = MONDAY.replace(hour=14, minute=20)
    with time_machine.travel(moment, tick=False):
        clinic = _seed()
        # Two patients of the window open now are checked in and wait to be seen; some come in the afternoon.
        waiting = Visit.objects.filter(clinic=clinic, date=moment.date(), status="checked_in")
        assert waiting.count() == 2
        assert all(v.checked_in_by.username == "demo_front_desk" for v in waiting)
        todays = Visit.objects.filter(clinic=clinic, date=moment.date())
        assert todays.filter(reason__startswith="Comes in the afternoon", window__start=time(13)).count() == 4
        assert todays.filter(kind__in=["counselling", "assessment"]).count() == 3

        # Texts from patients became the front desk's tasks, each for the patient whose number sent it.
        inbound = list(InboundMessage.objects.select_related("patient", "task"))
        assert sorted(m.handled_as for m in inbound) == ["confirm", "confirm", "inbox", "late", "reschedule_request"]
        assert all(m.patient is not None and m.task is not None and m.task.patient_id == m.patient_id for m in inbound)
        assert all(m.from_number == m.patient.phone for m in inbound)
        assert StaffTask.objects.filter(clinic=clinic, done_at__isnull=True).count() == 5

        # Delivered reminders, sent before now, neutral (no treatment words), to consenting patients.
        delivered = list(Message.objects.filter(status="delivered").select_related("patient"))
        assert len(delivered) >= 3
        assert all(m.sent_at <= moment and m.delivered_at > m.sent_at for m in delivered)
        assert all(m.patient.sms_consent and m.to_number == m.patient.phone for m in delivered)
        assert not any(find_all_forbidden_words(m.body) for m in delivered)
        assert all("Riverside Health" in m.body and len(m.body) <= 160 for m in delivered)

        # Consent recorded by the front desk with the words read to the patient.
        consenting = Patient.objects.filter(clinic=clinic, sms_consent=True)
        assert consenting.exists() and Patient.objects.filter(clinic=clinic, sms_consent=False).exists()
        assert set(consenting.values_list("sms_consent_by__username", "sms_consent_words")) == {
            ("demo_front_desk", CONSENT_WORDS)
        }

        before = _state(clinic)
        call_command("seed_demo", stdout=StringIO())
        assert _state(clinic) == before


@pytest.mark.django_db(transaction=True)
def test_seeded_in_the_morning_a_second_run_in_the_afternoon_changes_nothing():
    with time_machine.travel(MONDAY.replace(hour=7), tick=False):
        clinic = _seed()
        before = _state(clinic)
    with time_machine.travel(MONDAY.replace(hour=15), tick=False):
        call_command("seed_demo", stdout=StringIO())
    assert _state(clinic) == before


@pytest.mark.django_db(transaction=True)
def test_a_demo_seeded_before_the_day_was_covered_gets_its_windows_and_texts_on_the_next_run():
    from scheduler.models import DosingWindow

    with time_machine.travel(MONDAY.replace(hour=11), tick=False):
        clinic = _seed()
        DosingWindow.objects.filter(clinic=clinic, start=time(10)).exclude(weekdays=[6]).update(
            start=time(10, 30), end=time(12, 30), weekdays=[0, 1, 2, 3, 4]
        )
        DosingWindow.objects.filter(clinic=clinic, weekdays=[6], start=time(10)).delete()
        InboundMessage.objects.all().delete()
        Message.objects.all().delete()
        StaffTask.objects.all().delete()
        call_command("seed_demo", stdout=StringIO())
        windows = set(DosingWindow.objects.filter(clinic=clinic).values_list("start", "end"))
        assert {(time(10), time(13)), (time(10), time(15))} <= windows and (time(10, 30), time(12, 30)) not in windows
        assert InboundMessage.objects.count() == 5 and Message.objects.filter(status="delivered").exists()
        before = _state(clinic)
        call_command("seed_demo", stdout=StringIO())
        assert _state(clinic) == before
