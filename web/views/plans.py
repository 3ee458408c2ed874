"""Plans and pauses from the patient page (issue #13).

Clinicians and admins start, change and end a plan. The form's first POST (preview=1) shows the next four weeks
as the engine would plan them for the unsaved values; the second POST saves through notifications.replanning,
which validates (one active plan per medication, the injection minimum, room in the windows, take-home runs) and
regenerates the visits. Front desk, nurses and clinicians record pauses and guest dosing. A refusal is shown next
to the form with what was typed kept (STYLE.md)."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from notifications import replanning
from scheduler import engine
from scheduler.errors import RuleViolation, StateConflict
from scheduler.models import Patient, Plan
from scheduler.permissions import CLINICAL, FRONT_DESK
from scheduler.selectors import calendar_for_clinic, plan_spec, rules_for_clinic
from visits.models import Visit
from visits.selectors import first_injection_from, is_split, session_share
from web import selectors
from web.access import patient_or_404, plan_or_404, require, staff_view
from web.forms import WEEKDAY_CHOICES, PauseForm, PlanEndForm, PlanForm
from web.views.common import page_context

PREVIEW_DAYS = 28
EXPECTED_WORDS = {
    engine.VISIT: "Visit",
    engine.TAKE_HOME: "Take-home",
    engine.CLOSURE_TAKE_HOME: "Take-home (clinic closed)",
    engine.NONE: "—",
}


@dataclass(frozen=True)
class PreviewDay:
    date: date
    expected: str
    words: str
    times: str
    reason: str


@dataclass(frozen=True)
class PreviewNotes:
    """What the preview says above its days (issue #14): a split dose's two shares, a naltrexone plan's first
    injection date (visits.selectors, the same answers the engine and the guard use)."""

    split_shares: tuple[int, int] | None = None
    first_injection_from: date | None = None


def _preview(
    patient: Patient, values: dict[str, Any], base: Plan | None
) -> tuple[list[PreviewDay], PreviewNotes]:
    """The engine's calendar for the unsaved plan, from its start (or today, if later) for four weeks."""
    clinic = patient.clinic
    draft = Plan(patient=patient, status="active")
    if base is not None:
        for name in ("medication", "takehome_approved", "takehome_suspended_on"):
            setattr(draft, name, getattr(base, name))
    for name, value in values.items():
        setattr(draft, name, value)
    pauses = list(base.pauses.all()) if base is not None else []
    calendar, rules = calendar_for_clinic(clinic), rules_for_clinic(clinic)
    # Naltrexone: the first injection waits for the rule set's opioid-free days (none given on this plan yet).
    first_from = None
    if base is None or not Visit.objects.filter(plan=base, kind="injection", status="completed").exists():
        first_from = first_injection_from(draft, rules)
    spec = plan_spec(draft, pauses=pauses, first_injection_from=first_from)
    zone = zoneinfo.ZoneInfo(clinic.timezone)
    first = max(draft.start_date, selectors.clinic_today(clinic))
    # The engine's own check first: a pattern no weekly window can hold says why, as the save would.
    engine.check_plan(spec, calendar, rules)
    days = engine.plan_days(spec, calendar, rules, first, first + timedelta(days=PREVIEW_DAYS - 1))
    shares = None
    if is_split(draft):
        first_share = int(session_share(draft, 0) * 100)
        shares = (first_share, 100 - first_share)
    notes = PreviewNotes(split_shares=shares, first_injection_from=first_from)
    return [
        PreviewDay(
            date=d.date,
            expected=d.expected,
            words=EXPECTED_WORDS.get(d.expected, d.expected)
            + (f", {d.take_home_doses} to take home" if d.take_home_doses else ""),
            times=", ".join(f"{s.start.astimezone(zone):%H:%M}" for s in d.sessions),
            reason=d.reason,
        )
        for d in days
    ], notes


def _render_form(
    request: HttpRequest,
    patient: Patient,
    form: PlanForm,
    *,
    plan: Plan | None,
    preview: list[PreviewDay] | None = None,
    notes: PreviewNotes | None = None,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    selected = {str(v) for v in (form["attendance_weekdays"].value() or [])}
    context = page_context(
        request,
        patient.clinic,
        nav_active="patients",
        patient=patient,
        plan=plan,
        form=form,
        weekday_boxes=[(value, label, str(value) in selected) for value, label in WEEKDAY_CHOICES],
        preview=preview,
        notes=notes or PreviewNotes(),
        error=error,
        action=reverse("web:plan-change", args=[plan.pk]) if plan else reverse("web:plan-start", args=[patient.pk]),
    )
    return render(request, "web/plan_form.html", context, status=status)


def _plan_form_post(request: HttpRequest, patient: Patient, plan: Plan | None) -> HttpResponse:
    form = PlanForm(request.POST, medication_fixed=plan is not None)
    if not form.is_valid():
        return _render_form(request, patient, form, plan=plan, status=400)
    values = form.plan_data()
    try:
        if request.POST.get("preview"):
            try:
                days, notes = _preview(patient, values, plan)
            except engine.SplitNotSatisfiable as exc:  # beside the sessions field, as the save says it
                raise RuleViolation(f"This plan cannot be scheduled: {exc}.", "doses_per_day") from exc
            except engine.PlanNotSatisfiable as exc:
                raise RuleViolation(f"This plan cannot be scheduled: {exc}.") from exc
            return _render_form(request, patient, form, plan=plan, preview=days, notes=notes)
        if plan is None:
            saved = replanning.plan_create(patient=patient, data=values)
            what = "started"
        else:
            saved = replanning.plan_update(plan=plan, data=values)
            what = "changed"
    except (RuleViolation, StateConflict) as exc:
        field = getattr(exc, "field", None)
        if field and field in form.fields:
            form.add_error(field, exc.message)
            return _render_form(request, patient, form, plan=plan, status=exc.status_code)
        return _render_form(request, patient, form, plan=plan, error=exc.message, status=exc.status_code)
    messages.success(
        request,
        f"{saved.get_medication_display()} plan {what} for {patient.first_name} {patient.last_name} "
        f"(MRN {patient.mrn}).",
    )
    return redirect("web:patient", patient.pk)


@never_cache
@staff_view
@require_http_methods(["GET", "HEAD", "POST"])
def plan_start(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = patient_or_404(request.user, patient_id)
    require(request.user, CLINICAL)
    if request.method == "POST":
        return _plan_form_post(request, patient, None)
    today = selectors.clinic_today(patient.clinic)
    form = PlanForm(initial={"start_date": today.isoformat(), "attendance_every_weeks": 1})
    return _render_form(request, patient, form, plan=None)


@never_cache
@staff_view
@require_http_methods(["GET", "HEAD", "POST"])
def plan_change(request: HttpRequest, plan_id: int) -> HttpResponse:
    plan = plan_or_404(request.user, plan_id)
    require(request.user, CLINICAL)
    patient = plan.patient
    if plan.status == "ended":
        messages.error(request, "This plan has ended: start a new plan instead.")
        return redirect("web:patient", patient.pk)
    if request.method == "POST":
        return _plan_form_post(request, patient, plan)
    initial = {
        "start_date": plan.start_date.isoformat(),
        "treatment_start": plan.treatment_start.isoformat(),
        "attendance_weekdays": plan.attendance_weekdays,
        "attendance_every_weeks": plan.attendance_every_weeks,
        "doses_per_day": plan.doses_per_day,
        "split_first_share": plan.split_first_share,
        "min_interval_minutes": plan.min_interval_minutes,
        "interval_days": plan.interval_days,
    }
    return _render_form(request, patient, PlanForm(initial=initial, medication_fixed=True), plan=plan)


@staff_view
@require_POST
def plan_end(request: HttpRequest, plan_id: int) -> HttpResponse:
    """Ending a plan: its last day, and the status ended; visits after that day go (replanning)."""
    plan = plan_or_404(request.user, plan_id)
    require(request.user, CLINICAL)
    patient = plan.patient
    form = PlanEndForm(request.POST)
    from web.views.patients import render_patient

    if not form.is_valid():
        error = " ".join(str(e) for e in form.errors.get("end_date", ["Enter the plan's last day."]))
        typed = {plan.pk: {"end_date": request.POST.get("end_date", ""), "error": error}}
        return render_patient(request, patient, plan_typed=typed, status=400)
    try:
        replanning.plan_update(plan=plan, data={"end_date": form.cleaned_data["end_date"], "status": "ended"})
    except (RuleViolation, StateConflict) as exc:
        typed = {plan.pk: {"end_date": request.POST.get("end_date", ""), "error": exc.message}}
        return render_patient(request, patient, plan_typed=typed, status=exc.status_code)
    messages.success(
        request,
        f"{plan.get_medication_display()} plan for {patient.first_name} {patient.last_name} (MRN {patient.mrn}) "
        f"ends on {form.cleaned_data['end_date']:%Y-%m-%d}.",
    )
    return redirect("web:patient", patient.pk)


@staff_view
@require_POST
def pause_add(request: HttpRequest, plan_id: int) -> HttpResponse:
    """A pause (hospital, custody, other) or guest dosing at another clinic; guest dosing needs the rule set's
    notice unless a clinician records it (scheduler.services.pause_create decides)."""
    plan = plan_or_404(request.user, plan_id)
    require(request.user, FRONT_DESK)
    patient = plan.patient
    from web.views.patients import render_patient

    form = PauseForm(request.POST)
    typed = {k: request.POST.get(k, "") for k in ("start", "end", "reason", "note")}
    if not form.is_valid():
        error = " ".join(f"{form.fields[f].label}: {' '.join(str(e) for e in errs)}" for f, errs in form.errors.items())
        return render_patient(request, patient, pause_typed={plan.pk: {**typed, "error": error}}, status=400)
    data = form.cleaned_data
    try:
        pause = replanning.pause_create(
            plan=plan, start=data["start"], end=data["end"], reason=data["reason"], note=data["note"],
            actor=request.user,
        )
    except (RuleViolation, StateConflict) as exc:
        return render_patient(
            request, patient, pause_typed={plan.pk: {**typed, "error": exc.message}}, status=exc.status_code
        )
    messages.success(
        request,
        f"{pause.get_reason_display()} recorded for {patient.first_name} {patient.last_name} (MRN {patient.mrn}): "
        f"{pause.start:%Y-%m-%d} to {pause.end:%Y-%m-%d}.",
    )
    return redirect("web:patient", patient.pk)
