"""Closures: whole-clinic and per-service, stacked closure doses (42 CFR 8.12(i)(1))."""

from __future__ import annotations

from datetime import date, time, timedelta

import pytest

from scheduler.engine import Calendar, Closure, PlanSpec, Window, plan_days
from scheduler.rules import preset_rules

RULES = preset_rules()
ORAL = frozenset({"methadone", "buprenorphine"})
ALL = ORAL | {"diamorphine"}
SATURDAY = date(2026, 5, 23)  # Sunday 24th, Memorial Day Monday 25th
MEMORIAL_DAY = date(2026, 5, 25)
WINDOWS = (
    Window(1, frozenset(range(6)), time(6), time(10), ORAL),
    Window(2, frozenset(range(7)), time(8), time(9), frozenset({"diamorphine"})),
)


def calendar(*closures: Closure) -> Calendar:
    return Calendar("America/New_York", WINDOWS, closures)


def test_sunday_and_a_monday_holiday_stack_two_closure_doses_on_saturday() -> None:
    plan = PlanSpec("methadone", date(2026, 5, 18), attendance_weekdays=frozenset(range(7)))
    result = plan_days(
        plan, calendar(Closure(MEMORIAL_DAY, reason="Memorial Day")), RULES, SATURDAY, SATURDAY + timedelta(3)
    )
    assert [d.expected for d in result] == ["visit", "closure_take_home", "closure_take_home", "visit"]
    assert result[0].take_home_doses == 2
    assert result[1].reason == "no window offers methadone on Sundays"
    assert result[2].reason == "closed: Memorial Day"


def test_a_closure_of_only_oral_dosing_leaves_other_services_open() -> None:
    holiday = Closure(MEMORIAL_DAY, services=frozenset({"methadone"}), reason="Memorial Day")
    cal = calendar(holiday)
    assert cal.closure_on(MEMORIAL_DAY, "methadone") == holiday
    assert cal.closure_on(MEMORIAL_DAY, "buprenorphine") is None
    assert cal.is_open(MEMORIAL_DAY, "buprenorphine") and not cal.is_open(MEMORIAL_DAY, "methadone")
    methadone = plan_days(PlanSpec("methadone", SATURDAY), cal, RULES, MEMORIAL_DAY, MEMORIAL_DAY)[0]
    buprenorphine = plan_days(PlanSpec("buprenorphine", SATURDAY), cal, RULES, MEMORIAL_DAY, MEMORIAL_DAY)[0]
    diamorphine = plan_days(PlanSpec("diamorphine", SATURDAY), cal, RULES, MEMORIAL_DAY, MEMORIAL_DAY)[0]
    assert (methadone.expected, buprenorphine.expected, diamorphine.expected) == ("closure_take_home", "visit", "visit")


def test_a_whole_clinic_closure_closes_every_service() -> None:
    closure = Closure(MEMORIAL_DAY, reason="Memorial Day")
    assert all(closure.closes(service) for service in (*ALL, "counselling"))
    assert calendar(closure).windows_for(MEMORIAL_DAY, "diamorphine") == []


def test_windows_for_a_date_are_sorted_by_start() -> None:
    late = Window(7, frozenset({0}), time(13), time(15), ORAL)
    early = Window(8, frozenset({0}), time(6), time(7), ORAL)
    cal = Calendar("UTC", (late, early))
    assert [w.id for w in cal.windows_for(MEMORIAL_DAY, "methadone")] == [8, 7]
    assert cal.windows_for(MEMORIAL_DAY, "counselling") == []


def test_a_closure_on_an_attendance_day_turns_it_into_a_closure_take_home() -> None:
    plan = PlanSpec("buprenorphine", date(2026, 5, 18), attendance_weekdays=frozenset({0, 2, 4}))
    cal = calendar(Closure(date(2026, 5, 20), reason="staff training"))
    result = plan_days(plan, cal, RULES, date(2026, 5, 18), date(2026, 5, 22))
    assert [d.expected for d in result] == ["visit", "take_home", "closure_take_home", "take_home", "visit"]
    assert result[2].reason == "closed: staff training"
    assert result[0].take_home_doses == 3


def test_a_closure_without_a_reason_still_says_closed() -> None:
    assert Closure(MEMORIAL_DAY).text == "closed"


@pytest.mark.parametrize(("start", "end"), [(time(10), time(9)), (time(9), time(9))])
def test_a_window_must_end_after_it_starts(start: time, end: time) -> None:
    with pytest.raises(ValueError, match="must end after it starts"):
        Window(None, frozenset({0}), start, end, ORAL)
