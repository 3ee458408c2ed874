"""Take-home limits: tiers by treatment day (42 CFR 8.12(i)(3), 2024 and 2001 tables)."""

from __future__ import annotations

from collections import Counter
from datetime import date, time, timedelta

import pytest

from scheduler.engine import Calendar, Closure, Day, PlanSpec, Window, plan_days
from scheduler.rules import preset_rules

RULES_2024 = preset_rules("US federal 2024")
RULES_2001 = preset_rules("US federal 2001")
MON, TUE, WED, THU, FRI, SAT, SUN = range(7)
ORAL = frozenset({"methadone", "buprenorphine"})
START = date(2026, 1, 5)  # a Monday
EVERY_DAY = Calendar("Europe/London", (Window(1, frozenset(range(7)), time(7), time(10), ORAL),))
MON_TO_SAT = Calendar("Europe/London", (Window(1, frozenset(range(6)), time(7), time(10), ORAL),))


def visits(result: list[Day]) -> list[Day]:
    return [day for day in result if day.expected == "visit"]


def mondays_plan(medication: str = "methadone", every_weeks: int = 1, day_of_first_visit: int = 1) -> PlanSpec:
    # treatment_start before start_date puts the first visit on a chosen treatment day.
    treatment_start = START - timedelta(days=day_of_first_visit - 1)
    return PlanSpec(
        medication,
        START,
        treatment_start=treatment_start,
        attendance_weekdays=frozenset({MON}),
        attendance_every_weeks=every_weeks,
    )


@pytest.mark.parametrize(
    ("day_of_first_visit", "every_weeks", "supply", "next_visit_after"),
    [
        (14, 2, 7, 8),  # day 14: at most 7 at once, so the patient comes back on the 8th day
        (15, 2, 13, 14),  # day 15: up to 14, so the fortnightly Monday is reached
        (30, 4, 14, 15),  # day 30: still 14
        (31, 4, 27, 28),  # day 31: up to 28, the four-weekly Monday is reached
    ],
)
def test_the_2024_tier_of_the_visit_handing_out_decides_the_supply(
    day_of_first_visit: int, every_weeks: int, supply: int, next_visit_after: int
) -> None:
    plan = mondays_plan(every_weeks=every_weeks, day_of_first_visit=day_of_first_visit)
    first, second = visits(plan_days(plan, EVERY_DAY, RULES_2024, START, START + timedelta(days=30)))[:2]
    assert first.take_home_doses == supply
    assert (second.date - first.date).days == next_visit_after


def test_it_adds_a_visit_when_take_homes_would_exceed_seven_in_first_fourteen_days() -> None:
    plan = mondays_plan(every_weeks=2)
    result = plan_days(plan, EVERY_DAY, RULES_2024, START, START + timedelta(days=50))
    assert [(d.date - START).days + 1 for d in visits(result)] == [1, 9, 15, 29, 43]
    forced = visits(result)[1]
    assert forced.reason == (
        "take-home limit: US federal 2024: at most 7 take-home doses at once on treatment days 1–14 "
        "(supply from the visit on treatment day 1)"
    )


def test_buprenorphine_is_not_limited_by_the_methadone_tiers() -> None:
    plan = mondays_plan(medication="buprenorphine", every_weeks=4)
    first = visits(plan_days(plan, EVERY_DAY, RULES_2024, START, START))[0]
    assert first.take_home_doses == 27


def test_closure_doses_count_toward_the_2024_supply() -> None:
    # Monday visit, Tue–Sat at home (5), Sunday closed (6), Monday holiday (7): Tuesday would be the 8th.
    calendar = Calendar(MON_TO_SAT.tz, MON_TO_SAT.windows, (Closure(START + timedelta(days=14), reason="MLK Day"),))
    plan = PlanSpec("methadone", START, attendance_weekdays=frozenset({MON}))
    result = plan_days(plan, calendar, RULES_2024, START + timedelta(days=7), START + timedelta(days=15))
    assert [d.expected for d in result] == ["visit"] + ["take_home"] * 5 + ["closure_take_home"] * 2 + ["visit"]
    assert result[0].take_home_doses == 7
    assert result[-1].reason.startswith("take-home limit: US federal 2024")


def test_it_brings_the_patient_in_before_closures_the_supply_could_not_cover() -> None:
    # Sunday, a Monday holiday and a Tuesday emergency closure follow Saturday: Saturday hands them out.
    closures = (
        Closure(START + timedelta(days=7), reason="holiday"),
        Closure(START + timedelta(days=8), reason="storm"),
    )
    calendar = Calendar(MON_TO_SAT.tz, MON_TO_SAT.windows, closures)
    plan = PlanSpec("methadone", START, attendance_weekdays=frozenset({MON}))
    result = plan_days(plan, calendar, RULES_2024, START, START + timedelta(days=9))
    assert [d.expected for d in result] == (
        ["visit"] + ["take_home"] * 4 + ["visit"] + ["closure_take_home"] * 3 + ["take_home"]
    )
    # Saturday's supply: Sunday, Monday, Tuesday closed, then Wednesday to Friday at home (6 of 7).
    assert [d.take_home_doses for d in visits(result)] == [4, 6]


def test_a_closure_run_longer_than_the_limit_stays_closure_take_homes() -> None:
    # Closures cannot be turned into visits: nine closed days in a row are all handed out at once.
    closures = tuple(Closure(START + timedelta(days=i), reason="flood") for i in range(1, 10))
    calendar = Calendar(EVERY_DAY.tz, EVERY_DAY.windows, closures)
    plan = PlanSpec("methadone", START, attendance_weekdays=frozenset({MON}))
    result = plan_days(plan, calendar, RULES_2024, START, START + timedelta(days=10))
    assert result[0].take_home_doses == 9
    assert [d.expected for d in result[1:10]] == ["closure_take_home"] * 9
    assert result[10].expected == "visit"


def test_2001_first_ninety_days_allow_one_take_home_a_week_beyond_closure_days() -> None:
    plan = PlanSpec("methadone", START, attendance_weekdays=frozenset({MON}))
    result = plan_days(plan, MON_TO_SAT, RULES_2001, START, START + timedelta(days=83))
    per_week = Counter(d.date.isocalendar().week for d in result if d.expected == "take_home")
    assert set(per_week.values()) == {1}
    assert len(per_week) == 12
    assert all(d.expected == "closure_take_home" for d in result if d.date.weekday() == SUN)
    first_week = [d.expected for d in result[:7]]
    assert first_week == ["visit", "take_home", "visit", "visit", "visit", "visit", "closure_take_home"]


def test_2001_days_91_to_180_allow_two_take_homes_a_week() -> None:
    plan = PlanSpec(
        "methadone", START, treatment_start=START - timedelta(days=100), attendance_weekdays=frozenset({MON})
    )
    result = plan_days(plan, MON_TO_SAT, RULES_2001, START, START + timedelta(days=27))
    per_week = Counter(d.date.isocalendar().week for d in result if d.expected == "take_home")
    assert set(per_week.values()) == {2}
