"""The sweep reads visits up to `_rows_until(now)`: never before any clinic's local today."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import available_timezones

from scheduler.timeutil import local_date
from visits.missed import _rows_until


def test_no_zone_has_a_local_today_after_the_last_date_the_sweep_reads():
    zones = sorted(available_timezones())
    start = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
    for hour in range(0, 24 * 2, 3):
        now = start + timedelta(hours=hour)
        until = _rows_until(now)
        latest = max(local_date(now, z) for z in zones)
        assert latest <= until, (now, latest, until)
    assert until == now.date() + timedelta(days=1)  # and no later: later visits are all still scheduled
