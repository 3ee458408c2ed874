"""Pauses (guest dosing, hospital, custody): neither attended nor missed, no take-homes across them."""

from __future__ import annotations

from datetime import date, time, timedelta

from scheduler.engine import Calendar, Pause, PlanSpec, Window, plan_days
from scheduler.rules import preset_rules

RULES = preset_rules()
START = date(2026, 1, 5)  # a Monday
CALENDAR = Calendar("America/New_York", (Window(1, frozenset(range(6)), time(7), time(10), frozenset({"methadone"})),))


def test_guest_dosing_days_expect_nothing_and_stop_the_supply() -> None:
    pause = Pause(START + timedelta(3), START + timedelta(4), "guest_dosing")
    plan = PlanSpec("methadone", START, attendance_weekdays=frozenset({0}), pauses=(pause,))
    result = plan_days(plan, CALENDAR, RULES, START, START + timedelta(6))
    assert [d.expected for d in result] == [
        "visit",
        "take_home",
        "take_home",
        "none",
        "none",
        "visit",
        "closure_take_home",
    ]
    assert result[0].take_home_doses == 2
    assert (result[3].reason, result[3].pause_reason) == ("paused: guest_dosing", "guest_dosing")
    assert (result[5].reason, result[5].take_home_doses) == ("first open day after pause", 1)


def test_take_home_counting_restarts_after_a_pause() -> None:
    # Without the pause the Saturday would be a take-home; after it the count starts again at a visit.
    pause = Pause(START + timedelta(1), START + timedelta(1), "hospital")
    plan = PlanSpec("methadone", START, attendance_weekdays=frozenset({0}), pauses=(pause,))
    result = plan_days(plan, CALENDAR, RULES, START, START + timedelta(7))
    assert [d.expected for d in result[2:]] == [
        "visit",
        "take_home",
        "take_home",
        "take_home",
        "closure_take_home",
        "visit",
    ]
    assert result[2].take_home_doses == 4


def test_after_a_pause_ending_before_a_closed_day_the_first_open_day_is_the_visit() -> None:
    pause = Pause(START + timedelta(2), START + timedelta(5), "custody")
    plan = PlanSpec("methadone", START, pauses=(pause,))
    sunday, monday = plan_days(plan, CALENDAR, RULES, START + timedelta(6), START + timedelta(7))
    assert sunday.expected == "none"
    assert (
        sunday.reason == "no dose planned before the first open day after pause (no window offers methadone on Sundays)"
    )
    assert (monday.expected, monday.reason) == ("visit", "first open day after pause")


def test_a_plan_starting_inside_a_pause_starts_after_it() -> None:
    plan = PlanSpec("methadone", START, pauses=(Pause(START - timedelta(3), START + timedelta(1), "hospital"),))
    result = plan_days(plan, CALENDAR, RULES, START, START + timedelta(2))
    assert [d.expected for d in result] == ["none", "none", "visit"]


def test_a_diamorphine_pause_expects_no_sessions() -> None:
    calendar = Calendar("UTC", (Window(1, frozenset(range(7)), time(7), time(9), frozenset({"diamorphine"})),))
    plan = PlanSpec("diamorphine", START, pauses=(Pause(START, START, "hospital"),))
    (day,) = plan_days(plan, calendar, RULES, START, START)
    assert (day.expected, day.sessions, day.pause_reason) == ("none", (), "hospital")
