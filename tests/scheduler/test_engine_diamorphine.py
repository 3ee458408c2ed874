"""Diamorphine (heroin-assisted treatment): 1–3 supervised sessions a day, never taken home."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from scheduler.engine import (
    Calendar,
    Closure,
    Pause,
    PlanNotSatisfiable,
    PlanSpec,
    Window,
    check_plan,
    plan_days,
    uncovered_by_closure,
)
from scheduler.rules import preset_rules

RULES = preset_rules()
TZ = "Europe/London"
DIAMORPHINE = frozenset({"diamorphine"})
WEEKDAYS, WEEKEND = frozenset(range(5)), frozenset({5, 6})
DAY = date(2026, 6, 3)  # a Wednesday
SATURDAY = date(2026, 6, 6)
CALENDAR = Calendar(
    TZ,
    (
        Window(1, WEEKDAYS | WEEKEND, time(7), time(9), DIAMORPHINE),
        Window(2, WEEKDAYS, time(12), time(14), DIAMORPHINE),
        Window(3, WEEKDAYS | WEEKEND, time(15), time(17), DIAMORPHINE),
        Window(4, WEEKDAYS, time(6), time(10), frozenset({"methadone"})),
    ),
)


def local_starts(plan: PlanSpec, d: date, calendar: Calendar = CALENDAR) -> list[str]:
    (day,) = plan_days(plan, calendar, RULES, d, d)
    return [s.start.astimezone(ZoneInfo(TZ)).strftime("%H:%M") for s in day.sessions]


@pytest.mark.parametrize(
    ("doses", "interval", "starts"),
    [
        (1, 0, ["07:00"]),
        (2, 180, ["07:00", "12:00"]),
        (3, 180, ["07:00", "12:00", "15:00"]),
        (2, 300, ["07:00", "12:00"]),
        (2, 360, ["07:00", "13:00"]),
        (2, 420, ["07:00", "15:00"]),
        (2, 0, ["07:00", "07:30"]),  # the rule set's 30-minute floor (Diaphin label)
    ],
)
def test_it_books_sessions_at_least_the_interval_apart(doses: int, interval: int, starts: list[str]) -> None:
    plan = PlanSpec("diamorphine", DAY, doses_per_day=doses, min_interval_minutes=interval)
    assert local_starts(plan, DAY) == starts


def test_several_sessions_can_share_one_long_window() -> None:
    calendar = Calendar(TZ, (Window(9, frozenset(range(7)), time(7), time(22), DIAMORPHINE),))
    plan = PlanSpec("diamorphine", DAY, doses_per_day=3, min_interval_minutes=240)
    (day,) = plan_days(plan, calendar, RULES, DAY, DAY)
    assert local_starts(plan, DAY, calendar) == ["07:00", "11:00", "15:00"]
    assert {s.end for s in day.sessions} == {datetime(2026, 6, 3, 21, 0, tzinfo=ZoneInfo("UTC"))}


def test_every_date_is_a_visit_never_a_take_home() -> None:
    plan = PlanSpec("diamorphine", DAY, doses_per_day=2, min_interval_minutes=180)
    result = plan_days(plan, CALENDAR, RULES, DAY, DAY + timedelta(days=13))
    assert {d.expected for d in result} == {"visit"}
    assert all(d.take_home_doses == 0 for d in result)


def test_it_refuses_a_plan_whose_sessions_do_not_fit_a_weekday() -> None:
    plan = PlanSpec("diamorphine", DAY, doses_per_day=3, min_interval_minutes=180)
    with pytest.raises(PlanNotSatisfiable) as refused:
        check_plan(plan, CALENDAR, RULES)
    assert str(refused.value) == (
        "diamorphine 3 sessions a day at least 180 minutes apart do not fit the windows on "
        "Saturday (07:00–09:00, 15:00–17:00); Sunday (07:00–09:00, 15:00–17:00)"
    )


def test_it_accepts_a_plan_that_fits_every_weekday() -> None:
    check_plan(PlanSpec("diamorphine", DAY, doses_per_day=2, min_interval_minutes=180), CALENDAR, RULES)


def test_a_day_short_of_sessions_is_still_a_visit_and_says_so() -> None:
    plan = PlanSpec("diamorphine", DAY, doses_per_day=3, min_interval_minutes=180)
    (day,) = plan_days(plan, CALENDAR, RULES, SATURDAY, SATURDAY)
    assert day.expected == "visit"
    assert len(day.sessions) == 2
    assert day.reason == "only 2 of 3 sessions at least 180 minutes apart fit the windows on 2026-06-06"


@pytest.mark.parametrize("doses", [0, 4])
def test_it_refuses_other_than_one_to_three_sessions(doses: int) -> None:
    with pytest.raises(PlanNotSatisfiable, match="1 to 3 sessions"):
        check_plan(PlanSpec("diamorphine", DAY, doses_per_day=doses), CALENDAR, RULES)


def test_a_diamorphine_closure_means_no_sessions_that_day() -> None:
    calendar = Calendar(TZ, CALENDAR.windows, (Closure(DAY, frozenset({"diamorphine"}), "fire alarm"),))
    (day,) = plan_days(PlanSpec("diamorphine", DAY), calendar, RULES, DAY, DAY)
    assert (day.expected, day.sessions, day.reason) == ("none", (), "closed: fire alarm")


@pytest.mark.parametrize(
    ("closure", "plan", "uncovered"),
    [
        (Closure(DAY, reason="strike"), PlanSpec("diamorphine", DAY, doses_per_day=2), True),
        (Closure(DAY, frozenset({"diamorphine"})), PlanSpec("diamorphine", DAY), True),
        (Closure(DAY, frozenset({"methadone", "buprenorphine"})), PlanSpec("diamorphine", DAY), False),
        (Closure(DAY), PlanSpec("diamorphine", DAY + timedelta(days=1)), False),
        (Closure(DAY), PlanSpec("diamorphine", DAY - timedelta(days=9), end_date=DAY - timedelta(days=1)), False),
        (Closure(DAY), PlanSpec("diamorphine", DAY, pauses=(Pause(DAY, DAY, "hospital"),)), False),
        (Closure(DAY), PlanSpec("methadone", DAY), False),
    ],
)
def test_uncovered_by_closure_only_counts_active_diamorphine_plans(
    closure: Closure, plan: PlanSpec, uncovered: bool
) -> None:
    assert uncovered_by_closure(plan, CALENDAR, RULES, closure) is uncovered
