"""Daylight saving (DOMAIN §6): local times stay local, gaps are reported, ambiguous times take the first."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from scheduler.engine import Calendar, PlanSpec, Window, plan_days
from scheduler.rules import preset_rules
from scheduler.timeutil import NonexistentLocalTime, local_date, local_instant, utc_instant

RULES = preset_rules()
EVERY_DAY = frozenset(range(7))
ORAL = frozenset({"methadone", "buprenorphine"})


@pytest.mark.parametrize(
    ("tz", "change", "offset_before", "offset_after"),
    [
        ("America/New_York", date(2026, 3, 8), -5, -4),
        ("America/New_York", date(2026, 11, 1), -4, -5),
        ("Europe/London", date(2026, 3, 29), 0, 1),
        ("Europe/London", date(2026, 10, 25), 1, 0),
    ],
)
def test_a_seven_oclock_window_stays_at_seven_local_across_the_change(
    tz: str, change: date, offset_before: int, offset_after: int
) -> None:
    calendar = Calendar(tz, (Window(1, EVERY_DAY, time(7), time(10), ORAL),))
    plan = PlanSpec("buprenorphine", change - timedelta(days=2))
    result = plan_days(plan, calendar, RULES, change - timedelta(days=1), change + timedelta(days=1))
    starts = [day.sessions[0].start for day in result]
    assert [s.astimezone(ZoneInfo(tz)).time() for s in starts] == [time(7)] * 3
    assert [s.astimezone(ZoneInfo(tz)).utcoffset() for s in starts] == [
        timedelta(hours=offset_before),
        timedelta(hours=offset_after),
        timedelta(hours=offset_after),
    ]
    assert all(s.tzinfo is UTC for s in starts)  # sessions are stored as UTC instants


@pytest.mark.parametrize(
    ("tz", "day", "wall"),
    [("America/New_York", date(2026, 3, 8), time(2, 30)), ("Europe/London", date(2026, 3, 29), time(1, 30))],
)
def test_a_time_in_the_spring_forward_gap_is_an_error_naming_date_time_and_zone(tz: str, day: date, wall: time) -> None:
    with pytest.raises(NonexistentLocalTime) as error:
        local_instant(day, wall, tz)
    assert str(error.value) == f"{wall:%H:%M} does not exist on {day.isoformat()} in {tz} (daylight-saving gap)"


@pytest.mark.parametrize(
    ("tz", "day", "utc"),
    [
        ("America/New_York", date(2026, 11, 1), datetime(2026, 11, 1, 5, 30, tzinfo=UTC)),
        ("Europe/London", date(2026, 10, 25), datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),
    ],
)
def test_an_ambiguous_fall_back_time_takes_its_first_occurrence(tz: str, day: date, utc: datetime) -> None:
    instant = local_instant(day, time(1, 30), ZoneInfo(tz))
    # PEP 495: an ambiguous local datetime never compares == across zones, so compare in UTC.
    assert instant.astimezone(UTC) == utc
    assert (instant.fold, instant.replace(tzinfo=None)) == (0, datetime.combine(day, time(1, 30)))


def test_a_window_inside_the_gap_is_reported_not_shifted() -> None:
    gap_day = date(2026, 3, 8)
    calendar = Calendar("America/New_York", (Window(3, EVERY_DAY, time(2, 30), time(4), ORAL),))
    plan = PlanSpec("methadone", gap_day - timedelta(days=1))
    gap, normal = plan_days(plan, calendar, RULES, gap_day, gap_day + timedelta(days=1))
    assert (gap.expected, gap.sessions) == ("visit", ())
    assert gap.reason == (
        "attendance day; window 02:30–04:00 does not exist on 2026-03-08 in America/New_York (daylight-saving gap)"
    )
    assert len(normal.sessions) == 1


def test_a_later_window_serves_the_visit_when_the_first_is_in_the_gap() -> None:
    gap_day = date(2026, 3, 8)
    windows = (Window(3, EVERY_DAY, time(2, 30), time(4), ORAL), Window(4, EVERY_DAY, time(7), time(9), ORAL))
    plan = PlanSpec("methadone", gap_day)
    (day,) = plan_days(plan, Calendar("America/New_York", windows), RULES, gap_day, gap_day)
    assert [s.window_id for s in day.sessions] == [4]
    assert "window 02:30–04:00 does not exist" in day.reason


def test_a_window_through_the_fall_back_hour_lasts_its_elapsed_time() -> None:
    fall_back = date(2026, 11, 1)
    calendar = Calendar("America/New_York", (Window(1, EVERY_DAY, time(1), time(2), ORAL),))
    (day,) = plan_days(PlanSpec("methadone", fall_back), calendar, RULES, fall_back, fall_back)
    (session,) = day.sessions
    assert session.start == datetime(2026, 11, 1, 5, 0, tzinfo=UTC)
    assert session.end - session.start == timedelta(hours=2)


def test_diamorphine_intervals_are_elapsed_time_across_the_gap() -> None:
    gap_day = date(2026, 3, 8)
    calendar = Calendar("America/New_York", (Window(1, EVERY_DAY, time(0, 30), time(6), frozenset({"diamorphine"})),))
    plan = PlanSpec("diamorphine", gap_day, doses_per_day=2, min_interval_minutes=120)
    (day,) = plan_days(plan, calendar, RULES, gap_day, gap_day)
    first, second = day.sessions
    assert second.start - first.start == timedelta(minutes=120)
    assert second.start.astimezone(ZoneInfo("America/New_York")).time() == time(3, 30)


def test_local_date_is_the_clinic_calendar_date() -> None:
    late_evening = datetime(2026, 3, 8, 3, 30, tzinfo=UTC)  # 22:30 on the 7th in New York
    assert local_date(late_evening, "America/New_York") == date(2026, 3, 7)
    assert local_date(late_evening, "Europe/London") == date(2026, 3, 8)
    with pytest.raises(ValueError, match="aware"):
        local_date(datetime(2026, 3, 8, 3, 30), "Europe/London")


def test_cached_instants_keep_dst_semantics():
    """utc_instant/local_instant are memoised; repeats, aware inputs and gaps still behave as before."""
    ny = ZoneInfo("America/New_York")
    fall_back = date(2026, 11, 1)
    first = utc_instant(fall_back, time(1, 30), ny)
    assert first == utc_instant(fall_back, time(1, 30, fold=1), "America/New_York")  # first occurrence
    assert first.utcoffset() == timedelta(0) and first.hour == 5  # 01:30 EDT
    assert local_instant(fall_back, time(1, 30), ny).tzinfo is ny
    # An aware time is taken as a wall time; it must not share a cache entry with the same UTC instant.
    assert utc_instant(fall_back, time(9, 0, tzinfo=UTC), ny) != utc_instant(fall_back, time(4, 0), ny)
    for _ in range(2):  # a gap raises every time, cached or not
        with pytest.raises(NonexistentLocalTime):
            utc_instant(date(2026, 3, 8), time(2, 30), ny)
