"""A Calendar remembers answers that depend only on itself (window spans, first sessions, closed reasons);
many different plans asking one calendar must get exactly what each would get from a fresh calendar."""

from __future__ import annotations

from datetime import date, time, timedelta

from scheduler.engine import INJECTIONS, Calendar, Closure, Pause, PlanSpec, Window, plan_days
from scheduler.rules import preset_rules

RULES = preset_rules()
SERVICES = frozenset({"methadone", "buprenorphine", "diamorphine", *INJECTIONS})
START = date(2026, 3, 2)  # a Monday; 2026-03-08 is the US spring-forward date


def calendar() -> Calendar:
    return Calendar(
        "America/New_York",
        (
            Window(1, frozenset(range(6)), time(7), time(10), SERVICES),
            Window(2, frozenset({6}), time(2, 30), time(4), SERVICES),  # Sundays, in the gap on 2026-03-08
            Window(3, frozenset(range(7)), time(13), time(16), frozenset({"diamorphine"})),
        ),
        (
            Closure(START + timedelta(days=3), frozenset(), "staff training"),
            Closure(START + timedelta(days=10), frozenset({"methadone"}), "methadone stock"),
            Closure(START + timedelta(days=24), frozenset(), "holiday"),
        ),
    )


PLANS = [
    PlanSpec("methadone", START),
    PlanSpec("methadone", START + timedelta(days=2), attendance_weekdays=frozenset({0, 3})),
    PlanSpec("methadone", START, treatment_start=START - timedelta(days=400), attendance_weekdays=frozenset({0})),
    PlanSpec("methadone", START, attendance_weekdays=frozenset({1}), attendance_every_weeks=2),
    PlanSpec("methadone", START, pauses=(Pause(START + timedelta(days=5), START + timedelta(days=8), "hospital"),)),
    PlanSpec("buprenorphine", START + timedelta(days=1), end_date=START + timedelta(days=20)),
    PlanSpec("diamorphine", START, doses_per_day=2, min_interval_minutes=180),
    PlanSpec("naltrexone_xr", START),
    PlanSpec("buprenorphine_xr_weekly", START, last_injection_date=START - timedelta(days=6)),
]


def test_many_plans_on_one_calendar_get_the_answers_of_a_fresh_calendar_each() -> None:
    shared = calendar()
    first, last = START, START + timedelta(days=41)
    for _ in range(2):  # the second round is answered from the filled memos
        for plan in PLANS:
            assert plan_days(plan, shared, RULES, first, last) == plan_days(plan, calendar(), RULES, first, last)


def test_closed_reasons_are_remembered_per_service() -> None:
    shared = calendar()
    closed_for_methadone = START + timedelta(days=10)
    assert shared.closed_reason(closed_for_methadone, "methadone") == "closed: methadone stock"
    assert shared.closed_reason(closed_for_methadone, "diamorphine") is None
    assert shared.closed_reason(closed_for_methadone, "methadone") == "closed: methadone stock"
    assert shared.closed_reason(START + timedelta(days=6), "diamorphine") is None  # Sunday, diamorphine window 3
