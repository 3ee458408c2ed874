"""Injections: naltrexone XR (28 days), Sublocade (>= 26 days apart), Brixadi weekly (±2 days)."""

from __future__ import annotations

from datetime import date, time, timedelta

import pytest

from scheduler.engine import Calendar, Closure, Day, Pause, PlanNotSatisfiable, PlanSpec, Window, check_plan, plan_days
from scheduler.rules import Rules, preset_rules

RULES = preset_rules()
XR = frozenset({"naltrexone_xr", "buprenorphine_xr_monthly", "buprenorphine_xr_weekly"})
START = date(2026, 1, 5)  # a Monday
MON_TO_SAT = (Window(5, frozenset(range(6)), time(9), time(12), XR),)


def calendar(*closed: date) -> Calendar:
    return Calendar("America/Chicago", MON_TO_SAT, tuple(Closure(d, reason="holiday") for d in closed))


def injections(plan: PlanSpec, cal: Calendar, days: int = 120) -> list[Day]:
    return [d for d in plan_days(plan, cal, RULES, START, START + timedelta(days=days)) if d.expected == "visit"]


def test_naltrexone_is_planned_every_28_days_with_its_window() -> None:
    result = injections(PlanSpec("naltrexone_xr", START), calendar())
    assert [d.date for d in result] == [
        START,
        START + timedelta(28),
        START + timedelta(56),
        START + timedelta(84),
        START + timedelta(112),
    ]
    second = result[1]
    assert (second.target_date, second.earliest, second.latest) == (
        date(2026, 2, 2),
        date(2026, 1, 30),
        date(2026, 2, 9),
    )
    assert second.reason == "injection due 2026-02-02, allowed 2026-01-30..2026-02-09"
    assert len(second.sessions) == 1 and second.sessions[0].window_id == 5


def test_days_between_injections_expect_nothing() -> None:
    result = plan_days(PlanSpec("naltrexone_xr", START), calendar(), RULES, START + timedelta(1), START + timedelta(27))
    assert {(d.expected, d.reason) for d in result} == {("none", "between injections")}


def test_an_injection_due_on_a_closure_moves_to_the_nearest_open_day_earlier_on_a_tie() -> None:
    wednesday = START + timedelta(2)
    due = wednesday + timedelta(28)  # Wednesday 2026-02-04: Tuesday and Thursday are both open
    (_, moved, *_) = injections(PlanSpec("naltrexone_xr", wednesday), calendar(due))
    assert moved.date == due - timedelta(1)
    assert moved.target_date == due
    assert moved.reason.endswith("; moved from 2026-02-04 (closed: holiday)")


def test_the_next_injection_counts_from_the_moved_date() -> None:
    due = START + timedelta(28)
    result = injections(PlanSpec("naltrexone_xr", START), calendar(due, due - timedelta(1), due - timedelta(3)))
    assert result[1].date == due + timedelta(1)
    assert result[2].date == due + timedelta(29)


def test_sublocade_is_never_planned_less_than_26_days_after_the_previous_injection() -> None:
    # Everything from day 26 to day 28 closed: the only earlier days are before the label's 26 days.
    due = START + timedelta(28)
    closed = [START + timedelta(26), START + timedelta(27), due, due + timedelta(1)]
    result = injections(PlanSpec("buprenorphine_xr_monthly", START), calendar(*closed), days=200)
    assert result[1].date == due + timedelta(2)
    gaps = [(b.date - a.date).days for a, b in zip(result, result[1:])]
    assert min(gaps) >= 26


def test_sublocade_can_come_two_days_early_but_not_three() -> None:
    due = START + timedelta(28)
    closed = [due + timedelta(i) for i in range(0, 3)] + [due - timedelta(1)]
    moved = injections(PlanSpec("buprenorphine_xr_monthly", START), calendar(*closed))[1]
    assert moved.date == due - timedelta(2)
    assert moved.earliest == due - timedelta(2)


def test_brixadi_weekly_stays_within_two_days_of_its_target() -> None:
    plan = PlanSpec("buprenorphine_xr_weekly", START - timedelta(1))  # starts on a Sunday: nothing open
    result = injections(plan, calendar(START + timedelta(6)), days=30)
    for day in result:
        assert day.target_date is not None
        assert abs((day.date - day.target_date).days) <= 2
        assert day.date.weekday() != 6
    assert result[0].date == START  # the Sunday start moves forward: nothing before the plan starts


def test_it_reports_when_no_open_day_is_left_in_the_window() -> None:
    due = START + timedelta(7)
    closed = [due + timedelta(i) for i in range(-2, 3)]
    result = plan_days(
        PlanSpec("buprenorphine_xr_weekly", START), calendar(*closed), RULES, START, START + timedelta(14)
    )
    missing = result[7]
    assert (missing.expected, missing.target_date) == ("none", due)
    assert missing.reason.startswith("no open day in the allowed window: injection due 2026-01-12")
    assert result[14].expected == "visit"


def test_the_last_injection_re_anchors_the_chain() -> None:
    plan = PlanSpec("naltrexone_xr", START, last_injection_date=START - timedelta(10))
    assert injections(plan, calendar())[0].date == START + timedelta(18)
    old = PlanSpec("naltrexone_xr", START, last_injection_date=START - timedelta(60))
    assert injections(old, calendar())[0].date == START


def test_the_plan_interval_overrides_the_rule_set() -> None:
    plan = PlanSpec("buprenorphine_xr_monthly", START, interval_days=30)
    assert [d.date for d in injections(plan, calendar(), days=61)] == [
        START,
        START + timedelta(30),
        START + timedelta(60),
    ]


def test_an_injection_due_during_a_pause_moves_out_of_it_inside_its_window() -> None:
    due = START + timedelta(28)
    plan = PlanSpec("naltrexone_xr", START, pauses=(Pause(due - timedelta(3), due + timedelta(1), "hospital"),))
    moved = injections(plan, calendar())[1]
    assert moved.date == due + timedelta(2)
    assert "moved from 2026-02-02 (paused: hospital)" in moved.reason


def test_a_rule_set_without_the_injection_window_refuses_the_plan() -> None:
    data = RULES.to_dict()
    del data["injection_windows"]["naltrexone_xr"]
    with pytest.raises(PlanNotSatisfiable, match="no injection window for naltrexone_xr"):
        check_plan(PlanSpec("naltrexone_xr", START), calendar(), Rules.from_dict(data))


def test_a_clinic_without_an_injection_window_refuses_the_plan() -> None:
    oral_only = Calendar("UTC", (Window(1, frozenset(range(7)), time(9), time(12), frozenset({"methadone"})),))
    with pytest.raises(PlanNotSatisfiable, match="no window offers naltrexone_xr"):
        check_plan(PlanSpec("naltrexone_xr", START), oral_only, RULES)
