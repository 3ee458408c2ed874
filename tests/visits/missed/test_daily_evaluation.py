"""Issue #16: every plan in a streak is evaluated once per clinic-local day; later sweeps only newly missed plans."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from jobs import tasks
from scheduler.models import Plan
from tests.factories import ClinicFactory, PatientFactory, PlanFactory, WindowFactory, make_staff
from tests.visits.missed.conftest import at, generate, kinds, sweep, visit_on
from visits import missed
from visits.models import EscalationDay, Visit
from visits.services import visit_mark_missed

MON, TUE, WED, THU = (date(2026, 11, d) for d in range(2, 6))
STREAK_SQL = "HAVING max(v.date) FILTER"  # a line only `_STREAKS_SQL` has


def _in_a_streak(plan: Plan, first: date, days: int, missed_at: datetime) -> None:
    """Generate `days` of visits from `first` and record them all missed (as an earlier sweep would have)."""
    generate(plan, first, days=days)
    Visit.objects.filter(plan=plan).update(status="missed", missed_at=missed_at)


def _counted_sweep(when: datetime) -> tuple[missed.SweepResult, list[str]]:
    with CaptureQueriesContext(connection) as queries:
        result = sweep(when)
    return result, [q["sql"] for q in queries.captured_queries]


def test_a_second_sweep_of_the_day_runs_the_same_few_queries_for_5_or_50_plans_in_a_streak(make_plan):
    plans = [make_plan(start_date=MON) for _ in range(5)]
    for plan in plans:
        _in_a_streak(plan, MON, 2, at(TUE, 11))  # Monday and Tuesday missed; nothing booked from Wednesday
    first = sweep(at(WED, 6))
    assert (first.missed, first.plans_evaluated) == (0, 5)  # the day's first sweep evaluates every streak
    assert first.escalations_created > 0
    five, five_sql = _counted_sweep(at(WED, 7))
    plans += [make_plan(start_date=MON) for _ in range(45)]
    for plan in plans[5:]:
        _in_a_streak(plan, MON, 2, at(TUE, 11))
    fifty, fifty_sql = _counted_sweep(at(WED, 8))
    assert (five.plans_evaluated, fifty.plans_evaluated) == (0, 0)
    assert len(five_sql) == len(fifty_sql) <= 8
    assert not [sql for sql in five_sql + fifty_sql if STREAK_SQL in sql]
    # The next local day evaluates all fifty (one streak query) and raises the new plans' escalations.
    thursday, thursday_sql = _counted_sweep(at(THU, 0, 5))
    assert thursday.plans_evaluated == 50
    assert len([sql for sql in thursday_sql if STREAK_SQL in sql]) == 1
    assert kinds(plans[-1]) == kinds(plans[0])


def test_a_clinic_whose_day_is_recorded_is_not_evaluated_again_until_the_next_day(make_plan, clinic):
    plan = make_plan(start_date=MON)
    _in_a_streak(plan, MON, 2, at(TUE, 11))
    EscalationDay.objects.create(clinic=clinic, date=WED, rules_updated=clinic.rule_set.updated)
    assert sweep(at(WED, 9)).plans_evaluated == 0
    assert kinds(plan) == []
    assert sweep(at(THU, 0, 1)).plans_evaluated == 1
    assert kinds(plan) != []


def test_the_day_follows_the_clinics_zone_on_the_daylight_saving_change(make_plan, clinic):
    # 2026-11-01, New York falls back: the local day is 25 hours long (04:00 UTC to 05:00 UTC the next day).
    plan = make_plan(start_date=date(2026, 10, 29))
    _in_a_streak(plan, date(2026, 10, 29), 2, datetime(2026, 10, 30, 16, tzinfo=UTC))
    evaluated = [
        sweep(datetime(2026, 11, 1, 4, 30, tzinfo=UTC)).plans_evaluated,  # 00:30 EDT, the day's first sweep
        sweep(datetime(2026, 11, 2, 4, 30, tzinfo=UTC)).plans_evaluated,  # 23:30 EST: still November 1st
        sweep(datetime(2026, 11, 2, 5, 0, tzinfo=UTC)).plans_evaluated,  # 00:00 EST November 2nd
    ]
    assert evaluated == [1, 0, 1]
    assert sorted(EscalationDay.objects.filter(clinic=clinic).values_list("date", flat=True)) == [
        date(2026, 11, 1),
        date(2026, 11, 2),
    ]


def test_two_clinics_in_two_zones_each_start_their_day_at_their_own_midnight(make_plan, clinic, monkeypatch):
    west = ClinicFactory(name="Bayside Clinic", timezone="America/Los_Angeles")
    WindowFactory(clinic=west, weekdays=list(range(7)), start=time(7), end=time(10), services=["methadone"])
    make_plan(start_date=MON)
    PlanFactory(patient=PatientFactory(clinic=west), start_date=MON)
    for plan in Plan.objects.all():
        _in_a_streak(plan, MON, 2, at(TUE, 11))
    searched: list[set[int] | None] = []
    streaks = missed._plans_in_a_streak

    def spy(now: datetime, *, clinic_ids: set[int] | None = None) -> set[int]:
        searched.append(None if clinic_ids is None else set(clinic_ids))
        return streaks(now, clinic_ids=clinic_ids)

    monkeypatch.setattr(missed, "_plans_in_a_streak", spy)
    sweep(at(TUE, 23))  # 20:00 in Los Angeles: both clinics' Tuesday
    sweep(at(WED, 0, 30))  # New York's Wednesday, Los Angeles still on Tuesday
    sweep(at(WED, 2, 30))  # 23:30 in Los Angeles: nothing new
    sweep(at(WED, 3, 30))  # 00:30 in Los Angeles: its Wednesday
    assert searched == [{clinic.pk, west.pk}, {clinic.pk}, set(), {west.pk}]


def test_a_rule_set_edit_re_evaluates_its_clinic_the_same_day(make_plan, clinic):
    plan = make_plan(start_date=MON)
    _in_a_streak(plan, MON, 2, at(TUE, 11))
    assert sweep(at(WED, 6)).plans_evaluated == 1
    assert sweep(at(WED, 7)).plans_evaluated == 0
    with time_machine.travel(at(WED, 8), tick=False):
        clinic.rule_set.save()  # e.g. a lower hold threshold: it applies from the next sweep, not tomorrow
    assert sweep(at(WED, 9)).plans_evaluated == 1
    assert sweep(at(WED, 10)).plans_evaluated == 0


def test_a_no_show_a_person_records_is_evaluated_by_the_next_sweep(make_plan, clinic):
    plan = make_plan(start_date=MON)
    generate(plan, MON, days=4)
    Visit.objects.filter(plan=plan, date__in=[MON, TUE]).update(status="missed", missed_at=at(TUE, 11))
    assert sweep(at(WED, 6)).plans_evaluated == 1
    before = kinds(plan)
    with time_machine.travel(at(WED, 10, 30), tick=False):
        visit_mark_missed(visit=visit_on(plan, WED), by=make_staff("nurse", [clinic]))
    result = sweep(at(WED, 10, 40))  # the grace period has not passed: the sweep itself claims nothing
    assert (result.missed, result.plans_evaluated) == (0, 1)
    assert len(kinds(plan)) > len(before)  # a third day without medication reaches the next step
    assert sweep(at(WED, 10, 40) + missed.RECHECK + timedelta(minutes=1)).plans_evaluated == 0


def test_a_failed_evaluation_leaves_the_day_to_the_next_sweep(make_plan, monkeypatch):
    plan = make_plan(start_date=MON)
    _in_a_streak(plan, MON, 2, at(TUE, 11))

    def broken(**kwargs: object) -> None:
        raise RuntimeError("evaluation failed")

    monkeypatch.setattr(missed, "escalations_evaluate", broken)
    with pytest.raises(RuntimeError):
        sweep(at(WED, 6))
    assert not EscalationDay.objects.exists()
    monkeypatch.undo()
    assert sweep(at(WED, 7)).plans_evaluated == 1


def test_the_command_evaluates_every_streak_with_all_plans(make_plan, monkeypatch):
    monkeypatch.setattr(tasks, "reminders_plan_missing", lambda **kwargs: 0)
    plan = make_plan(start_date=MON)
    _in_a_streak(plan, MON, 2, at(TUE, 11))
    assert sweep(at(WED, 6)).plans_evaluated == 1
    out = StringIO()
    call_command("mark_missed_visits", "--now", "2026-11-04T07:00:00-05:00", "--no-notify", stdout=out)
    assert "0 plans evaluated" in out.getvalue()
    call_command("mark_missed_visits", "--now", "2026-11-04T07:00:00-05:00", "--no-notify", "--all-plans", stdout=out)
    assert "1 plans evaluated" in out.getvalue()


def test_a_later_sweep_of_the_day_writes_nothing_to_the_recorded_day(make_plan, clinic):
    """Issue #16: a later sweep reads that the clinic's day is recorded and leaves its row alone. The upsert alone
    (ON CONFLICT DO UPDATE … WHERE false) locked the row of every clinic on every sweep: a write per clinic."""
    plan = make_plan(start_date=MON)
    _in_a_streak(plan, MON, 2, at(TUE, 11))
    assert sweep(at(WED, 6)).plans_evaluated == 1
    with connection.cursor() as cursor:
        cursor.execute("SELECT xmin, xmax FROM visits_escalationday WHERE clinic_id = %s", [clinic.pk])
        before = cursor.fetchall()
        assert sweep(at(WED, 7)).plans_evaluated == 0
        cursor.execute("SELECT xmin, xmax FROM visits_escalationday WHERE clinic_id = %s", [clinic.pk])
        assert cursor.fetchall() == before  # not updated, not locked: xmax stays unset
    assert before[0][1] in (0, "0")
