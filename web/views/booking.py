"""Booking and rescheduling: live availability per window, book, reschedule, cancel."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from notifications.replanning import visit_book, visit_cancel, visit_reschedule
from scheduler import bounds
from scheduler.errors import RuleViolation, StateConflict
from scheduler.models import SERVICES, Clinic, Patient, Plan
from scheduler.permissions import FRONT_DESK
from visits.models import KIND_CHOICES, Visit
from visits.selectors import availability, closure_for, no_window_reason, slots_for
from web import selectors
from web.access import clinic_or_404, patient_or_404, require, staff_view, visit_or_404
from web.forms import DayForm
from web.views.common import page_context

PLAN_KINDS = ("dose", "injection")


def _parse_date(raw: str) -> tuple[date | None, str]:
    """A clinic-local date YYYY-MM-DD within scheduler.bounds, or None and why not."""
    form = DayForm({"date": raw})
    if form.is_valid():
        return form.cleaned_data["date"], ""
    return None, " ".join(str(m) for m in form.errors["date"])


def availability_rows(clinic: Clinic, day: date, service: str) -> list[dict[str, Any]]:
    tz = ZoneInfo(clinic.timezone)
    now = timezone.now()
    rows = []
    for row in availability(clinic=clinic, date=day, service=service):
        start, end = row["start"].astimezone(tz), row["end"].astimezone(tz)
        rows.append(
            {
                "window_id": row["window_id"],
                "start": start.isoformat(),
                "end": end.isoformat(),
                "label": f"{start:%H:%M}–{end:%H:%M}",
                "capacity": row["capacity"],
                "booked": row["booked"],
                "remaining": row["remaining"],
                "ended": row["end"] <= now,
            }
        )
    return rows


@staff_view
@require_GET
def availability_json(request: HttpRequest, clinic_id: int) -> JsonResponse:
    clinic = clinic_or_404(request.user, clinic_id)
    day, why = _parse_date(request.GET.get("date", ""))
    service = request.GET.get("service", "")
    if day is None:
        return JsonResponse({"date": [f"Give a date as YYYY-MM-DD. {why}".strip()]}, status=400)
    if service not in SERVICES:
        return JsonResponse({"service": [f"Give one of: {', '.join(SERVICES)}."]}, status=400)
    rows = availability_rows(clinic, day, service)
    closed = "" if rows else _closed_reason(clinic, day, service)
    return JsonResponse({"date": day.isoformat(), "service": service, "closed": closed, "results": rows})


def _closed_reason(clinic: Clinic, day: date, service: str) -> str:
    closure = closure_for(clinic, day, service)
    if closure is not None:
        return f"Closed on {day.isoformat()}" + (f": {closure.reason}" if closure.reason else "") + "."
    return no_window_reason(day, service)


def _plan_id(raw: str) -> int:
    """A plan id typed into the form; anything else matches no plan (0)."""
    try:
        return bounds.parse_int(raw, lo=1, hi=bounds.ID_MAX)
    except bounds.BoundError:
        return 0


def _service_for(kind: str, plan: Plan | None) -> str:
    return plan.medication if kind in PLAN_KINDS and plan is not None else kind


def _start_for(clinic: Clinic, day: date, service: str, window_id: str) -> datetime | None:
    """The instant to book in the chosen window: its start, or now if it has already begun today."""
    try:
        wanted = bounds.parse_int(window_id, lo=1, hi=bounds.ID_MAX)
    except bounds.BoundError:
        return None
    for slot in slots_for(clinic, day, service):
        if slot.window.pk == wanted:
            return max(slot.start, timezone.now() + timedelta(minutes=1))
    return None


def render_book(request: HttpRequest, patient: Patient, *, error: str = "", status: int = 200) -> HttpResponse:
    clinic = patient.clinic
    today = selectors.clinic_today(clinic)
    plans = list(patient.plans.filter(status="active").order_by("id"))
    context = page_context(
        request,
        clinic,
        nav_active="patients",
        patient=patient,
        plans=plans,
        kinds=KIND_CHOICES,
        today=today,
        max_date=today + timedelta(days=90),
        form=request.POST if request.method == "POST" else {},
        error=error,
        upcoming=selectors.patient_next_visits(patient=patient, today=today, limit=20),
    )
    return render(request, "web/book.html", context, status=status)


@never_cache
@staff_view
@require_GET
def book_page(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = patient_or_404(request.user, patient_id)
    require(request.user, FRONT_DESK)
    return render_book(request, patient)


@staff_view
@require_POST
def book(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = patient_or_404(request.user, patient_id)
    require(request.user, FRONT_DESK)
    kind = request.POST.get("kind", "")
    day, why = _parse_date(request.POST.get("date", ""))
    plan: Plan | None = None
    plan_id = request.POST.get("plan", "")
    if plan_id:
        plan = patient.plans.filter(pk=_plan_id(plan_id)).first()
        if plan is None:
            return render_book(request, patient, error="Choose one of this patient's plans.", status=400)
    if kind not in dict(KIND_CHOICES):
        return render_book(request, patient, error="Choose what the visit is for.", status=400)
    if day is None:
        return render_book(request, patient, error=f"Choose a date. {why}".strip(), status=400)
    start = _start_for(patient.clinic, day, _service_for(kind, plan), request.POST.get("window", ""))
    try:
        visit = visit_book(patient=patient, kind=kind, date=day, plan=plan, start=start, by=request.user)
    except (RuleViolation, StateConflict) as exc:
        return render_book(request, patient, error=exc.message, status=exc.status_code)
    messages.success(request, f"Booked {visit.get_kind_display().lower()} on {_when(visit)}.")
    return redirect("web:book", patient_id=patient.pk)


def _when(visit: Visit) -> str:
    if visit.start is None:
        return visit.date.isoformat()
    local = visit.start.astimezone(ZoneInfo(visit.clinic.timezone))
    return f"{visit.date.isoformat()} at {local:%H:%M}"


@staff_view
@require_POST
def reschedule(request: HttpRequest, visit_id: int) -> HttpResponse:
    visit = visit_or_404(request.user, visit_id)
    require(request.user, FRONT_DESK)
    day, why = _parse_date(request.POST.get("date", ""))
    if day is None:
        return render_book(request, visit.patient, error=f"Choose the new date. {why}".strip(), status=400)
    start = _start_for(visit.clinic, day, _service_for(visit.kind, visit.plan), request.POST.get("window", ""))
    try:
        moved = visit_reschedule(visit=visit, date=day, start=start, by=request.user)
    except (RuleViolation, StateConflict) as exc:
        return render_book(request, visit.patient, error=exc.message, status=exc.status_code)
    messages.success(request, f"Moved visit to {_when(moved)}.")
    return redirect("web:book", patient_id=visit.patient_id)


@staff_view
@require_POST
def cancel(request: HttpRequest, visit_id: int) -> HttpResponse:
    visit = visit_or_404(request.user, visit_id)
    require(request.user, FRONT_DESK)
    try:
        visit_cancel(visit=visit, reason=request.POST.get("reason", ""), by=request.user)
    except (RuleViolation, StateConflict) as exc:
        return render_book(request, visit.patient, error=exc.message, status=exc.status_code)
    messages.success(request, f"Cancelled the visit on {_when(visit)}.")
    return redirect("web:book", patient_id=visit.patient_id)
