"""Pure reminder arithmetic: send instants, the allowed-hours window and frequency caps. No ORM.

DOMAIN.md §5: texts go out only inside the allowed hours of the *patient's* time zone
(default 09:00–20:00); a reminder that would fall outside is moved to the nearest allowed time
before the visit, or dropped. At most N a local day and M in any rolling 7 days (FCC 2015
health-care exemption: 1/day, 3/week).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from scheduler.timeutil import zone

WEEK = timedelta(days=7)


def wall_instant(d: date, t: time, tz: ZoneInfo | str) -> datetime:
    """Aware instant of wall time `t` on `d`. Ambiguous → first occurrence; inside a spring-forward
    gap → the instant just after the gap (a reminder at 02:30 on that night still goes out, at 03:30)."""
    z = zone(tz)
    wall = datetime.combine(d, t.replace(tzinfo=None, fold=0)).replace(tzinfo=z)
    # Converting to UTC normalises a gap time to the instant after the jump. Instants stay in UTC:
    # Python never calls an ambiguous local time equal to a time in another zone (PEP 495).
    return wall.astimezone(UTC)


def is_allowed(instant: datetime, tz: ZoneInfo | str, start: time, end: time) -> bool:
    local = instant.astimezone(zone(tz)).time().replace(tzinfo=None)
    return start <= local <= end


def place_in_allowed_hours(
    candidate: datetime, *, tz: ZoneInfo | str, start: time, end: time, before: datetime
) -> datetime | None:
    """The allowed instant nearest to `candidate` that is strictly before `before`, or None."""
    if is_allowed(candidate, tz, start, end) and candidate < before:
        return candidate.astimezone(UTC)
    day = candidate.astimezone(zone(tz)).date()
    options = [
        wall_instant(day - timedelta(days=1), end, tz),
        wall_instant(day, start, tz),
        wall_instant(day, end, tz),
        wall_instant(day + timedelta(days=1), start, tz),
    ]
    usable = [o for o in options if o < before and is_allowed(o, tz, start, end)]
    if not usable:
        return None
    # Nearest wins; on a tie the earlier one (further from the visit) wins.
    return min(usable, key=lambda o: (abs(o - candidate), o))


def next_allowed(after: datetime, *, tz: ZoneInfo | str, start: time, end: time) -> datetime:
    """The first allowed instant at or after `after` (used for check-in texts, which have no visit)."""
    if is_allowed(after, tz, start, end):
        return after.astimezone(UTC)
    day = after.astimezone(zone(tz)).date()
    today_start = wall_instant(day, start, tz)
    return today_start if today_start >= after else wall_instant(day + timedelta(days=1), start, tz)


def reminder_instant(
    *,
    visit_date: date,
    days_before: int,
    send_at: time,
    tz: ZoneInfo | str,
    start: time,
    end: time,
    visit_start: datetime,
) -> datetime | None:
    """When the `days_before` reminder of a visit goes out, or None if no allowed time is useful."""
    candidate = wall_instant(visit_date - timedelta(days=days_before), send_at, tz)
    return place_in_allowed_hours(candidate, tz=tz, start=start, end=end, before=visit_start)


@dataclass
class CapLedger:
    """Instants of a patient's texts that count against the caps (planned or sent)."""

    max_per_day: int
    max_per_week: int
    tz: ZoneInfo | str
    instants: list[datetime] = field(default_factory=list)

    def refusal(self, instant: datetime) -> str | None:
        """Why one more text at `instant` would break a cap, or None if it fits."""
        z = zone(self.tz)
        day = instant.astimezone(z).date()
        same_day = sum(1 for i in self.instants if i.astimezone(z).date() == day)
        if same_day + 1 > self.max_per_day:
            return f"frequency cap: at most {self.max_per_day} a day ({day.isoformat()})"
        if self._busiest_week_with(instant) > self.max_per_week:
            return f"frequency cap: at most {self.max_per_week} in 7 days"
        return None

    def _busiest_week_with(self, instant: datetime) -> int:
        # Any 7-day window holding the most texts can be slid to start at one of them.
        points = sorted([*self.instants, instant])
        starts = [p for p in points if instant - WEEK < p <= instant]
        return max(sum(1 for p in points if s <= p < s + WEEK) for s in starts)

    def add(self, instant: datetime) -> None:
        self.instants.append(instant)

    def discard(self, instant: datetime) -> None:
        if instant in self.instants:
            self.instants.remove(instant)


def ledger_for(instants: Iterable[datetime], *, max_per_day: int, max_per_week: int, tz: ZoneInfo | str) -> CapLedger:
    return CapLedger(max_per_day=max_per_day, max_per_week=max_per_week, tz=tz, instants=list(instants))
