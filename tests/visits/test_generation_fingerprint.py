"""Issue #16: the hourly generation skips plans whose inputs and rows are as it left them (Plan.generated_fingerprint),
and generates again as soon as anything it reads has changed: the plan, its pauses, the clinic's windows, closures
or rule set, a new day at the horizon, a row deleted behind its back, or room for a visit it had to leave out."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from scheduler import engine
from scheduler.models import Closure, DosingWindow, Pause, Plan, RuleSet
from tests.factories import PatientFactory, PlanFactory
from visits.generation import plan_visits_regenerate, visits_generate
from visits.models import Visit

NY = ZoneInfo("America/New_York")
MONDAY = date(2026, 11, 16)
NOW = datetime(2026, 11, 16, 5, 0, tzinfo=NY)  # before the 07:00 window opens


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def simulated(monkeypatch) -> list[int]:
    """The plan ids the engine simulates, in order (engine.plan_days_read, which generation calls, spied on)."""
    calls: list[int] = []
    real = engine.plan_days_read

    def spy(spec, calendar, rules, date_from, date_to):  # type: ignore[no-untyped-def]
        calls.append(spec)
        return real(spec, calendar, rules, date_from, date_to)

    monkeypatch.setattr(engine, "plan_days_read", spy)
    return calls


def make_plan(clinic, **kwargs) -> Plan:
    patient = PatientFactory(clinic=clinic)
    defaults = {"start_date": MONDAY, "medication": "methadone", "attendance_weekdays": [0, 1, 2, 3, 4, 5]}
    return PlanFactory(patient=patient, **{**defaults, **kwargs})


def rows(plan: Plan) -> list[tuple]:
    return list(
        Visit.objects.filter(plan=plan)
        .order_by("planned_date", "session")
        .values_list("planned_date", "session", "start", "window_id", "expected_take_home_doses")
    )


@pytest.mark.django_db
def test_the_hourly_run_skips_plans_nothing_has_changed_for(clinic, frozen, simulated):
    plans = [make_plan(clinic), make_plan(clinic, medication="diamorphine", doses_per_day=2, min_interval_minutes=180)]
    first = visits_generate(horizon_days=28)
    assert first.skipped == 0 and len(simulated) == 2
    before = [rows(p) for p in plans]
    assert all(Plan.objects.filter(pk=p.pk).values_list("generated_fingerprint", flat=True).get() for p in plans)

    frozen.shift(timedelta(hours=1))
    with CaptureQueriesContext(connection) as queries:
        second = visits_generate(horizon_days=28)
    assert (second.plans, second.skipped, second.created, second.updated, second.deleted) == (2, 2, 0, 0, 0)
    assert len(simulated) == 2  # not simulated again
    assert [rows(p) for p in plans] == before
    # Nothing locked, nothing written: no window lock, no visit read under it, no fingerprint update.
    sql = " ".join(q["sql"] for q in queries.captured_queries)
    assert "FOR UPDATE" not in sql and "UPDATE" not in sql and "INSERT" not in sql


@pytest.mark.django_db
def test_a_plan_changed_without_touching_its_updated_stamp_is_generated_again(clinic, frozen, simulated):
    plan, other = make_plan(clinic), make_plan(clinic)
    visits_generate(horizon_days=14)
    # A queryset update: no save(), no `updated` stamp. The fingerprint hashes the values the engine reads.
    Plan.objects.filter(pk=plan.pk).update(attendance_weekdays=[0, 2, 4])
    simulated.clear()
    result = visits_generate(horizon_days=14)
    assert result.skipped == 1 and len(simulated) == 1
    assert {d.weekday() for d, *_ in rows(plan)} == {0, 2, 4}
    assert {d.weekday() for d, *_ in rows(other)} == {0, 1, 2, 3, 4, 5}


@pytest.mark.django_db
def test_a_new_pause_is_generated_again(clinic, frozen):
    plan = make_plan(clinic)
    visits_generate(horizon_days=14)
    Pause.objects.create(plan=plan, start=MONDAY + timedelta(days=2), end=MONDAY + timedelta(days=3), reason="hospital")
    result = visits_generate(horizon_days=14)
    assert result.skipped == 0 and result.deleted == 2
    dates = {d for d, *_ in rows(plan)}
    assert MONDAY + timedelta(days=2) not in dates and MONDAY + timedelta(days=3) not in dates


@pytest.mark.django_db
def test_a_closure_added_behind_the_jobs_back_is_generated_again(clinic, frozen):
    plans = [make_plan(clinic), make_plan(clinic)]
    visits_generate(horizon_days=14)
    Closure.objects.create(clinic=clinic, date=MONDAY + timedelta(days=3), reason="Thanksgiving")
    result = visits_generate(horizon_days=14)
    assert result.skipped == 0 and result.deleted == 2
    for plan in plans:
        assert MONDAY + timedelta(days=3) not in {d for d, *_ in rows(plan)}


@pytest.mark.django_db
def test_a_window_moved_or_given_fewer_booths_is_generated_again(clinic, frozen):
    oral = make_plan(clinic)
    make_plan(clinic, medication="diamorphine", doses_per_day=2, min_interval_minutes=180)
    visits_generate(horizon_days=7)
    DosingWindow.objects.filter(clinic=clinic, start=time(7, 0)).update(start=time(7, 30))
    result = visits_generate(horizon_days=7)
    assert result.skipped == 0 and result.updated > 0
    assert {start.astimezone(NY).time() for _, _, start, _, _ in rows(oral)} == {time(7, 30)}
    # Booths are not part of the engine's calendar but of where sessions sit: a change generates too.
    DosingWindow.objects.filter(clinic=clinic, services=["diamorphine"]).update(stations=1)
    assert visits_generate(horizon_days=7).skipped == 0
    assert visits_generate(horizon_days=7).skipped == 2


@pytest.mark.django_db
def test_a_rule_set_change_is_generated_again(clinic, frozen):
    make_plan(clinic)
    visits_generate(horizon_days=14)
    rule_set = RuleSet.objects.get(pk=clinic.rule_set_id)
    RuleSet.objects.filter(pk=rule_set.pk).update(
        rules={**rule_set.rules, "closure_doses_count": not rule_set.rules.get("closure_doses_count", False)}
    )
    assert visits_generate(horizon_days=14).skipped == 0
    assert visits_generate(horizon_days=14).skipped == 1


@pytest.mark.django_db
def test_a_new_day_generates_every_plan_and_the_new_day_at_the_horizon(clinic, frozen, simulated):
    plan = make_plan(clinic, attendance_weekdays=list(range(7)))
    visits_generate(horizon_days=14)
    # No oral window on Sundays: the horizon's last day (Sunday 29th) is a take-home, Monday 30th a visit.
    assert max(d for d, *_ in rows(plan)) == MONDAY + timedelta(days=12)
    frozen.shift(timedelta(days=1))
    result = visits_generate(horizon_days=14)
    assert result.skipped == 0 and len(simulated) == 2
    assert max(d for d, *_ in rows(plan)) == MONDAY + timedelta(days=14)
    assert result.created == 1


@pytest.mark.django_db
def test_a_generated_visit_deleted_behind_the_jobs_back_is_made_again(clinic, frozen):
    plan = make_plan(clinic)
    visits_generate(horizon_days=14)
    before = rows(plan)
    Visit.objects.filter(plan=plan, planned_date=MONDAY + timedelta(days=4)).delete()
    result = visits_generate(horizon_days=14)
    assert (result.skipped, result.created) == (0, 1)
    assert rows(plan)[:4] == before[:4] and len(rows(plan)) == len(before)


@pytest.mark.django_db
def test_a_plan_left_without_room_keeps_no_fingerprint_and_is_placed_when_a_place_frees(clinic, frozen):
    DosingWindow.objects.filter(clinic=clinic, start=time(7, 0)).update(capacity=1)
    first, second = make_plan(clinic), make_plan(clinic)
    result = visits_generate(horizon_days=7)
    assert result.unplaced == 6 and rows(second) == []
    assert Plan.objects.get(pk=second.pk).generated_fingerprint == ""
    assert Plan.objects.get(pk=first.pk).generated_fingerprint != ""
    # Staff cancel the first patient's Wednesday: the place is free; the second plan takes it at the next run.
    wednesday = MONDAY + timedelta(days=2)
    Visit.objects.filter(plan=first, planned_date=wednesday).update(status="cancelled", edited=True)
    result = visits_generate(horizon_days=7)
    assert result.skipped == 1 and result.created == 1
    assert [d for d, *_ in rows(second)] == [wednesday]


@pytest.mark.django_db
def test_a_plan_change_regenerates_at_once_and_the_next_hourly_run_catches_up(clinic, frozen, simulated):
    plan = make_plan(clinic)
    visits_generate(horizon_days=14)
    plan.attendance_weekdays = [1, 3]
    plan.save()
    plan_visits_regenerate(plan=plan, horizon_days=14)  # a person's change: never skipped
    # Tuesdays and Thursdays from now on; today is the first day of treatment, a visit whatever the pattern.
    assert {d.weekday() for d, *_ in rows(plan)} == {0, 1, 3}
    simulated.clear()
    result = visits_generate(horizon_days=14)
    assert (result.skipped, result.created, result.updated, result.deleted) == (0, 0, 0, 0)
    assert visits_generate(horizon_days=14).skipped == 1


@pytest.mark.django_db
def test_the_fingerprint_is_written_without_touching_the_plans_updated_stamp(clinic, frozen):
    plan = make_plan(clinic)
    stamp = Plan.objects.get(pk=plan.pk).updated
    frozen.shift(timedelta(minutes=5))
    visits_generate(horizon_days=7)
    stored = Plan.objects.get(pk=plan.pk)
    assert stored.generated_fingerprint and stored.updated == stamp


@pytest.mark.django_db
def test_chunks_simulated_ahead_of_their_write_give_the_same_rows_and_fingerprints(clinic, frozen, monkeypatch):
    """The rolling job simulates chunk k + 1 on the engine thread while chunk k is written: many small chunks,
    some plans skipped and some not, write what one chunk would."""
    plans = [make_plan(clinic, attendance_weekdays=[0, 2, 4] if n % 2 else [0, 1, 2, 3, 4, 5]) for n in range(7)]
    monkeypatch.setattr("visits.generation.PLAN_CHUNK", 2)
    seen: list[int] = []
    first = visits_generate(horizon_days=14, progress=seen.append)
    assert (first.plans, first.skipped, first.created) == (7, 0, sum(len(rows(p)) for p in plans))
    assert seen == [2, 2, 2, 1]
    one_chunk = {p.pk: rows(p) for p in plans}
    Plan.objects.filter(pk__in=[plans[1].pk, plans[4].pk]).update(attendance_weekdays=[1, 3])
    second = visits_generate(horizon_days=14)
    assert second.skipped == 5
    for plan in plans:
        if plan.pk in (plans[1].pk, plans[4].pk):
            assert {d.weekday() for d, *_ in rows(plan)} == {0, 1, 3}  # today, the first day, and Tue/Thu
        else:
            assert rows(plan) == one_chunk[plan.pk]
    assert visits_generate(horizon_days=14).skipped == 7
