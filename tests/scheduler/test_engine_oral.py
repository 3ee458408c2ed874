"""Oral daily plans (methadone, sublingual buprenorphine): visits, take-home days, closure days."""

from __future__ import annotations

from datetime import date, time, timedelta

import pytest

from scheduler import engine
from scheduler.engine import Calendar, Closure, Day, PlanSpec, Window, plan_days
from scheduler.rules import preset_rules

RULES = preset_rules()
MON, TUE, WED, THU, FRI, SAT, SUN = range(7)
ORAL = frozenset({"methadone", "buprenorphine"})
# Monday 2026-01-05; the clinic doses Monday to Saturday 07:00–10:00 and 13:00–15:00, never on Sunday.
START = date(2026, 1, 5)
CALENDAR = Calendar(
    "America/New_York",
    (
        Window(1, frozenset(range(6)), time(7), time(10), ORAL),
        Window(2, frozenset(range(6)), time(13), time(15), ORAL),
    ),
)


def days(plan: PlanSpec, first: date, last: date, calendar: Calendar = CALENDAR) -> dict[date, Day]:
    return {day.date: day for day in plan_days(plan, calendar, RULES, first, last)}


def test_it_plans_a_monday_only_patient_with_take_homes_and_a_sunday_closure_dose() -> None:
    plan = PlanSpec("methadone", START, attendance_weekdays=frozenset({MON}))
    week = days(plan, START, START + timedelta(days=7))
    assert [week[START + timedelta(days=i)].expected for i in range(8)] == [
        "visit",
        "take_home",
        "take_home",
        "take_home",
        "take_home",
        "take_home",
        "closure_take_home",
        "visit",
    ]
    assert week[START].take_home_doses == 6
    assert week[START].reason == "first day of treatment"
    assert week[START + timedelta(days=6)].reason == "no window offers methadone on Sundays"
    assert week[START + timedelta(days=7)].reason == "attendance day"


def test_a_daily_patient_takes_only_sunday_home() -> None:
    plan = PlanSpec("methadone", START, attendance_weekdays=frozenset(range(7)))
    week = days(plan, START, START + timedelta(days=6))
    assert [d.expected for d in week.values()] == ["visit"] * 6 + ["closure_take_home"]
    assert [d.take_home_doses for d in week.values()][:6] == [0, 0, 0, 0, 0, 1]


def test_a_visit_has_one_session_in_the_first_window_of_the_day() -> None:
    plan = PlanSpec("buprenorphine", START)
    (day,) = plan_days(plan, CALENDAR, RULES, START, START)
    (session,) = day.sessions
    assert session.window_id == 1
    assert (session.start.isoformat(), session.end.isoformat()) == (
        "2026-01-05T12:00:00+00:00",
        "2026-01-05T15:00:00+00:00",
    )


def test_take_home_days_and_closure_days_have_no_sessions() -> None:
    plan = PlanSpec("methadone", START, attendance_weekdays=frozenset({MON}))
    assert all(not d.sessions for d in days(plan, START + timedelta(days=1), START + timedelta(days=6)).values())


def test_dates_before_start_and_after_end_expect_nothing() -> None:
    plan = PlanSpec("methadone", START, end_date=START + timedelta(days=2))
    result = days(plan, START - timedelta(days=1), START + timedelta(days=3))
    assert (result[START - timedelta(days=1)].expected, result[START - timedelta(days=1)].reason) == (
        "none",
        "before start",
    )
    assert (result[START + timedelta(days=3)].expected, result[START + timedelta(days=3)].reason) == (
        "none",
        "after end",
    )


def test_the_supply_handed_out_stops_at_the_end_of_the_plan() -> None:
    plan = PlanSpec("methadone", START, end_date=START + timedelta(days=3), attendance_weekdays=frozenset({MON}))
    assert days(plan, START, START)[START].take_home_doses == 3


def test_a_plan_starting_on_a_closed_day_starts_at_the_first_open_day() -> None:
    sunday = START - timedelta(days=1)
    plan = PlanSpec("methadone", sunday, attendance_weekdays=frozenset({WED}))
    result = days(plan, sunday, START)
    assert result[sunday].expected == "none"
    assert "no dose planned before the first open day of treatment" in result[sunday].reason
    assert (result[START].expected, result[START].reason) == ("visit", "first open day of treatment")


def test_every_other_week_counts_weeks_from_the_start_week() -> None:
    plan = PlanSpec("buprenorphine", START, attendance_weekdays=frozenset({MON}), attendance_every_weeks=2)
    result = days(plan, START, START + timedelta(days=28))
    visits = [d for d, day in result.items() if day.expected == "visit"]
    assert visits == [START, START + timedelta(days=14), START + timedelta(days=28)]
    assert result[START].take_home_doses == 13


def test_the_answer_for_a_sub_range_equals_the_slice_of_the_whole() -> None:
    plan = PlanSpec("methadone", START, attendance_weekdays=frozenset({MON, THU}), attendance_every_weeks=2)
    whole = plan_days(plan, CALENDAR, RULES, START, START + timedelta(days=90))
    assert plan_days(plan, CALENDAR, RULES, START + timedelta(days=17), START + timedelta(days=40)) == whole[17:41]


def test_an_empty_range_gives_no_days() -> None:
    assert plan_days(PlanSpec("methadone", START), CALENDAR, RULES, START, START - timedelta(days=1)) == []


@pytest.mark.parametrize("weekdays", [frozenset({MON}), frozenset(range(7)), frozenset({TUE, FRI})])
def test_planning_four_hundred_days_simulates_each_day_once_and_at_most_a_week_beyond(
    weekdays: frozenset[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The engine's work is the days it simulates (wall-clock time depends on the machine, so it is not asserted):
    # linear in the range, each date once, plus the take-home run that is still open at its end.
    simulated: list[date] = []
    mark = engine._Oral.mark

    def counting_mark(self: engine._Oral, d: date) -> engine._Mark:
        simulated.append(d)
        return mark(self, d)

    monkeypatch.setattr(engine._Oral, "mark", counting_mark)
    closures = tuple(Closure(START + timedelta(days=i), reason="holiday") for i in range(10, 400, 37))
    calendar = Calendar(CALENDAR.tz, CALENDAR.windows, closures)
    plan = PlanSpec("methadone", START, attendance_weekdays=weekdays)

    result = plan_days(plan, calendar, RULES, START, START + timedelta(days=399))

    assert len(result) == 400
    assert simulated == [START + timedelta(days=i) for i in range(len(simulated))]
    assert 400 <= len(simulated) <= 400 + 7


def test_a_pattern_that_never_brings_the_patient_back_reports_a_bounded_supply_for_any_range() -> None:
    # check_plan refuses this plan (no window on Sundays); the engine still answers the same for every range.
    plan = PlanSpec("buprenorphine", START, attendance_weekdays=frozenset({SUN}))
    assert days(plan, START, START)[START].take_home_doses == 366
    assert days(plan, START, START + timedelta(days=500))[START].take_home_doses == 366
