"""Pure arithmetic: reminder instants, the allowed-hours window and caps, including DST changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from notifications.planning import CapLedger, next_allowed, place_in_allowed_hours, reminder_instant, wall_instant

NY = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
NINE, EIGHT_PM = time(9, 0), time(20, 0)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_it_sends_at_local_send_time_on_the_day_before_in_new_york_after_fall_back():
    # 2026-11-01 is the fall-back day in New York: 10:00 is EST (UTC-5), not EDT.
    visit_start = datetime(2026, 11, 2, 11, 0, tzinfo=NY)
    when = reminder_instant(
        visit_date=date(2026, 11, 2),
        days_before=1,
        send_at=time(10, 0),
        tz=NY,
        start=NINE,
        end=EIGHT_PM,
        visit_start=visit_start,
    )
    assert when == utc(2026, 11, 1, 15, 0)


def test_it_keeps_local_send_time_the_day_before_the_change_in_new_york():
    visit_start = datetime(2026, 11, 8, 11, 0, tzinfo=NY)
    when = reminder_instant(
        visit_date=date(2026, 11, 8),
        days_before=7,
        send_at=time(10, 0),
        tz=NY,
        start=NINE,
        end=EIGHT_PM,
        visit_start=visit_start,
    )
    assert when == utc(2026, 11, 1, 15, 0)
    before_change = reminder_instant(
        visit_date=date(2026, 11, 7),
        days_before=7,
        send_at=time(10, 0),
        tz=NY,
        start=NINE,
        end=EIGHT_PM,
        visit_start=visit_start,
    )
    assert before_change == utc(2026, 10, 31, 14, 0)  # still EDT


def test_it_handles_london_clock_changes():
    # Europe/London: BST ends 2026-10-25, begins 2026-03-29.
    autumn = reminder_instant(
        visit_date=date(2026, 10, 26),
        days_before=1,
        send_at=time(10, 0),
        tz=LONDON,
        start=NINE,
        end=EIGHT_PM,
        visit_start=datetime(2026, 10, 26, 11, tzinfo=LONDON),
    )
    assert autumn == utc(2026, 10, 25, 10, 0)
    spring = reminder_instant(
        visit_date=date(2026, 3, 30),
        days_before=1,
        send_at=time(10, 0),
        tz=LONDON,
        start=NINE,
        end=EIGHT_PM,
        visit_start=datetime(2026, 3, 30, 11, tzinfo=LONDON),
    )
    assert spring == utc(2026, 3, 29, 9, 0)


def test_a_send_time_inside_the_spring_forward_gap_moves_past_the_gap():
    assert wall_instant(date(2026, 3, 8), time(2, 30), NY) == utc(2026, 3, 8, 7, 30)  # 03:30 EDT


def test_an_ambiguous_fall_back_time_takes_the_first_occurrence():
    assert wall_instant(date(2026, 11, 1), time(1, 30), NY) == utc(2026, 11, 1, 5, 30)


def test_an_early_send_time_moves_forward_to_the_start_of_allowed_hours():
    candidate = datetime(2026, 11, 10, 7, 0, tzinfo=NY)
    placed = place_in_allowed_hours(
        candidate, tz=NY, start=NINE, end=EIGHT_PM, before=datetime(2026, 11, 11, 11, tzinfo=NY)
    )
    assert placed == datetime(2026, 11, 10, 9, 0, tzinfo=NY)


def test_a_late_send_time_moves_back_to_the_end_of_allowed_hours():
    candidate = datetime(2026, 11, 10, 22, 0, tzinfo=NY)
    placed = place_in_allowed_hours(
        candidate, tz=NY, start=NINE, end=EIGHT_PM, before=datetime(2026, 11, 11, 11, tzinfo=NY)
    )
    assert placed == datetime(2026, 11, 10, 20, 0, tzinfo=NY)


def test_it_moves_to_the_evening_before_when_the_morning_is_after_the_visit():
    candidate = datetime(2026, 11, 10, 7, 0, tzinfo=NY)
    placed = place_in_allowed_hours(
        candidate, tz=NY, start=NINE, end=EIGHT_PM, before=datetime(2026, 11, 10, 8, 30, tzinfo=NY)
    )
    assert placed == datetime(2026, 11, 9, 20, 0, tzinfo=NY)


def test_it_drops_a_reminder_with_no_allowed_time_before_the_visit():
    candidate = datetime(2026, 11, 10, 10, 0, tzinfo=NY)
    assert (
        place_in_allowed_hours(
            candidate,
            tz=NY,
            start=NINE,
            end=EIGHT_PM,
            before=datetime(2026, 11, 10, 8, 0, tzinfo=NY) - timedelta(days=2),
        )
        is None
    )


def test_quiet_hours_use_the_patients_time_zone():
    # 10:00 in London is 05:00 in New York: allowed for a London patient, not for a New York one.
    instant = datetime(2026, 11, 10, 10, 0, tzinfo=LONDON)
    far = instant + timedelta(days=3)
    assert place_in_allowed_hours(instant, tz=LONDON, start=NINE, end=EIGHT_PM, before=far) == instant
    assert place_in_allowed_hours(instant, tz=NY, start=NINE, end=EIGHT_PM, before=far) == datetime(
        2026, 11, 10, 9, 0, tzinfo=NY
    )


def test_next_allowed_for_a_check_in_text_waits_for_the_morning():
    assert next_allowed(datetime(2026, 11, 10, 22, 0, tzinfo=NY), tz=NY, start=NINE, end=EIGHT_PM) == datetime(
        2026, 11, 11, 9, 0, tzinfo=NY
    )
    assert next_allowed(datetime(2026, 11, 10, 6, 0, tzinfo=NY), tz=NY, start=NINE, end=EIGHT_PM) == datetime(
        2026, 11, 10, 9, 0, tzinfo=NY
    )


def test_the_ledger_allows_one_a_local_day():
    ledger = CapLedger(max_per_day=1, max_per_week=3, tz=NY, instants=[datetime(2026, 11, 10, 10, tzinfo=NY)])
    assert ledger.refusal(datetime(2026, 11, 10, 19, tzinfo=NY)) is not None
    # 23:30 New York on the 9th is the 10th in UTC, but another local day.
    assert ledger.refusal(datetime(2026, 11, 9, 23, 30, tzinfo=NY)) is None


def test_the_ledger_allows_three_in_any_rolling_week():
    base = datetime(2026, 11, 2, 10, tzinfo=NY)
    ledger = CapLedger(
        max_per_day=1, max_per_week=3, tz=NY, instants=[base, base + timedelta(days=2), base + timedelta(days=4)]
    )
    assert "7 days" in (ledger.refusal(base + timedelta(days=6)) or "")
    assert "7 days" in (ledger.refusal(base - timedelta(days=1)) or "")
    assert ledger.refusal(base + timedelta(days=7)) is None  # the first has left the window
