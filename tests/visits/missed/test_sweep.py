"""The sweep itself: when a visit becomes missed, and that running it again changes nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime

from auditlog.models import LogEntry
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.visits.missed.conftest import at, complete, generate, kinds, sweep, visit_on
from visits import missed
from visits.models import Escalation, Visit

MON, TUE, WED, THU = (date(2026, 11, d) for d in range(2, 6))


def test_a_visit_is_missed_only_once_the_grace_period_after_its_window_has_passed(make_plan):
    plan = make_plan(start_date=MON)
    generate(plan, MON)
    assert sweep(at(MON, 10, 59)).missed == 0  # window 07:00–10:00, 60 minutes' grace
    assert visit_on(plan, MON).status == "scheduled"
    result = sweep(at(MON, 11))
    visit = visit_on(plan, MON)
    assert result.missed_ids == [visit.pk]
    assert visit.status == "missed"
    assert visit.missed_at == at(MON, 11)


def test_the_clinics_own_grace_period_is_used(make_plan, clinic):
    clinic.rule_set.rules = {**clinic.rule_set.rules, "missed_grace_minutes": 15}
    clinic.rule_set.save()
    plan = make_plan(start_date=MON)
    generate(plan, MON)
    assert sweep(at(MON, 10, 14)).missed == 0
    assert sweep(at(MON, 10, 15)).missed == 1


def test_a_checked_in_visit_is_never_marked_missed(make_plan):
    plan = make_plan(start_date=MON)
    generate(plan, MON)
    Visit.objects.filter(plan=plan, date=MON).update(status="checked_in")
    sweep(at(TUE, 6))
    assert visit_on(plan, MON).status == "checked_in"
    assert kinds(plan) == []


def test_a_visit_on_the_daylight_saving_change_day_is_missed_at_the_right_instant(make_plan):
    # 2026-11-01: New York falls back at 02:00; the 08:00–10:00 window is EST (UTC-5) that day.
    plan = make_plan(medication="diamorphine", start_date=date(2026, 11, 1))
    generate(plan, date(2026, 11, 1), days=1)
    visit = visit_on(plan, date(2026, 11, 1))
    assert visit.end == datetime(2026, 11, 1, 15, 0, tzinfo=UTC)
    assert sweep(datetime(2026, 11, 1, 15, 59, tzinfo=UTC)).missed == 0
    assert sweep(datetime(2026, 11, 1, 16, 0, tzinfo=UTC)).missed_ids == [visit.pk]


def test_running_the_sweep_twice_creates_no_new_misses_escalations_or_check_ins(make_plan):
    plans = [make_plan(start_date=MON) for _ in range(3)]
    for plan in plans:
        generate(plan, MON)
        complete(visit_on(plan, MON))
    first = sweep(at(THU, 11, 30))
    assert first.missed == 9
    assert first.escalations_created == 6
    before = (Escalation.objects.count(), Visit.objects.filter(status="missed").count())
    again = sweep(at(THU, 11, 30))
    later = sweep(at(THU, 13))
    assert (again.missed, again.escalations_created, again.decisions) == (0, 0, [])
    assert (later.missed, later.escalations_created, later.decisions) == (0, 0, [])
    assert (Escalation.objects.count(), Visit.objects.filter(status="missed").count()) == before


def test_the_sweep_leaves_one_audit_entry_per_clinic(make_plan, clinic):
    plan = make_plan(start_date=MON)
    generate(plan, MON)
    LogEntry.objects.all().delete()
    sweep(at(WED, 11, 30))
    entry = LogEntry.objects.get()
    assert entry.object_id == clinic.pk
    assert entry.additional_data["missed"] == 3
    assert entry.additional_data["escalations"] == 2
    sweep(at(WED, 11, 45))  # nothing happened: no entry
    assert LogEntry.objects.count() == 1


def test_one_bad_plan_never_stops_the_sweep(make_plan, monkeypatch):
    good, bad = make_plan(start_date=MON), make_plan(start_date=MON)
    for plan in (good, bad):
        generate(plan, MON)
    real = missed._evaluate_oral

    def flaky(plan, ctx, new_visit):
        if plan.pk == bad.pk:
            raise ValueError("corrupt plan")
        return real(plan, ctx, new_visit)

    monkeypatch.setattr(missed, "_evaluate_oral", flaky)
    result = sweep(at(WED, 11, 30))
    assert result.failed_plan_ids == [bad.pk]
    assert kinds(good) == ["hold", "outreach"]
    assert Visit.objects.filter(plan=bad, status="missed").count() == 3


def test_a_paused_plan_gets_no_escalations(make_plan):
    plan = make_plan(start_date=MON)
    generate(plan, MON)
    plan.status = "paused"
    plan.save(update_fields=["status"])
    sweep(at(THU, 11, 30))
    assert kinds(plan) == []


def test_the_sweeps_query_count_does_not_grow_with_the_number_of_overdue_visits(make_plan):
    def run(n: int) -> int:
        for _ in range(n):
            generate(make_plan(start_date=MON), MON)
        with CaptureQueriesContext(connection) as ctx:
            sweep(at(TUE, 11, 30))  # marks the new plans' Monday and Tuesday, re-evaluates every plan
        return len(ctx.captured_queries)

    small = run(4)
    large = run(40)
    assert large <= small + 2
