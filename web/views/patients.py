"""Patient search (names travel in POST bodies, never in URLs) and the patient page."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from auditlog.signals import accessed
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from notifications import replanning
from scheduler.errors import RuleViolation, StateConflict
from scheduler.models import Patient
from scheduler.permissions import CLINICAL, scope_to_clinics
from scheduler.selectors import rules_for_clinic, takehome_reviews
from visits.cows import MAX_TOTAL as MAX_COWS
from visits.guard import ORAL
from visits.selectors import open_guard_escalations
from web import charts, patient_reads, selectors
from web.access import clinic_or_404, plan_or_404, require, staff_view
from web.forms import PAUSE_REASON_CHOICES
from web.templatetags.doses import cows_severity
from web.views.common import page_context, safe_next

STRIP_DAYS_BACK = 20
STRIP_DAYS_AHEAD = 7
CALLS_SHOWN = 50
ESCALATIONS_READ = 200


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


def render_patient(
    request: HttpRequest,
    patient: Patient,
    *,
    takehome_typed: dict[int, dict[str, str]] | None = None,
    plan_typed: dict[int, dict[str, str]] | None = None,
    pause_typed: dict[int, dict[str, str]] | None = None,
    dose_typed: dict[int, dict[str, Any]] | None = None,
    status: int = 200,
) -> HttpResponse:
    """The patient page; `takehome_typed` puts a refused take-home decision (its note and error) back on its plan,
    `plan_typed` a refused end of a plan and `pause_typed` a refused pause (web.views.plans)."""
    # Every read of a patient's record leaves an access entry; AuditlogMiddleware supplies the actor.
    accessed.send(sender=Patient, instance=patient)
    clinic = patient.clinic
    today = selectors.clinic_today(clinic)
    date_from, date_to = today - timedelta(days=STRIP_DAYS_BACK), today + timedelta(days=STRIP_DAYS_AHEAD)
    # The plans (with their pauses) and the clinic's rules are read and parsed once, for every panel that needs them.
    plans = patient_reads.patient_plans(patient=patient)
    rules = rules_for_clinic(clinic)
    # The clinic's windows likewise: the strip's calendar and the take-home reviews' open weekdays.
    windows = patient_reads.clinic_windows(clinic=clinic) if plans else []
    current = any(p.status != "ended" for p in plans)
    calendar = patient_reads.clinic_calendar(clinic, windows) if current else None
    # The strip's visits and the next visits in one statement when there is a strip (issue #16).
    if current:
        strip_visits, next_visits = patient_reads.strip_and_next_visits(
            patient=patient, plans=plans, windows=windows, date_from=date_from, date_to=date_to, today=today
        )
    else:
        strip_visits, next_visits = [], selectors.patient_next_visits(patient=patient, today=today, plans=plans)
    strip = selectors.attendance_strip(
        patient=patient, date_from=date_from, date_to=date_to, plans=plans, rules=rules, calendar=calendar,
        visits_read=strip_visits,
    )
    reviews = takehome_reviews(plans, now=timezone.now(), windows=windows, rules={clinic.pk: rules})
    # One query for the open escalations and the latest resolved ones (with their notes), open first. Calls are
    # logged on outreach escalations only, so a patient who never had one needs no query for calls.
    escalations = patient_reads.patient_escalations(patient=patient, plans=plans, limit=ESCALATIONS_READ)
    # Open ones come first: unless the read was cut short on an open one, every open escalation is in it, and the
    # guard's answers below take theirs from it instead of reading them again.
    every_open = len(escalations) < ESCALATIONS_READ or escalations[-1].resolved_at is not None
    dosing, visit_blockers = selectors.dosing_today(
        patient=patient, plans=plans, next_visits=next_visits, today=today, rules=rules,
        escalations=open_guard_escalations(escalations) if every_open else None,
    )
    typed = takehome_typed or {}
    # A refused decision on a plan that has no form on the page (ended, say) is said at the top instead.
    with_form = {d.plan.pk for d in dosing if d.plan.medication in ORAL and d.plan.status == "active"}
    banner = [values["error"] for pk, values in typed.items() if pk not in with_form]
    calls: list[Any] = []
    if len(escalations) == ESCALATIONS_READ or any(e.kind == "outreach" for e in escalations):
        calls = patient_reads.patient_outreach_calls(patient=patient, limit=CALLS_SHOWN)
    context = page_context(
        request,
        clinic,
        nav_active="patients",
        patient=patient,
        today=today,
        plans=plans,
        dosing=dosing,
        oral=ORAL,
        takehome_typed=typed,
        plan_typed=plan_typed or {},
        pause_typed=pause_typed or {},
        pause_reasons=PAUSE_REASON_CHOICES,
        takehome_banner=banner,
        takehome_reviews=[(p, reviews[p.pk]) for p in plans if p.pk in reviews],
        strip=strip,
        strip_dates=strip[0].cells if strip and strip[0].cells else [],
        next_visits=[(v, visit_blockers.get(v.pk, "")) for v in next_visits],
        take_homes=patient_reads.patient_take_homes(patient=patient),
        sms_messages=patient_reads.patient_messages(patient=patient),
        escalations=[e for e in escalations if e.resolved_at is None],
        tasks=patient_reads.patient_open_tasks(patient=patient),
        history=selectors.patient_history(patient=patient, plans=plans),
        outreach_calls=calls,
        resolved_escalations=[e for e in escalations if e.resolved_at is not None][:CALLS_SHOWN],
        doses=_doses_section(patient, plans, today, dose_typed or {}),
    )
    return render(request, "web/patient.html", context, status=status)


def _doses_section(
    patient: Patient, plans: list[Any], today: Any, typed: dict[int, dict[str, Any]]
) -> list[dict[str, Any]]:
    """Issue #14: per plan its orders, the amounts given at its last visits and its COWS over time (a chart);
    a refused order or taper comes back with what was typed and the refusal beside its field."""
    tz = ZoneInfo(patient.clinic.timezone)
    sections = []
    first_injections = selectors.first_injections_from(plans=plans)  # naltrexone: "first injection from <date>"
    for d in selectors.patient_doses(patient=patient, plans=plans, today=today):
        points = [
            (
                f"{a.created.astimezone(tz):%d %b}",
                a.total,
                f"{a.created.astimezone(tz):%Y-%m-%d %H:%M}: {a.total} ({cows_severity(a.total)})",
            )
            for a in d.cows
        ]
        refused = typed.get(d.plan.pk, {})
        forms = {
            name: {
                "values": refused if refused.get("form") == name else {"effective_date": today.isoformat(),
                                                                         "start_date": today.isoformat()},
                "errors": refused.get("errors", {}) if refused.get("form") == name else {},
            }
            for name in ("order", "taper")
        }
        chart = charts.score_line(points, max_score=MAX_COWS) if points else None
        sections.append(
            {"d": d, "chart": chart, "first_injection_from": first_injections.get(d.plan.pk), **forms}
        )
    return sections


@never_cache
@staff_view
@require_http_methods(["GET", "HEAD"])
def patient_detail(request: HttpRequest, patient_id: int) -> HttpResponse:
    # patient_or_404 with the clinic's rule set joined: the page parses the rules for every panel (issue #16).
    qs = scope_to_clinics(Patient.objects.select_related("clinic__rule_set"), request.user)
    return render_patient(request, get_object_or_404(qs, pk=patient_id))


# The take-home decision form on the patient page says where it came from: a refusal is shown there again,
# with the note as typed (STYLE.md); the escalations page's one-button review goes back with a message.
FROM_PATIENT_PAGE = "patient"
APPROVED_VALUES = {"": True, "1": True, "true": True, "0": False, "false": False}


@staff_view
@require_POST
def takehome_review(request: HttpRequest, plan_id: int) -> HttpResponse:
    """A clinician records the take-home review of a plan (DOMAIN §6) and its decision (API.md v1.1): approve
    the plan's earned take-homes or suspend them, with a note. The calendar follows at once (replanning);
    auditlog records who, when, the decision and the note."""
    plan = plan_or_404(request.user, plan_id)
    require(request.user, CLINICAL)
    back = safe_next(request, reverse("web:patient", args=[plan.patient_id]))
    note = (request.POST.get("note") or "")[:300]
    approved = APPROVED_VALUES.get((request.POST.get("approved") or "").strip().lower())
    try:
        if approved is None:
            raise RuleViolation("Choose approve or suspend.", "approved")
        replanning.plan_takehome_review(plan=plan, by=request.user, approved=approved, note=note)
    except (RuleViolation, StateConflict) as exc:
        if request.POST.get("from") == FROM_PATIENT_PAGE:
            typed = {plan.pk: {"note": note, "error": exc.message}}
            return render_patient(request, plan.patient, takehome_typed=typed, status=exc.status_code)
        messages.error(request, exc.message)
        return redirect(back)
    what = "approved" if approved else "suspended"
    messages.success(request, f"Take-home review recorded for MRN {plan.patient.mrn}. Take-homes {what}.")
    return redirect(back)
