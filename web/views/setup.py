"""Clinic setup for admins: windows, closures, public holidays; rule set and templates link to the admin."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_GET, require_POST

from notifications.models import MessageTemplate
from notifications.replanning import (
    closure_create,
    closure_delete,
    holidays_import,
    window_create,
    window_delete,
)
from scheduler.errors import RuleViolation, StateConflict
from scheduler.models import Clinic, Closure, DosingWindow
from scheduler.permissions import ADMIN
from scheduler.rules import Rules
from scheduler.selectors import rules_for_clinic
from scheduler.services import WindowInput
from visits.reports import closure_affected_visits
from web import selectors
from web.access import clinic_or_404, require, staff_view
from web.forms import WEEKDAY_CHOICES, ClosureForm, HolidayImportForm, WindowForm
from web.views.common import page_context


def _admin_clinic(request: HttpRequest, clinic_id: int) -> Clinic:
    clinic = clinic_or_404(request.user, clinic_id)
    require(request.user, ADMIN)
    return clinic


def _admin_url(name: str, *args: object) -> str:
    """Admin link if that model is registered in the admin (another app's choice), else empty."""
    try:
        return reverse(f"admin:{name}", args=args)
    except NoReverseMatch:
        return ""


def _admin_urls(clinic: Clinic) -> dict[str, str]:
    return {
        "clinic": _admin_url("scheduler_clinic_change", clinic.pk),
        "rule_set": _admin_url("scheduler_ruleset_change", clinic.rule_set_id) if clinic.rule_set_id else "",
        "rule_sets": _admin_url("scheduler_ruleset_changelist"),
        "templates": _admin_url("notifications_messagetemplate_changelist"),
    }


def _rules_or_none(clinic: Clinic) -> Rules | None:
    try:
        return rules_for_clinic(clinic)
    except (ValueError, TypeError, KeyError):
        return None  # a broken rule set still lets the admin reach the page and its admin link


def render_setup(
    request: HttpRequest,
    clinic: Clinic,
    *,
    window_form: WindowForm | None = None,
    closure_form: ClosureForm | None = None,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    today = selectors.clinic_today(clinic)
    days = dict(WEEKDAY_CHOICES)
    windows = [
        {"w": w, "days": ", ".join(days[d] for d in sorted(w.weekdays)), "services": ", ".join(w.services)}
        for w in DosingWindow.objects.filter(clinic=clinic).order_by("start", "id")
    ]
    context = page_context(
        request,
        clinic,
        nav_active="setup",
        windows=windows,
        closures=list(Closure.objects.filter(clinic=clinic, date__gte=today).order_by("date", "id")[:100]),
        window_form=window_form or WindowForm(),
        closure_form=closure_form or ClosureForm(),
        holiday_form=HolidayImportForm(initial={"year": today.year}),
        rules=_rules_or_none(clinic),
        rules_json=json.dumps(clinic.rule_set.rules, indent=2, sort_keys=True) if clinic.rule_set else "",
        templates=list(
            MessageTemplate.objects.filter(Q(clinic=clinic) | Q(clinic__isnull=True)).order_by(
                "purpose", "language", "clinic_id"
            )
        ),
        error=error,
        admin_urls=_admin_urls(clinic),
    )
    return render(request, "web/setup.html", context, status=status)


@staff_view
@require_GET
def setup(request: HttpRequest, clinic_id: int) -> HttpResponse:
    return render_setup(request, _admin_clinic(request, clinic_id))


def _refused(request: HttpRequest, clinic: Clinic, exc: RuleViolation | StateConflict, **forms: Any) -> HttpResponse:
    return render_setup(
        request, clinic, error=exc.message, status=exc.status_code, **forms
    )


@staff_view
@require_POST
def window_add(request: HttpRequest, clinic_id: int) -> HttpResponse:
    clinic = _admin_clinic(request, clinic_id)
    form = WindowForm(request.POST)
    if not form.is_valid():
        return render_setup(request, clinic, window_form=form, status=400)
    value = WindowInput(**form.cleaned_data)
    try:
        window = window_create(clinic=clinic, value=value)
    except (RuleViolation, StateConflict) as exc:
        return _refused(request, clinic, exc, window_form=form)
    messages.success(request, f"Added the window {window.start:%H:%M}–{window.end:%H:%M}.")
    return redirect("web:setup", clinic_id=clinic.pk)


@staff_view
@require_POST
def window_remove(request: HttpRequest, clinic_id: int, window_id: int) -> HttpResponse:
    clinic = _admin_clinic(request, clinic_id)
    window = get_object_or_404(DosingWindow, clinic=clinic, pk=window_id)
    try:
        window_delete(window=window)
    except (RuleViolation, StateConflict) as exc:
        return _refused(request, clinic, exc)
    messages.success(request, f"Deleted the window {window.start:%H:%M}–{window.end:%H:%M}.")
    return redirect("web:setup", clinic_id=clinic.pk)


@staff_view
@require_POST
def closure_add(request: HttpRequest, clinic_id: int) -> HttpResponse:
    clinic = _admin_clinic(request, clinic_id)
    form = ClosureForm(request.POST)
    if not form.is_valid():
        return render_setup(request, clinic, closure_form=form, status=400)
    data = form.cleaned_data
    affected = closure_affected_visits(clinic=clinic, day=data["date"], services=data["services"])
    try:
        closure = closure_create(clinic=clinic, **data)
    except (RuleViolation, StateConflict) as exc:
        return _refused(request, clinic, exc, closure_form=form)
    messages.success(request, f"Added the closure on {closure.date.isoformat()}.")
    if data["confirm_past"] and affected:
        # The visits of a past date stay as they were: the admin decides what each one needs.
        listed = ", ".join(f"#{v['id']} ({v['kind']}, {v['status']})" for v in affected[:50])
        more = f" and {len(affected) - 50} more" if len(affected) > 50 else ""
        messages.warning(request, f"{len(affected)} visits on that date are affected: {listed}{more}.")
    return redirect("web:setup", clinic_id=clinic.pk)


@staff_view
@require_POST
def closure_remove(request: HttpRequest, clinic_id: int, closure_id: int) -> HttpResponse:
    clinic = _admin_clinic(request, clinic_id)
    closure = get_object_or_404(Closure, clinic=clinic, pk=closure_id)
    closure_delete(closure=closure)
    messages.success(request, f"Deleted the closure on {closure.date.isoformat()}.")
    return redirect("web:setup", clinic_id=clinic.pk)


@staff_view
@require_POST
def holidays(request: HttpRequest, clinic_id: int) -> HttpResponse:
    clinic = _admin_clinic(request, clinic_id)
    form = HolidayImportForm(request.POST)
    if not form.is_valid():
        return render_setup(request, clinic, error="Give a year between 2000 and 2100.", status=400)
    services: list[str] | None = [] if form.cleaned_data["whole_clinic"] else None
    kwargs = {"services": services} if services is not None else {}
    try:
        result = holidays_import(clinic=clinic, year=form.cleaned_data["year"], **kwargs)
    except (RuleViolation, StateConflict) as exc:
        return _refused(request, clinic, exc)
    messages.success(
        request,
        f"Imported {len(result.created)} public holidays for {form.cleaned_data['year']} "
        f"({len(result.existing)} already there).",
    )
    for reason in result.refused:
        messages.warning(request, reason)
    return redirect("web:setup", clinic_id=clinic.pk)
