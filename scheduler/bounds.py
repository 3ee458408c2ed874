"""Input bounds: every date and integer a client or a page may send, in one place.

The engine simulates a plan day by day from its start, so a date far from today makes one request
do years of work (a plan from 0001-01-01 took 2.5 s per patient page; a calendar asked for 9998
took 8–12 s of CPU, and 9999-12-31 overflowed). Nothing a clinic does needs dates that far off:
- plans, pauses and closures are written from a few years back (a transfer, records entered late)
  to a few years ahead (a planned start, a holiday calendar), and so are the dates a query asks about:
  whole calendar years, from 1 January five years ago to 31 December three years ahead;
- a date of birth is between 1900-01-01 and today.
Integers are bounded likewise, and read from ASCII digits only: `int()` also takes "٣" (Arabic-Indic 3),
and `str.isdigit()` also passes "²", which `int()` then refuses.

Shells (serializers, filters, page forms) call the functions here; each refusal names the field and
the bound. The schema states each date bound as an exact `pattern` (date_pattern), computed when the
schema is generated. "Today" is the UTC date for the plan/query years (they are whole years, so a clinic's
offset does not matter), and the earliest date anywhere (UTC-12) for birth dates, so that no clinic's
today is refused.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django import forms
from django.utils import timezone

# --- dates --------------------------------------------------------------------------------------------

BIRTH_DATE_MIN = date(1900, 1, 1)
# Plans (start_date, treatment_start, end_date), pauses, closures and query dates: the calendar years from
# 5 years back (a patient transferred in, a back-dated record; every take-home tier, the longest being
# 42 CFR 8.12(i)(3)(vi) (2001) from day 731, is reached within 5 years of treatment_start) to 3 years ahead.
YEARS_BACK = 5
YEARS_AHEAD = 3
# One calendar or report request covers at most 400 days (a year with the weeks on either side) ...
MAX_RANGE_DAYS = 400
# ... and the engine simulates an oral plan from its start: 20 years is about 20 ms of work.
MAX_YEARS_AFTER_PLAN_START = 20

# --- integers -----------------------------------------------------------------------------------------

INTERVAL_DAYS_MAX = 366  # injections: the longest label interval is a month; a year is a generous ceiling
MIN_INTERVAL_MINUTES_MAX = 1440  # diamorphine: sessions at least this far apart; more than a day is no interval
DOSES_PER_DAY_MIN, DOSES_PER_DAY_MAX = 1, 3  # DOMAIN §1: diamorphine 1–3 sessions a day, others 1
ATTENDANCE_EVERY_WEEKS_MAX = 52
CAPACITY_MAX = 10_000  # visits one window takes on one date
STATIONS_MAX = 1_000
MINUTES_PER_VISIT_MAX = 1440
TAKE_HOME_DOSES_MAX = 366
ID_MAX = 2**63 - 1  # a bigint primary key
_MAX_DIGITS = 20  # longer than any bound above: refused before int() does any work


class BoundError(ValueError):
    """A value outside its bound; the message says the bound (the shell adds the field name)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _shift_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a year without one
        return day.replace(year=day.year + years, day=28)


# RFC 3339 full-date, as `format: date` in the schema says: Python's parsers also take "2026-1-5" and "20261105".
_FULL_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def check_date_text(value: Any) -> None:
    """Text dates are YYYY-MM-DD exactly (date objects pass)."""
    # Not stripped: "2026-11-16\n" is no YYYY-MM-DD to the schema's pattern either.
    if isinstance(value, str) and value and not _FULL_DATE.fullmatch(value):
        raise BoundError("Give a date as YYYY-MM-DD.")


def today_utc() -> date:
    return timezone.now().date()


@dataclass(frozen=True)
class DateRange:
    earliest: date
    latest: date

    def check(self, value: date) -> date:
        if not self.earliest <= value <= self.latest:
            raise BoundError(
                f"Give a date from {self.earliest.isoformat()} to {self.latest.isoformat()} "
                f"(got {value.isoformat()})."
            )
        return value


