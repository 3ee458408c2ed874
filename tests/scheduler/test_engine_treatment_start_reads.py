"""Issue #16: plan_days_read says what an answer read of the plan's treatment start (TreatmentStartReads), so that
generation can give the answer to a plan that differs only there. Where the reads say it holds, simulating the other
plan alone must give exactly the same days, over random plans of every medication, calendars (closures, runs of
them, daylight-saving days in several zones, windows in the small hours), rule sets and ranges."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, time, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler import engine
from scheduler.engine import Calendar, Closure, Pause, PlanNotSatisfiable, PlanSpec, Window, plan_days, plan_days_read
from scheduler.rules import PRESETS, preset_rules

RULES = [preset_rules(name) for name in sorted(PRESETS)]
MEDICATIONS = ["methadone", "methadone", "buprenorphine", "diamorphine", "naltrexone_xr", "buprenorphine_xr_weekly"]
# A week before a daylight-saving change somewhere: US spring/fall, EU spring/fall, Australia autumn.
CHANGES = [date(2026, 3, 8), date(2026, 11, 1), date(2026, 3, 29), date(2026, 10, 25), date(2026, 4, 5)]
ZONES = ["America/New_York", "Europe/London", "Australia/Sydney", "UTC"]
# Treatment days around the tiers' edges (2001: 91, 181, 271, 366; 2024: 15, 31) and far from them.
OFFSETS = [0, 1, 6, 12, 13, 14, 20, 29, 30, 31, 60, 88, 89, 90, 150, 179, 180, 200, 268, 269, 270, 300, 364, 365, 800]


@st.composite
def calendars(draw: st.DrawFn, first: date) -> Calendar:
    oral = frozenset({"methadone", "buprenorphine"})
    windows = (
        Window(1, draw(st.frozensets(st.integers(0, 6), min_size=1)), time(7), time(10), oral | {"naltrexone_xr"}),
        # In the small hours: inside the spring-forward gap on a change day.
        Window(
            2, draw(st.frozensets(st.integers(0, 6))), time(2), time(3, 30), frozenset({"methadone", "diamorphine"})
        ),
        Window(
            3,
            draw(st.frozensets(st.integers(0, 6), min_size=1)),
            time(14),
            time(17),
            frozenset({"methadone", "diamorphine", "buprenorphine_xr_weekly"}),
        ),
    )
    closures: list[Closure] = []
    for offset, length, services in draw(
        st.lists(
            st.tuples(st.integers(-60, 40), st.integers(1, 9), st.sampled_from([(), ("methadone",), ("diamorphine",)])),
            max_size=4,
        )
    ):
        for i in range(length):  # runs of closures: take-home runs the limit must cover
            closures.append(Closure(first + timedelta(days=offset + i), frozenset(services), f"closure {offset}"))
    return Calendar(draw(st.sampled_from(ZONES)), windows, tuple(closures))


@st.composite
def specs(draw: st.DrawFn, first: date) -> PlanSpec:
    medication = draw(st.sampled_from(MEDICATIONS))
    start = first + timedelta(days=draw(st.integers(-120, 10)))
    pauses: tuple[Pause, ...] = ()
    if draw(st.booleans()):
        at = start + timedelta(days=draw(st.integers(0, 150)))
        pauses = (Pause(at, at + timedelta(days=draw(st.integers(0, 10))), "hospital"),)
    kwargs: dict = {
        "end_date": draw(st.none() | st.just(first + timedelta(days=draw(st.integers(-5, 40))))),
        "attendance_weekdays": draw(st.frozensets(st.integers(0, 6), min_size=1)),
        "attendance_every_weeks": draw(st.integers(1, 3)),
        "pauses": pauses,
        "takehome_suspended_from": draw(st.none() | st.just(first + timedelta(days=draw(st.integers(-30, 30))))),
    }
    if medication == "methadone":
        kwargs["doses_per_day"] = draw(st.integers(1, 2))
        kwargs["min_interval_minutes"] = draw(st.sampled_from([0, 240]))
    elif medication == "buprenorphine":
        kwargs["interval_days"] = draw(st.sampled_from([None, 1, 2]))
    elif medication == "diamorphine":
        kwargs["doses_per_day"] = draw(st.integers(1, 3))
        kwargs["min_interval_minutes"] = draw(st.sampled_from([0, 60, 180]))
    else:
        kwargs["last_injection_date"] = draw(st.none() | st.just(first - timedelta(days=draw(st.integers(1, 40)))))
    return PlanSpec(medication, start, treatment_start=None, **kwargs)


def _treatment_start(draw: st.DrawFn, spec: PlanSpec) -> date | None:
    if draw(st.integers(0, 9)) == 0:
        return None  # the start date counts
    return spec.start_date - timedelta(days=draw(st.sampled_from(OFFSETS)) + draw(st.integers(-2, 2)))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_an_answer_whose_reads_hold_is_exactly_what_the_other_treatment_start_gives(data):
    first = data.draw(st.sampled_from(CHANGES)) - timedelta(days=data.draw(st.integers(0, 6)))
    calendar = data.draw(calendars(first))
    rules = data.draw(st.sampled_from(RULES))
    base = data.draw(specs(first))
    date_from = first + timedelta(days=data.draw(st.integers(-3, 10)))
    date_to = date_from + timedelta(days=data.draw(st.integers(-1, 35)))
    read = replace(base, treatment_start=_treatment_start(data.draw, base))
    try:
        days, reads = plan_days_read(read, calendar, rules, date_from, date_to)
    except PlanNotSatisfiable:
        return  # refused the same way whatever the treatment start (it is not read by the checks)
    assert days == plan_days(read, calendar, rules, date_from, date_to)
    assert reads.hold_for(read, rules) == (not reads.named)
    others = [replace(base, treatment_start=_treatment_start(data.draw, base)) for _ in range(4)]
    for other in others:
        if reads.hold_for(other, rules):
            assert plan_days(other, calendar, rules, date_from, date_to) == days, (read, other)


def _three_days_a_week(treatment_start: date) -> PlanSpec:
    # Monday, Wednesday, Friday: take-homes between the visits, so every visit looks up its limit.
    return PlanSpec("methadone", date(2026, 3, 2), treatment_start, attendance_weekdays=frozenset({0, 2, 4}))


WEEKDAYS_ONLY = Calendar(
    "Europe/London", (Window(1, frozenset(range(6)), time(7), time(10), frozenset({"methadone"})),)
)
RANGE = (date(2026, 3, 2), date(2026, 3, 29))


def test_a_daily_plan_reads_nothing_of_its_treatment_start():
    # Every open day attended, Sunday closed: no take-home day ever asks for the limit.
    spec = PlanSpec("methadone", date(2026, 3, 2), date(2025, 1, 1), attendance_weekdays=frozenset(range(7)))
    days, reads = plan_days_read(spec, WEEKDAYS_ONLY, preset_rules(), *RANGE)
    assert reads == (False, ())
    assert reads.hold_for(replace(spec, treatment_start=date(2026, 2, 1)), preset_rules())
    assert days == plan_days(replace(spec, treatment_start=date(2026, 2, 1)), WEEKDAYS_ONLY, preset_rules(), *RANGE)


def test_treatment_starts_in_the_same_tier_share_the_answer_and_others_do_not():
    rules = next(r for r in RULES if r.takehome_tiers[0].max_per_week is not None)  # the 2001 table: weekly caps
    days, reads = plan_days_read(_three_days_a_week(date(2025, 1, 1)), WEEKDAYS_ONLY, rules, *RANGE)
    assert reads.limits and not reads.named
    same_tier = _three_days_a_week(date(2025, 1, 9))
    assert reads.hold_for(same_tier, rules)
    assert plan_days(same_tier, WEEKDAYS_ONLY, rules, *RANGE) == days
    # Day 1 of treatment: the strictest tier forces visits, whose reasons name the limit and its treatment day.
    new = _three_days_a_week(date(2026, 3, 2))
    assert not reads.hold_for(new, rules)
    new_days, new_reads = plan_days_read(new, WEEKDAYS_ONLY, rules, *RANGE)
    assert new_days != days and new_reads.named and not new_reads.hold_for(new, rules)


def test_only_oral_plans_read_a_limit():
    for medication in ("diamorphine", "naltrexone_xr"):
        spec = PlanSpec(medication, date(2026, 3, 2), date(2026, 3, 2))
        calendar = Calendar("UTC", (Window(1, frozenset(range(7)), time(7), time(10), frozenset({medication})),))
        assert plan_days_read(spec, calendar, preset_rules(), *RANGE)[1] == engine.TreatmentStartReads(False)
