"""Reads for the ledger: the visit list, one clinic's availability, the windows a booking may use."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, NamedTuple

from django.db.models import BooleanField, Count, ExpressionWrapper, Q, QuerySet

from scheduler.models import Clinic, Closure, DosingWindow
from scheduler.permissions import scope_to_clinics
from scheduler.timeutil import NonexistentLocalTime, local_instant
from visits.models import Visit

_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def visits_for_user(user: Any) -> QuerySet[Visit]:
    """Visits the user may see. `clinic` is joined so instants render in the clinic's zone without a query."""
    qs = Visit.objects.select_related("clinic").order_by("date", "start", "id")
    return scope_to_clinics(qs, user)


@dataclass(frozen=True)
class Slot:
    """One window on one clinic-local date, as UTC instants."""

    window: DosingWindow
    start: datetime
    end: datetime


def closure_for(clinic: Clinic, day: date, service: str) -> Closure | None:
    """The closure that shuts `service` on `day` (an empty services list closes everything)."""
    for closure in Closure.objects.filter(clinic=clinic, date=day).order_by("id"):
        if not closure.services or service in closure.services:
            return closure
    return None


def slots_for(clinic: Clinic, day: date, service: str, *, windows: list[DosingWindow] | None = None) -> list[Slot]:
    """The windows offering `service` on `day`'s weekday, ignoring closures, sorted by start.

    A window whose wall times do not exist that day (spring-forward gap) is left out: DOMAIN §6
    says such a time is an error, never silently shifted.
    """
    if windows is None:
        windows = list(DosingWindow.objects.filter(clinic=clinic).order_by("start", "end", "id"))
    slots: list[Slot] = []
    for window in windows:
        if day.weekday() not in window.weekdays or service not in window.services:
            continue
        try:
            start = local_instant(day, window.start, clinic.timezone).astimezone(UTC)
            end = local_instant(day, window.end, clinic.timezone).astimezone(UTC)
        except NonexistentLocalTime:
            continue
        slots.append(Slot(window, start, end))
    return slots


def no_window_reason(day: date, service: str) -> str:
    return f"No window offers {service} on {_WEEKDAYS[day.weekday()]}s."


# Every status but cancelled holds its place in a window: a missed or excused visit still used the slot that
# day. Booking (booked_counts) and generation (window_bookings) count with this one rule.
FREES_ITS_PLACE = ("cancelled",)


def booked_counts(window_ids: list[int], day: date, *, exclude_visit: int | None = None) -> dict[int, int]:
    """Visits holding a place (FREES_ITS_PLACE) per window on `day`, in one aggregate query."""
    if not window_ids:
        return {}
    qs = Visit.objects.filter(window_id__in=window_ids, date=day).exclude(status__in=FREES_ITS_PLACE)
    if exclude_visit is not None:
        qs = qs.exclude(pk=exclude_visit)
    rows = qs.order_by().values("window_id").annotate(n=Count("id"))
    return {row["window_id"]: row["n"] for row in rows}


class WindowBooking(NamedTuple):
    window_id: int
    date: date
    start: datetime | None
    movable: bool  # a generated visit regeneration may still move (scheduled, untouched)
    visits: int


def window_bookings(window_ids: list[int], date_from: date, date_to: date) -> list[WindowBooking]:
    """Visits holding a place per (window, date, start) over a date range, in one aggregate query.

    Generation loads this once per chunk of plans (never a query per visit); `start` tells it which
    diamorphine booth slots are taken, `movable` which visits a calendar change may still move.
    """
    if not window_ids:
        return []
    movable = ExpressionWrapper(Q(source="plan", status="scheduled", edited=False), output_field=BooleanField())
    rows = (
        Visit.objects.filter(window_id__in=window_ids, date__range=(date_from, date_to))
        .exclude(status__in=FREES_ITS_PLACE)
        .order_by()
        .annotate(movable=movable)
        .values_list("window_id", "date", "start", "movable")
        .annotate(n=Count("id"))
    )
    return [WindowBooking(*row) for row in rows]


def availability(*, clinic: Clinic, date: date, service: str) -> list[dict[str, Any]]:
    """Windows offering `service` on the clinic-local `date` with their bookings; [] on a closure."""
    if closure_for(clinic, date, service) is not None:
        return []
    slots = slots_for(clinic, date, service)
    counts = booked_counts([s.window.pk for s in slots], date)
    rows = []
    for slot in slots:
        booked = counts.get(slot.window.pk, 0)
        rows.append(
            {
                "window_id": slot.window.pk,
                "start": slot.start,
                "end": slot.end,
                "capacity": slot.window.capacity,
                "booked": booked,
                "remaining": max(slot.window.capacity - booked, 0),
            }
        )
    return rows
