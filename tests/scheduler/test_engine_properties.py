"""Properties of the engine over random plans, calendars and rule sets (hypothesis)."""

from __future__ import annotations

from datetime import date, time, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.engine import (
    INJECTIONS,
    SESSION_MINUTES,
    Calendar,
    Closure,
    Day,
    Pause,
    PlanNotSatisfiable,
    PlanSpec,
    Window,
    check_plan,
    plan_days,
)
from scheduler.rules import PRESETS, Rules, takehome_limit, treatment_day

ALL_RULES = {name: Rules.from_dict(data) for name, data in PRESETS.items()}
SERVICES = frozenset({"methadone", "buprenorphine", "diamorphine", *INJECTIONS})
SPAN = 150

weekday_sets = st.frozensets(st.integers(0, 6), min_size=1)
starts = st.dates(date(2025, 12, 1), date(2027, 12, 31))


@st.composite
def calendars(draw: st.DrawFn, start: date) -> Calendar:
    open_days = draw(weekday_sets)
    closed = draw(st.lists(st.integers(-3, SPAN), max_size=25, unique=True))
    partial = draw(st.booleans())
    services = frozenset({"methadone"}) if partial else frozenset()
    closures = tuple(Closure(start + timedelta(days=i), services, f"closure {i}") for i in closed)
    tz = draw(st.sampled_from(["America/New_York", "Europe/London", "UTC"]))
    return Calendar(tz, (Window(1, open_days, time(7), time(10), SERVICES),), closures)


@st.composite
def pauses(draw: st.DrawFn, start: date) -> tuple[Pause, ...]:
    if not draw(st.booleans()):
        return ()
    first = start + timedelta(days=draw(st.integers(-5, SPAN)))
    reason = draw(st.sampled_from(["guest_dosing", "hospital", "custody", "other"]))
    return (Pause(first, first + timedelta(days=draw(st.integers(0, 12))), reason),)


@st.composite
def oral_cases(draw: st.DrawFn) -> tuple[PlanSpec, Calendar, Rules]:
    start = draw(starts)
    ended = draw(st.booleans())
    plan = PlanSpec(
        draw(st.sampled_from(["methadone", "methadone", "buprenorphine"])),
        start,
        treatment_start=start - timedelta(days=draw(st.sampled_from([0, 0, 10, 25, 85, 180, 270, 365, 730]))),
        end_date=start + timedelta(days=draw(st.integers(0, SPAN))) if ended else None,
        attendance_weekdays=draw(weekday_sets),
        attendance_every_weeks=draw(st.integers(1, 3)),
        pauses=draw(pauses(start)),
    )
    return plan, draw(calendars(start)), ALL_RULES[draw(st.sampled_from(sorted(ALL_RULES)))]


def whole(plan: PlanSpec, calendar: Calendar, rules: Rules) -> list[Day]:
    return plan_days(plan, calendar, rules, plan.start_date - timedelta(days=3), plan.start_date + timedelta(days=SPAN))


@settings(max_examples=300, deadline=None)
@given(oral_cases())
def test_no_take_home_supply_exceeds_its_tier(case: tuple[PlanSpec, Calendar, Rules]) -> None:
    plan, calendar, rules = case
    treatment_start = plan.treatment_start or plan.start_date
    limit, counted, only_closures, week, week_count = None, 0, True, (0, 0), 0
    for day in whole(plan, calendar, rules):
        if day.expected == "visit":
            limit = takehome_limit(rules, plan.medication, treatment_day(treatment_start, day.date))
            counted, only_closures = 0, True
            continue
        if day.expected == "none":
            limit = None
            continue
        assert limit is not None, f"{day.date}: a take-home before any visit"
        only_closures = only_closures and day.expected == "closure_take_home"
        if day.expected == "closure_take_home" and not rules.closure_doses_count:
            continue
        counted += 1
        iso = day.date.isocalendar()
        week, week_count = ((iso.year, iso.week), 1) if (iso.year, iso.week) != week else (week, week_count + 1)
        if limit.max_supply is not None and counted > limit.max_supply:
            # Documented: a run of closures alone longer than the limit cannot be broken by a visit.
            assert only_closures, f"{day.date}: supply {counted} > {limit.max_supply}"
        if limit.max_per_week is not None and day.expected == "take_home":
            assert week_count <= limit.max_per_week, f"{day.date}: {week_count} take-homes this week"


@settings(max_examples=300, deadline=None)
@given(oral_cases())
def test_every_date_of_a_daily_oral_plan_is_exactly_one_kind(case: tuple[PlanSpec, Calendar, Rules]) -> None:
    plan, calendar, rules = case
    result = whole(plan, calendar, rules)
    assert [d.date for d in result] == [plan.start_date + timedelta(days=i) for i in range(-3, SPAN + 1)]
    for day in result:
        paused = any(p.start <= day.date <= p.end for p in plan.pauses)
        if day.date < plan.start_date:
            assert (day.expected, day.reason) == ("none", "before start")
        elif plan.end_date is not None and day.date > plan.end_date:
            assert (day.expected, day.reason) == ("none", "after end")
        elif paused:
            assert (day.expected, day.pause_reason) == ("none", plan.pauses[0].reason)
        elif day.expected == "none":
            assert day.reason.startswith("no dose planned before the first open day")
            assert not calendar.is_open(day.date, plan.medication)
        else:
            assert day.expected in {"visit", "take_home", "closure_take_home"}
            is_open = calendar.is_open(day.date, plan.medication)
            assert is_open is (day.expected != "closure_take_home")
            assert (len(day.sessions) == 1) is (day.expected == "visit")


