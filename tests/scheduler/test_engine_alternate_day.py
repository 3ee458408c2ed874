"""Issue #15: alternate-day sublingual buprenorphine (DOMAIN §1: a double dose every 48 hours once stable).

The day after a dose is covered by the double dose: neither a visit nor a take-home (expected "none", with the
dose date it is covered by)."""

from __future__ import annotations

from datetime import date, time, timedelta

import pytest

from scheduler.engine import (
    Calendar,
    Closure,
    Day,
    Pause,
    PlanNotSatisfiable,
    PlanSpec,
    Window,
    covered_through,
    plan_days,
)
from scheduler.rules import preset_rules

RULES = preset_rules()
MON, TUE, WED, THU, FRI, SAT, SUN = range(7)
START = date(2026, 1, 5)  # a Monday
ORAL = frozenset({"methadone", "buprenorphine"})
EVERY_DAY = Calendar("America/New_York", (Window(1, frozenset(range(7)), time(7), time(10), ORAL),))
NO_SUNDAY = Calendar("America/New_York", (Window(1, frozenset(range(6)), time(7), time(10), ORAL),))


def _days(plan: PlanSpec, n: int, calendar: Calendar = EVERY_DAY) -> list[Day]:
    return plan_days(plan, calendar, RULES, START, START + timedelta(days=n - 1))


def _d(i: int) -> date:
    return START + timedelta(days=i)


def test_an_alternate_day_patient_comes_every_other_day_and_the_day_between_is_covered():
    days = _days(PlanSpec("buprenorphine", START, interval_days=2), 8)
    assert [d.expected for d in days] == ["visit", "none"] * 4
    assert [d.take_home_doses for d in days if d.expected == "visit"] == [0, 0, 0, 0]
    between = days[1]
    assert between.covered_by == START
    assert between.reason == f"covered by the double dose of {START.isoformat()} (alternate-day dosing)"
    assert days[0].covered_by is None


def test_a_daily_buprenorphine_plan_is_unchanged_by_interval_one():
    assert [d.expected for d in _days(PlanSpec("buprenorphine", START, interval_days=1), 7)] == ["visit"] * 7
    assert [d.expected for d in _days(PlanSpec("buprenorphine", START), 7)] == ["visit"] * 7


def test_a_dose_date_off_the_attendance_days_is_a_take_home_handed_out_at_the_visit_before():
    # Comes Monday to Friday; dose dates Mon, Wed, Fri, Sun, Tue, Thu, Sat: Sunday and Saturday go home.
    plan = PlanSpec("buprenorphine", START, interval_days=2, attendance_weekdays=frozenset(range(5)))
    days = _days(plan, 14)
    kinds = {d.date: d.expected for d in days}
    assert kinds[_d(6)] == "take_home"  # Sunday, a dose date
    assert kinds[_d(5)] == kinds[_d(7)] == "none"  # Saturday and Monday: covered
    assert kinds[_d(12)] == "take_home"  # Saturday of week 2
    friday = days[4]
    assert (friday.expected, friday.take_home_doses) == ("visit", 1)  # covered Sat does not break the run
    # The visit's supply covers through the day after the take-home dose.
    assert covered_through("buprenorphine", 2, friday.date, friday.take_home_doses) == _d(7)


def test_a_closure_on_a_dose_date_is_a_closure_take_home_and_the_next_day_is_covered():
    plan = PlanSpec("buprenorphine", START, interval_days=2)
    days = _days(plan, 9, NO_SUNDAY)  # dose dates Mon Wed Fri Sun(closed) Tue
    assert [d.expected for d in days] == [
        "visit", "none", "visit", "none", "visit", "none", "closure_take_home", "none", "visit",
    ]
    assert days[4].take_home_doses == 1
    assert days[7].covered_by == _d(6)


def test_after_a_pause_the_alternate_days_count_from_the_first_dose_again():
    plan = PlanSpec(
        "buprenorphine", START, interval_days=2, pauses=(Pause(_d(2), _d(2), "hospital"),)
    )
    days = _days(plan, 7)
    assert [d.expected for d in days] == ["visit", "none", "none", "visit", "none", "visit", "none"]
    assert days[2].pause_reason == "hospital" and days[2].covered_by is None


def test_asking_for_a_sub_range_gives_the_same_days():
    plan = PlanSpec("buprenorphine", START, interval_days=2, attendance_weekdays=frozenset(range(5)))
    whole = plan_days(plan, NO_SUNDAY, RULES, START, _d(40))
    part = plan_days(plan, NO_SUNDAY, RULES, _d(17), _d(23))
    assert part == whole[17:24]


@pytest.mark.parametrize(
    ("medication", "interval", "message"),
    [
        ("buprenorphine", 3, "daily \\(interval 1\\) or on alternate days"),
        ("methadone", 2, "methadone is given every day"),
    ],
)
def test_other_oral_intervals_are_refused(medication, interval, message):
    with pytest.raises(PlanNotSatisfiable, match=message):
        _days(PlanSpec(medication, START, interval_days=interval), 3)


def test_covered_through_for_daily_and_alternate_day_doses():
    assert covered_through("methadone", None, START, 0) == START
    assert covered_through("methadone", None, START, 2) == _d(2)
    assert covered_through("buprenorphine", 2, START, 0) == _d(1)
    assert covered_through("buprenorphine", 2, START, 1) == _d(3)


def test_a_closure_block_is_still_respected():
    closures = (Closure(_d(2)), Closure(_d(3)))
    calendar = Calendar(EVERY_DAY.tz, EVERY_DAY.windows, closures)
    days = _days(PlanSpec("buprenorphine", START, interval_days=2), 6, calendar)
    assert [d.expected for d in days] == ["visit", "none", "closure_take_home", "none", "visit", "none"]
