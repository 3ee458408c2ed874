"""On PostgreSQL the sweep reads and writes with plain SQL; the ORM path (SQLite) must decide the same.

One clinic with every kind of plan the ladder treats differently, swept at several instants: the
plain-SQL path and the ORM path (forced on PostgreSQL) must mark, count, escalate and decide alike.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest
from django.db import transaction

from tests.factories import PauseFactory
from tests.visits.missed.conftest import at, complete, generate, sweep, visit_on
from visits import missed
from visits.models import Escalation, Visit

MON, TUE, WED, THU, FRI = (date(2026, 11, d) for d in range(2, 7))


def _outcome(when: datetime) -> dict[str, Any]:
    result = sweep(when)
    return {
        "summary": result.summary(),
        "missed_ids": sorted(result.missed_ids),
        "missed_by_clinic": dict(result.missed_by_clinic),
        "escalations_by_clinic": dict(result.escalations_by_clinic),
        "decisions": sorted(result.decisions, key=lambda d: (d.plan_id, d.visit_id or 0)),
        "failed": sorted(result.failed_plan_ids),
        "visits": sorted(Visit.objects.values_list("id", "status", "missed_at")),
        "escalations": sorted(
            Escalation.objects.values_list(
                "plan_id", "kind", "anchor_date", "consecutive_missed", "visit_id", "reason", "clinic_id", "patient_id"
            )
        ),
    }


def _both_paths(monkeypatch, instants: list[datetime]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Run the same sweeps on each path, each time from the same rows (the first run is rolled back)."""
    runs: list[list[dict[str, Any]]] = []
    for postgres in (True, False):
        monkeypatch.setattr(missed, "_postgres", lambda postgres=postgres: postgres)
        with transaction.atomic():
            runs.append([_outcome(when) for when in instants])
            transaction.set_rollback(True)
    return runs[0], runs[1]


@pytest.fixture
def varied_plans(make_plan, clinic) -> None:
    # Oral daily: attended Monday then gone; never dosed; take-homes handed out short; excused and
    # checked-in days inside a streak; a pause in the middle of a streak.
    gone = make_plan(start_date=MON)
    generate(gone, MON, days=7)
    complete(visit_on(gone, MON))
    generate(make_plan(start_date=MON), MON, days=7)
    short = make_plan(start_date=date(2026, 10, 26), attendance_weekdays=[0, 2, 4])
    generate(short, date(2026, 10, 26))
    for d in (date(2026, 10, 26), date(2026, 10, 28), date(2026, 10, 30)):
        complete(visit_on(short, d))
    complete(visit_on(short, MON), take_home_doses=0)  # Tuesday's take-home not handed out
    earlier_cover = make_plan(start_date=MON)  # Monday's take-homes cover past Tuesday's visit
    generate(earlier_cover, MON, days=7)
    complete(visit_on(earlier_cover, MON), take_home_doses=3)
    complete(visit_on(earlier_cover, TUE), take_home_doses=0)
    neutral = make_plan(start_date=MON)
    generate(neutral, MON, days=7)
    complete(visit_on(neutral, MON))
    Visit.objects.filter(pk=visit_on(neutral, WED).pk).update(status="excused")
    Visit.objects.filter(pk=visit_on(neutral, THU).pk).update(status="checked_in")
    paused = make_plan(start_date=MON)
    PauseFactory(plan=paused, start=WED, end=THU, reason="hospital")
    generate(paused, MON, days=7)
    complete(visit_on(paused, MON))
    buprenorphine = make_plan(medication="buprenorphine", start_date=MON, attendance_weekdays=[0, 2, 4])
    generate(buprenorphine, MON, days=7)
    complete(visit_on(buprenorphine, MON))
    # Diamorphine twice a day: morning attended, afternoon missed, then nothing.
    diamorphine = make_plan(medication="diamorphine", start_date=MON, doses_per_day=2, min_interval_minutes=360)
    generate(diamorphine, MON, days=7)
    complete(visit_on(diamorphine, MON, 0))
    # Injections: one missed inside its window (and past it by Thursday week), one given late.
    injection = make_plan(medication="naltrexone_xr", start_date=MON)
    generate(injection, MON, days=14)
    # A plan that is no longer active is marked missed but never escalated.
    ended = make_plan(start_date=MON)
    generate(ended, MON, days=7)
    ended.status = "ended"
    ended.save(update_fields=["status"])


@pytest.mark.postgres
def test_the_plain_sql_path_and_the_orm_path_decide_the_same(require_postgres, varied_plans, monkeypatch):
    # MON 23:00 and WED 06:00 mark nothing new: only plans found by the streak query are evaluated.
    instants = [at(MON, 17, 30), at(MON, 23), at(TUE, 11, 30), at(WED, 6), at(WED, 11, 30), at(THU, 17, 30)]
    instants.append(at(FRI, 11, 30))
    instants.append(at(date(2026, 11, 10), 6))  # past the injection's allowed window
    sql, orm = _both_paths(monkeypatch, instants)
    assert sql == orm
    # The comparison means something: the sweeps marked, escalated and texted.
    final = sql[-1]
    assert {e[1] for e in final["escalations"]} >= {"outreach", "hold", "clinician_review", "overdue_injection"}
    assert sum(len(run["decisions"]) for run in sql) > 0
    assert all(not run["failed"] for run in sql)


@pytest.mark.postgres
def test_the_paths_agree_when_escalations_already_exist(require_postgres, varied_plans, monkeypatch):
    sweep(at(WED, 11, 30))  # both paths start from the escalations an earlier sweep recorded
    sql, orm = _both_paths(monkeypatch, [at(THU, 11, 30), at(FRI, 11, 30)])
    assert sql == orm
    assert sql[0]["summary"]["escalations_created"] > 0