def schedule_range(today: date | None = None) -> DateRange:
    """Plans, pauses, closures and query dates: 1 January (this year − 5) … 31 December (this year + 3)."""
    year = (today or today_utc()).year
    return DateRange(date(year - YEARS_BACK, 1, 1), date(year + YEARS_AHEAD, 12, 31))


def birth_range(today: date | None = None) -> DateRange:
    """1900-01-01 … today, where "today" is the earliest date anywhere (UTC-12): a date no clinic calls
    the future (the patient service then checks the clinic's own today, which is never earlier)."""
    latest = today or (timezone.now() - timedelta(hours=12)).date()
    return DateRange(BIRTH_DATE_MIN, latest)


SCHEDULE_RANGE_TEXT = (
    f"From 1 January {YEARS_BACK} years ago to 31 December {YEARS_AHEAD} years ahead (in requests; the "
    "pattern states the dates exactly)."
)
BIRTH_RANGE_TEXT = f"From {BIRTH_DATE_MIN.isoformat()} to today (in requests; the pattern states the dates exactly)."


# --- the bounds as a regular expression (for the schema) ---------------------------------------------


def _two_digits(lo: int, hi: int) -> str:
    """lo..hi (1..31) as a regular expression over two-digit numbers, grouped by their tens digit."""
    parts = []
    for tens in range(lo // 10, hi // 10 + 1):
        first, last = max(lo, tens * 10) % 10, min(hi, tens * 10 + 9) % 10
        parts.append(f"{tens}{first}" if first == last else f"{tens}[{first}-{last}]")
    return "|".join(parts)


def _month_days(first: date, last: date) -> str:
    """Month-day alternatives from first to last, both in one year."""
    parts = []
    for month in range(first.month, last.month + 1):
        lo = first.day if month == first.month else 1
        hi = last.day if month == last.month else calendar.monthrange(first.year, month)[1]
        parts.append(f"{month:02d}-(?:{_two_digits(lo, hi)})")
    return "|".join(parts)


# Every day of a year but 29 February, and the years that have one.
_COMMON_YEAR = "(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])|(?:0[13-9]|1[0-2])-(?:29|30)|(?:0[13578]|1[02])-31"


def _years(years: list[int]) -> str:
    return "|".join(str(y) for y in years)


def date_pattern(bound: DateRange) -> str:
    """An exact regular expression for the YYYY-MM-DD dates in bound: what the schema states and
    the server accepts are the same set of strings."""
    first, last = bound.earliest, bound.latest
    if first.year == last.year:
        return f"^{first.year}-(?:{_month_days(first, last)})$"
    parts = []
    whole_from, whole_to = first.year, last.year
    if (first.month, first.day) != (1, 1):
        parts.append(f"{first.year}-(?:{_month_days(first, date(first.year, 12, 31))})")
        whole_from += 1
    if (last.month, last.day) != (12, 31):
        parts.append(f"{last.year}-(?:{_month_days(date(last.year, 1, 1), last)})")
        whole_to -= 1
    whole = list(range(whole_from, whole_to + 1))
    if whole:
        parts.append(f"(?:{_years(whole)})-(?:{_COMMON_YEAR})")
        leap = [y for y in whole if calendar.isleap(y)]
        if leap:
            parts.append(f"(?:{_years(leap)})-02-29")
    return f"^(?:{'|'.join(parts)})$"


# An RFC 3339 instant with its offset, as Python reads it (no leap second, at most microseconds).
_INSTANT_TAIL = (
    r"-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])T(?:[01][0-9]|2[0-3]):[0-5][0-9]"
    r"(?::[0-5][0-9](?:\.[0-9]{1,6})?)?(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
)
INSTANT_TEXT = re.compile(r"[0-9]{4}" + _INSTANT_TAIL)


def instant_pattern(bound: DateRange) -> str:
    """Instants whose own date lies in the years of bound (with `format: date-time` for the day of month)."""
    return f"^(?:{_years(list(range(bound.earliest.year, bound.latest.year + 1)))}){_INSTANT_TAIL}$"


def check_instant_text(value: Any) -> None:
    """A text instant is YYYY-MM-DDThh:mm[:ss[.ffffff]] with Z or ±hh:mm, its date within schedule_range."""
    if not isinstance(value, str):
        return
    if not INSTANT_TEXT.fullmatch(value):
        raise BoundError("Give an instant as YYYY-MM-DDThh:mm[:ss] with its UTC offset, e.g. 2026-11-02T07:30-05:00.")
    try:
        day = date.fromisoformat(value[:10])
    except ValueError as exc:
        raise BoundError(f"{value[:10]} is not a date.") from exc
    schedule_range().check(day)


def check_span(date_from: date, date_to: date, *, max_days: int = MAX_RANGE_DAYS) -> None:
    """date_from ≤ date_to, at most max_days dates in all; refusals are about date_to."""
    if date_to < date_from:
        raise BoundError(f"date_to ({date_to.isoformat()}) is before date_from ({date_from.isoformat()}).")
    if (date_to - date_from).days + 1 > max_days:
        raise BoundError(f"Ask for at most {max_days} days at once (got {(date_to - date_from).days + 1}).")


def check_after_plan_start(plan_start: date, date_to: date) -> None:
    """The engine's work grows with the distance from the plan's start: refuse what lies too far after it."""
    try:
        latest = _shift_years(plan_start, MAX_YEARS_AFTER_PLAN_START)
    except ValueError:  # past year 9999
        latest = date.max
    if date_to > latest:
        raise BoundError(
            f"Ask for dates at most {MAX_YEARS_AFTER_PLAN_START} years after the plan's start "
            f"({plan_start.isoformat()}), that is up to {latest.isoformat()}."
        )


# --- integers -----------------------------------------------------------------------------------------

_ASCII_INT = re.compile(r"-?[0-9]+")


def parse_int(value: Any, *, lo: int, hi: int) -> int:
    """The one integer parser of every shell: an int, an integral float, or ASCII digits; lo ≤ n ≤ hi."""
    if isinstance(value, bool):
        raise BoundError("Give a whole number, not true or false.")
    if isinstance(value, float):
        if not value.is_integer():
            raise BoundError(f"Give a whole number from {lo} to {hi}.")
        number = int(value)
    elif isinstance(value, int):
        number = value
    else:
        text = str(value).strip()
        if len(text) > _MAX_DIGITS or not _ASCII_INT.fullmatch(text):
            raise BoundError(f"Give a whole number from {lo} to {hi} in the digits 0-9.")
        number = int(text)
    if not lo <= number <= hi:
        raise BoundError(f"Give a whole number from {lo} to {hi} (got {number}).")
    return number


# --- form fields (page forms and query filters share them) --------------------------------------------


class WholeNumberField(forms.IntegerField):
    """forms.IntegerField read through parse_int: ASCII digits only, between min_value and max_value."""

    def __init__(self, *, min_value: int, max_value: int, **kwargs: Any) -> None:
        super().__init__(min_value=min_value, max_value=max_value, **kwargs)
        self.lo, self.hi = min_value, max_value

    def to_python(self, value: Any) -> int | None:
        if value in self.empty_values or (isinstance(value, str) and not value.strip()):
            return None
        try:
            return parse_int(value, lo=self.lo, hi=self.hi)
        except BoundError as exc:
            raise forms.ValidationError(exc.message, code="bound") from exc


class BoundedDateField(forms.DateField):
    """forms.DateField within a range computed when the form is cleaned (scheduler.bounds.schedule_range)."""

    def __init__(self, *, date_range: Any = schedule_range, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.date_range = date_range

    def to_python(self, value: Any) -> date | None:
        try:
            check_date_text(value)
        except BoundError as exc:
            raise forms.ValidationError(exc.message, code="invalid") from exc
        parsed = super().to_python(value)
        if parsed is None:
            return None
        try:
            return self.date_range().check(parsed)
        except BoundError as exc:
            raise forms.ValidationError(exc.message, code="bound") from exc
