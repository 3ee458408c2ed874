"""Input bounds: every date and integer a client or a page may send, in one place.

The engine simulates a plan day by day from its start, so a date far from today makes one request
do years of work (a plan from 0001-01-01 took 2.5 s per patient page; a calendar asked for 9998
took 8–12 s of CPU, and 9999-12-31 overflowed). Nothing a clinic does needs dates that far off:
- plans, pauses and closures are written from a few years back (a transfer, records entered late)
  to a few years ahead (a planned start, a holiday calendar), and so are the dates a query asks about;
- a date of birth is between 1900-01-01 and today (clinic-local; the service checks the clinic's today).
Integers are bounded likewise, and read from ASCII digits only: `int()` also takes "٣" (Arabic-Indic 3),
and `str.isdigit()` also passes "²", which `int()` then refuses.

Shells (serializers, filters, page forms) call the functions here; each refusal names the field and
the bound. "Today" for the plan/query window is the UTC date: the bounds are years wide, so a clinic's
offset from UTC does not matter to them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django import forms
from django.utils import timezone

# --- dates --------------------------------------------------------------------------------------------

BIRTH_DATE_MIN = date(1900, 1, 1)
# Plans (start_date, treatment_start, end_date), pauses, closures and query dates: from 5 years back
# (a patient transferred in, a back-dated record; every take-home tier, the longest being 42 CFR
# 8.12(i)(3)(vi) (2001) from day 731, is reached within 5 years of treatment_start) to 3 years ahead.
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
    if isinstance(value, str) and value.strip() and not _FULL_DATE.fullmatch(value.strip()):
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
    """Plans, pauses, closures and query dates: today − 5 years … today + 3 years."""
    today = today or today_utc()
    return DateRange(_shift_years(today, -YEARS_BACK), _shift_years(today, YEARS_AHEAD))


def birth_range(today: date | None = None) -> DateRange:
    """1900-01-01 … today. Without a clinic at hand, "today" is the latest date anywhere (UTC+14);
    the patient service then checks against the clinic's own today."""
    latest = today or (timezone.now() + timedelta(hours=14)).date()
    return DateRange(BIRTH_DATE_MIN, latest)


SCHEDULE_RANGE_TEXT = f"From {YEARS_BACK} years before today to {YEARS_AHEAD} years after today."
BIRTH_RANGE_TEXT = f"From {BIRTH_DATE_MIN.isoformat()} to today (clinic-local)."


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
