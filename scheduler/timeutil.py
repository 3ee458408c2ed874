"""Clinic-local dates and wall times -> aware instants, with daylight-saving handled explicitly.

DOMAIN §6: rules are in clinic-local dates and times; a wall time that does not exist (spring-forward
gap) is an error, an ambiguous one (fall-back) means its first occurrence.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from functools import lru_cache
from zoneinfo import ZoneInfo


class NonexistentLocalTime(ValueError):
    """A wall time that the clock skips on that date (spring-forward gap)."""


def zone(tz: ZoneInfo | str) -> ZoneInfo:
    return tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)


# Window instants repeat across plans: every patient of a clinic has the same windows on the same dates,
# so generation converted the same (date, wall time, zone) to UTC once per plan. Results are immutable
# aware datetimes, safe to share. Bounded: 65,536 entries ≈ 90 days × 20 windows × 2 ends × 18 zones.
_INSTANT_CACHE_SIZE = 65_536


@lru_cache(maxsize=_INSTANT_CACHE_SIZE)
def _utc_instant(d: date, wall_time: time, tz: ZoneInfo | str) -> datetime:
    z = zone(tz)
    # fold=0 picks the first occurrence of an ambiguous fall-back time (PEP 495).
    wall = datetime.combine(d, wall_time.replace(fold=0))
    instant = wall.replace(tzinfo=z).astimezone(UTC)
    # zoneinfo silently accepts times inside a gap; a round trip through UTC lands on another wall time.
    if instant.astimezone(z).replace(tzinfo=None) != wall:
        raise NonexistentLocalTime(
            f"{wall_time.strftime('%H:%M')} does not exist on {d.isoformat()} in {z.key} (daylight-saving gap)"
        )
    return instant


@lru_cache(maxsize=_INSTANT_CACHE_SIZE)
def _local_instant(d: date, wall_time: time, tz: ZoneInfo | str) -> datetime:
    return _utc_instant(d, wall_time, tz).astimezone(zone(tz))


# Cache keys: a naive `time` compares and hashes without its fold, which the conversion ignores anyway;
# an aware one would hash by its UTC offset (and collide with another wall time), so it is made naive.
# A ZoneInfo hashes by identity (ZoneInfo(key) returns one shared instance), a zone name by value.


def utc_instant(d: date, t: time, tz: ZoneInfo | str) -> datetime:
    """Like local_instant, but the instant in UTC (safe to compare, store and do arithmetic on)."""
    return _utc_instant(d, t if t.tzinfo is None else t.replace(tzinfo=None), tz)


def local_instant(d: date, t: time, tz: ZoneInfo | str) -> datetime:
    """The aware datetime for wall time `t` on `d` in `tz` (first occurrence if ambiguous).

    The result carries the clinic zone. In the fall-back hour PEP 495 makes it compare unequal (==) to
    any datetime in another zone, so convert with `.astimezone(UTC)` before storing or comparing.
    """
    return _local_instant(d, t if t.tzinfo is None else t.replace(tzinfo=None), tz)


def local_date(instant: datetime, tz: ZoneInfo | str) -> date:
    """The clinic-local calendar date of an aware instant."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"local_date needs an aware datetime, got naive {instant.isoformat()}")
    return instant.astimezone(zone(tz)).date()
