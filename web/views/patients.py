"""Patient search (names travel in POST bodies, never in URLs) and the patient page."""

from __future__ import annotations

from datetime import timedelta

from auditlog.signals import accessed
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from scheduler import services as scheduler_services
from scheduler.errors import RuleViolation
from scheduler.models import Patient
from scheduler.permissions import CLINICAL
from scheduler.selectors import takehome_reviews
from web import selectors
from web.access import clinic_or_404, patient_or_404, plan_or_404, require, staff_view
from web.views.common import page_context, safe_next

STRIP_DAYS_BACK = 20
STRIP_DAYS_AHEAD = 7


@never_cache
@staff_view
@require_GET
def search_page(request: HttpRequest, clinic_id: int) -> HttpResponse:
    clinic = clinic_or_404(request.user, clinic_id)
    return render(request, "web/search.html", page_context(request, clinic, nav_active="patients", q="", results=None))


@never_cache
@staff_view
@require_POST
def search(request: HttpRequest, clinic_id: int) -> HttpResponse:
    """POST so the search term stays out of URLs and access logs; fetch() gets the fragment only."""
    clinic = clinic_or_404(request.user, clinic_id)
    q = (request.POST.get("q") or "")[:100]
    results = selectors.patient_search(clinic=clinic, q=q)
    context = page_context(request, clinic, nav_active="patients", q=q, results=results)
    if request.headers.get("X-Requested-With") == "fetch":
        return render(request, "web/_search_results.html", context)
    return render(request, "web/search.html", context)


@never_cache
@staff_view
@require_http_methods(["GET", "HEAD"])
def patient_detail(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = patient_or_404(request.user, patient_id)
    clinic = patient.clinic
    # Every read of a patient's record leaves an access entry; AuditlogMiddleware supplies the actor.
    accessed.send(sender=Patient, instance=patient)
    today = selectors.clinic_today(clinic)
    date_from, date_to = today - timedelta(days=STRIP_DAYS_BACK), today + timedelta(days=STRIP_DAYS_AHEAD)
    strip = selectors.attendance_strip(patient=patient, date_from=date_from, date_to=date_to)
    plans = list(
        patient.plans.select_related("takehome_approved_by").prefetch_related("pauses").order_by("-status", "id")
    )
    reviews = takehome_reviews(plans, now=timezone.now())
    context = page_context(
        request,
        clinic,
        nav_active="patients",
        patient=patient,
        today=today,
        plans=plans,
        takehome_reviews=[(p, reviews[p.pk]) for p in plans if p.pk in reviews],
        strip=strip,
        strip_dates=strip[0].cells if strip and strip[0].cells else [],
        next_visits=selectors.patient_next_visits(patient=patient, today=today),
        take_homes=selectors.patient_take_homes(patient=patient),
        sms_messages=selectors.patient_messages(patient=patient),
        escalations=list(patient.escalations.filter(resolved_at__isnull=True).select_related("plan")),
        tasks=list(patient.tasks.filter(done_at__isnull=True).select_related("visit").order_by("created", "id")),
        history=selectors.patient_history(patient=patient),
    )
    return render(request, "web/patient.html", context)


@staff_view
@require_POST
def takehome_review(request: HttpRequest, plan_id: int) -> HttpResponse:
    """A clinician records the take-home review of a plan (DOMAIN §6); back to the page it came from."""
    plan = plan_or_404(request.user, plan_id)
    require(request.user, CLINICAL)
    back = safe_next(request, reverse("web:patient", args=[plan.patient_id]))
    try:
        scheduler_services.plan_takehome_review(plan=plan, by=request.user)
    except RuleViolation as exc:
        messages.error(request, exc.message)
        return redirect(back)
    messages.success(request, f"Take-home review recorded for MRN {plan.patient.mrn}.")
    return redirect(back)