@settings(max_examples=200, deadline=None)
@given(oral_cases(), st.integers(-3, SPAN), st.integers(0, SPAN))
def test_a_sub_range_equals_the_slice_of_the_whole_range(
    case: tuple[PlanSpec, Calendar, Rules], offset: int, length: int
) -> None:
    plan, calendar, rules = case
    everything = whole(plan, calendar, rules)
    first = plan.start_date + timedelta(days=offset)
    last = min(first + timedelta(days=length), plan.start_date + timedelta(days=SPAN))
    assert (
        plan_days(plan, calendar, rules, first, last) == everything[offset + 3 : offset + 3 + (last - first).days + 1]
    )


@st.composite
def diamorphine_windows(draw: st.DrawFn) -> tuple[Window, ...]:
    windows = []
    for i in range(draw(st.integers(1, 4))):
        start = draw(st.integers(0, 22 * 60))
        end = draw(st.integers(start + 1, 24 * 60 - 1))
        windows.append(
            Window(
                i,
                draw(weekday_sets),
                time(start // 60, start % 60),
                time(end // 60, end % 60),
                frozenset({"diamorphine"}),
            )
        )
    return tuple(windows)


@settings(max_examples=300, deadline=None)
@given(
    diamorphine_windows(),
    st.integers(1, 3),
    st.integers(0, 400),
    st.sampled_from(["America/New_York", "Europe/London", "UTC"]),
    st.sampled_from([date(2026, 3, 8), date(2026, 3, 29), date(2026, 10, 25), date(2026, 11, 1), date(2026, 6, 1)]),
)
def test_diamorphine_sessions_keep_their_interval(
    windows: tuple[Window, ...], doses: int, interval: int, tz: str, around: date
) -> None:
    calendar = Calendar(tz, windows)
    rules = ALL_RULES["US federal 2024"]
    plan = PlanSpec("diamorphine", around - timedelta(days=3), doses_per_day=doses, min_interval_minutes=interval)
    spacing = timedelta(minutes=max(interval, rules.diamorphine_min_interval_minutes, SESSION_MINUTES))
    try:
        check_plan(plan, calendar, rules)
        fits = True
    except PlanNotSatisfiable:
        fits = False
    for day in plan_days(plan, calendar, rules, plan.start_date, around + timedelta(days=3)):
        assert day.expected == "visit"
        assert len(day.sessions) <= doses
        for earlier, later in zip(day.sessions, day.sessions[1:]):
            assert later.start - earlier.start >= spacing
        for session in day.sessions:
            assert session.start + timedelta(minutes=SESSION_MINUTES) <= session.end
        if fits and tz == "UTC":
            assert len(day.sessions) == doses


@st.composite
def injection_cases(draw: st.DrawFn) -> tuple[PlanSpec, Calendar]:
    start = draw(starts)
    last = draw(st.one_of(st.none(), st.integers(1, 40)))
    plan = PlanSpec(
        draw(st.sampled_from(sorted(INJECTIONS))),
        start,
        pauses=draw(pauses(start)),
        last_injection_date=start - timedelta(days=last) if last else None,
    )
    return plan, draw(calendars(start))


@settings(max_examples=300, deadline=None)
@given(injection_cases())
def test_injections_stay_inside_their_windows_and_off_closures(case: tuple[PlanSpec, Calendar]) -> None:
    plan, calendar = case
    rules = ALL_RULES["US federal 2024"]
    window = rules.injection_windows[plan.medication]
    visits = [d for d in whole(plan, calendar, rules) if d.expected == "visit"]
    for day in visits:
        assert day.target_date and day.earliest and day.latest
        assert day.earliest <= day.date <= day.latest
        assert day.target_date - timedelta(days=window.early_days) <= day.date
        assert day.date <= day.target_date + timedelta(days=window.late_days)
        assert calendar.is_open(day.date, plan.medication)
        assert not any(p.start <= day.date <= p.end for p in plan.pauses)
    dates = [d.date for d in visits]
    if plan.last_injection_date is not None:
        dates.insert(0, plan.last_injection_date)
    for earlier, later in zip(dates, dates[1:]):
        assert (later - earlier).days >= window.interval_days - window.early_days


@settings(max_examples=300, deadline=None)
@given(injection_cases())
def test_consecutive_monthly_buprenorphine_injections_are_at_least_26_days_apart(
    case: tuple[PlanSpec, Calendar],
) -> None:
    plan, calendar = case
    plan = PlanSpec("buprenorphine_xr_monthly", plan.start_date, pauses=plan.pauses)
    visits = [d.date for d in whole(plan, calendar, ALL_RULES["US federal 2024"]) if d.expected == "visit"]
    assert all((b - a).days >= 26 for a, b in zip(visits, visits[1:]))  # Sublocade label
