"""The Celery tasks and management commands are thin shells over the sweep and generation."""

from __future__ import annotations

from datetime import date
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command

from jobs import tasks
from tests.visits.missed.conftest import at, complete, generate, visit_on
from visits.models import Visit

MON, TUE = date(2026, 11, 2), date(2026, 11, 3)


def test_the_tasks_have_the_names_beat_schedules():
    assert tasks.generate_visits.name == "visits.tasks.generate_visits"
    assert tasks.mark_missed_visits.name == "visits.tasks.mark_missed_visits"


def test_the_sweep_task_hands_each_new_check_in_to_notifications_once(make_plan, monkeypatch):
    calls = []
    monkeypatch.setattr(tasks, "missed_checkin_create", lambda **kwargs: calls.append(kwargs))
    plan = make_plan(start_date=MON)
    generate(plan, MON)
    complete(visit_on(plan, MON))
    with time_machine.travel(at(TUE, 11, 30), tick=False):
        summary = tasks.mark_missed_visits.run()
        again = tasks.mark_missed_visits.run()
    assert summary["missed"] == 1
    assert summary["checkins_sent"] == 1
    assert again["checkins_sent"] == 0
    assert calls == [{"patient": plan.patient, "visit": visit_on(plan, TUE), "today": TUE}]


def test_a_failing_check_in_never_stops_the_others(make_plan, monkeypatch):
    first = make_plan(start_date=MON)
    second = make_plan(start_date=MON)
    sent = []

    def create(*, patient, visit, today):
        if patient.pk == first.patient_id:
            raise RuntimeError("provider down")
        sent.append(patient.pk)

    monkeypatch.setattr(tasks, "missed_checkin_create", create)
    for plan in (first, second):
        generate(plan, MON)
    with time_machine.travel(at(MON, 11, 30), tick=False):
        summary = tasks.mark_missed_visits.run()
    assert summary["checkins_sent"] == 1
    assert sent == [second.patient_id]


def test_generation_then_plans_missing_reminders(make_plan, monkeypatch):
    planned = []
    monkeypatch.setattr(tasks, "reminders_plan_missing", lambda **kwargs: planned.append(kwargs) or 4)
    plan = make_plan(start_date=MON)
    with time_machine.travel(at(MON, 6), tick=False):
        summary = tasks.generate_visits.run(horizon_days=3)
    assert summary["created"] == 3
    assert summary["reminders"] == 4
    assert planned == [{"horizon_days": 3}]
    assert Visit.objects.filter(plan=plan).count() == 3


def test_the_generate_visits_command_prints_a_summary(make_plan, clinic, monkeypatch):
    monkeypatch.setattr(tasks, "reminders_plan_missing", lambda **kwargs: 0)
    make_plan(start_date=MON)
    out = StringIO()
    with time_machine.travel(at(MON, 6), tick=False):
        call_command("generate_visits", "--horizon-days", "7", "--clinic", str(clinic.pk), stdout=out)
    assert "1 plans, 6 created" in out.getvalue()


def test_the_mark_missed_command_replays_a_past_instant(make_plan, monkeypatch):
    monkeypatch.setattr(tasks, "reminders_plan_missing", lambda **kwargs: 0)
    plan = make_plan(start_date=MON)
    generate(plan, MON)
    out = StringIO()
    call_command("mark_missed_visits", "--now", "2026-11-03T11:30:00-05:00", stdout=out)
    assert "2 missed" in out.getvalue()
    assert visit_on(plan, TUE).missed_at == at(TUE, 11, 30)


def test_the_mark_missed_command_refuses_an_instant_without_offset():
    with pytest.raises(CommandError, match="offset"):
        call_command("mark_missed_visits", "--now", "2026-11-03T11:30:00")
