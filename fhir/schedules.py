"""Schedule (one per clinic and service its windows offer) and Slot (one per window, date and service), with
free/busy from the window's capacity (visits.selectors.availability) and closures as busy-unavailable."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.utils import timezone

from fhir import mapping, search, selectors
from fhir.http import FhirError
from scheduler.models import SERVICES, Clinic, DosingWindow
from scheduler.permissions import scope_to_clinics
from scheduler.timeutil import local_date
from visits import selectors as ledger

# Slot searches cover at most this many days (each date reads the windows' bookings).
MAX_SLOT_DAYS = 31
DEFAULT_SLOT_DAYS = 7


def _service_from_id(text: str) -> str | None:
    service = text.replace("-", "_")
    return service if service in SERVICES else None


def schedule_parts(schedule_id: str, user: Any) -> tuple[Clinic, str] | None:
    """`<clinic id>-<service>` → the clinic (if the user may see it) and the service (if it offers it)."""
    head, _, tail = schedule_id.partition("-")
    service = _service_from_id(tail)
    if not (head.isascii() and head.isdigit() and len(head) < 19) or service is None:
        return None
    clinic = selectors.clinics(user).filter(pk=int(head)).first()
    if clinic is None or service not in selectors.services_of(clinic):
        return None
    return clinic, service


def slot_parts(slot_id: str, user: Any) -> dict[str, Any] | None:
    """`<window id>-<YYYY-MM-DD>-<service>` → window, clinic, date, service and the window's instants that day."""
    head, _, rest = slot_id.partition("-")
    service = _service_from_id(rest[11:])
    if not (head.isascii() and head.isdigit() and len(head) < 19) or service is None or rest[10:11] != "-":
        return None
    try:
        day = date.fromisoformat(rest[:10])
    except ValueError:
        return None
    windows = scope_to_clinics(DosingWindow.objects.select_related("clinic"), user).filter(pk=int(head))
    window = windows.first()
    if window is None:
        return None
    found = ledger.slots_for(window.clinic, day, service, windows=[window])
    if not found:
        return None
    return {"window": window, "clinic": window.clinic, "date": day, "service": service,
            "start": found[0].start, "end": found[0].end}


def slot_resources(clinic: Clinic, service: str, days: list[date], windows: list[DosingWindow] | None = None
                   ) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for day in days:
        closure = ledger.closure_for(clinic, day, service)
        if closure is not None:
            for slot in ledger.slots_for(clinic, day, service, windows=windows):
                out.append(mapping.slot(
                    clinic=clinic, service=service, window_id=slot.window.pk, day=day, start=slot.start,
                    end=slot.end, capacity=slot.window.capacity, booked=0, closure=closure.reason,
                ))
            continue
        for row in ledger.availability(clinic=clinic, date=day, service=service):
            if windows is not None and row["window_id"] not in {w.pk for w in windows}:
                continue
            out.append(mapping.slot(
                clinic=clinic, service=service, window_id=row["window_id"], day=day, start=row["start"],
                end=row["end"], capacity=row["capacity"], booked=row["booked"],
            ))
    return out


def slot_days(bounds: list[search.DateBound], clinic: Clinic) -> list[date]:
    """The clinic-local dates a Slot search covers: its `start` bounds, by default a week from today."""
    today = local_date(timezone.now(), clinic.timezone)
    first, last = today, None
    for bound in bounds:
        day = bound.day if bound.day is not None else local_date(bound.moment, clinic.timezone)  # type: ignore[arg-type]
        if bound.prefix == "eq":
            first, last = day, day
        elif bound.prefix in ("ge", "gt"):
            first = day + timedelta(days=1) if bound.prefix == "gt" and bound.day is not None else day
        else:
            last = day - timedelta(days=1) if bound.prefix == "lt" and bound.day is not None else day
    if last is None:
        last = first + timedelta(days=DEFAULT_SLOT_DAYS - 1)
    if (last - first).days >= MAX_SLOT_DAYS:
        raise FhirError(f"start: a Slot search covers at most {MAX_SLOT_DAYS} days "
                        f"({first.isoformat()} to {last.isoformat()} is {(last - first).days + 1}).",
                        expression=["start"])
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]
