"""Doses from the staff pages (issue #14): clinicians order a plan's dose or a withdrawal taper on the patient
page; nurses and clinicians score the COWS at a dose visit. Every decision is the services' (scheduler.services
dose_order_create / dose_taper_create, visits.services assessment_record): these views parse, call, and put a
refusal back beside its field with what was typed."""

from __future__ import annotations

from typing import Any

from auditlog.signals import accessed
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from scheduler.errors import RuleViolation, StateConflict
from scheduler.models import Patient
from scheduler.permissions import CLINICAL, DOSING
from scheduler.services import dose_order_create, dose_taper_create
from visits import cows
from visits.models import Visit
from visits.services import assessment_record
from web.access import plan_or_404, require, staff_view, visit_or_404
from web.forms import DoseOrderForm, TaperForm, field_errors
from web.templatetags.doses import mg_plain
from web.views.common import page_context, safe_next
from web.views.patients import render_patient

ORDER_FIELDS = ("dose_mg", "effective_date", "note")
TAPER_FIELDS = ("start_mg", "step_mg", "every_days", "start_date", "note")


def _typed(request: HttpRequest, fields: tuple[str, ...]) -> dict[str, str]:
    return {k: (request.POST.get(k) or "")[:300] for k in fields}


@staff_view
@require_POST
def order_create(request: HttpRequest, plan_id: int) -> HttpResponse:
    """A clinician orders the plan's dose from a clinic-local date, with a note (never back-dated)."""
    plan = plan_or_404(request.user, plan_id)
    require(request.user, CLINICAL)
    typed: dict[str, Any] = {"form": "order", **_typed(request, ORDER_FIELDS)}
    form = DoseOrderForm(request.POST)
    if not form.is_valid():
        typed["errors"] = field_errors(form)
        return render_patient(request, plan.patient, dose_typed={plan.pk: typed}, status=400)
    try:
        order = dose_order_create(plan=plan, by=request.user, **form.cleaned_data)
    except (RuleViolation, StateConflict) as exc:
        typed["errors"] = {_field(exc, ORDER_FIELDS): exc.message}
        return render_patient(request, plan.patient, dose_typed={plan.pk: typed}, status=exc.status_code)
    patient = plan.patient
    messages.success(
        request,
        f"Dose ordered for {patient.first_name} {patient.last_name} ({plan.get_medication_display()}): "
        f"{mg_plain(order.dose_mg)} mg from {order.effective_date:%Y-%m-%d}.",
    )
    return redirect(reverse("web:patient", args=[plan.patient_id]) + f"#doses-{plan.pk}")


@staff_view
@require_POST
def taper_create(request: HttpRequest, plan_id: int) -> HttpResponse:
    """A clinician creates a withdrawal taper: a series of ordinary orders from a start dose, a step and an
    interval (each one can be replaced by a later order)."""
    plan = plan_or_404(request.user, plan_id)
    require(request.user, CLINICAL)
    typed: dict[str, Any] = {"form": "taper", **_typed(request, TAPER_FIELDS)}
    form = TaperForm(request.POST)
    if not form.is_valid():
        typed["errors"] = field_errors(form)
        return render_patient(request, plan.patient, dose_typed={plan.pk: typed}, status=400)
    try:
        orders = dose_taper_create(plan=plan, by=request.user, **form.cleaned_data)
    except (RuleViolation, StateConflict) as exc:
        typed["errors"] = {_field(exc, TAPER_FIELDS): exc.message}
        return render_patient(request, plan.patient, dose_typed={plan.pk: typed}, status=exc.status_code)
    patient = plan.patient
    last = orders[-1]
    messages.success(
        request,
        f"Taper ordered for {patient.first_name} {patient.last_name}: {len(orders)} steps from "
        f"{mg_plain(orders[0].dose_mg)} mg down to {mg_plain(last.dose_mg)} mg from {last.effective_date:%Y-%m-%d}.",
    )
    return redirect(reverse("web:patient", args=[plan.patient_id]) + f"#doses-{plan.pk}")


def _field(exc: RuleViolation | StateConflict, fields: tuple[str, ...]) -> str:
    """The form field a refusal is shown beside; a refusal naming no field of the form goes on top of it."""
    field = getattr(exc, "field", None)
    if field == "dose_mg" and "start_mg" in fields:
        return "start_mg"  # a taper step over the rule set's limits: the start dose is what is too high
    return field if field in fields else "form"


# --- COWS ------------------------------------------------------------------------------------------------------

# The 11 items in the clinic's words, in the scale's order (visits.cows.ITEMS holds the allowed scores).
COWS_LABELS = {
    "resting_pulse": "Resting pulse rate",
    "sweating": "Sweating (past half hour, not from room temperature or activity)",
    "restlessness": "Restlessness while being assessed",
    "pupil_size": "Pupil size",
    "bone_joint_aches": "Bone or joint aches",
    "runny_nose_tearing": "Runny nose or tearing",
    "gi_upset": "Stomach upset (past half hour)",
    "tremor": "Tremor of outstretched hands",
    "yawning": "Yawning while being assessed",
    "anxiety_irritability": "Anxiety or irritability",
    "gooseflesh": "Gooseflesh skin",
}


# What each score means, in the scale's words (Wesson & Ling 2003), shown in the item's choices.
COWS_SCORE_WORDS: dict[str, dict[int, str]] = {
    "resting_pulse": {0: "80 or below", 1: "81–100", 2: "101–120", 4: "over 120"},
    "sweating": {
        0: "no report of chills or flushing", 1: "subjective report of chills or flushing",
        2: "flushed or observable moistness on face", 3: "beads of sweat on brow or face",
        4: "sweat streaming off face",
    },
    "restlessness": {
        0: "able to sit still", 1: "reports difficulty sitting still, but is able to do so",
        3: "frequent shifting or extraneous movements of legs or arms",
        5: "unable to sit still for more than a few seconds",
    },
    "pupil_size": {
        0: "pinned or normal size for room light", 1: "possibly larger than normal for room light",
        2: "moderately dilated", 5: "so dilated that only the rim of the iris is visible",
    },
    "bone_joint_aches": {
        0: "not present", 1: "mild diffuse discomfort", 2: "severe diffuse aching of joints or muscles",
        4: "rubbing joints or muscles and unable to sit still because of discomfort",
    },
    "runny_nose_tearing": {
        0: "not present", 1: "nasal stuffiness or unusually moist eyes", 2: "nose running or tearing",
        4: "nose constantly running or tears streaming down cheeks",
    },
    "gi_upset": {
        0: "no stomach symptoms", 1: "stomach cramps", 2: "nausea or loose stool", 3: "vomiting or diarrhoea",
        5: "multiple episodes of diarrhoea or vomiting",
    },
    "tremor": {
        0: "no tremor", 1: "tremor can be felt, but not observed", 2: "slight tremor observable",
        4: "gross tremor or muscle twitching",
    },
    "yawning": {
        0: "no yawning", 1: "once or twice during the assessment", 2: "three or more times during the assessment",
        4: "several times a minute",
    },
    "anxiety_irritability": {
        0: "none", 1: "reports increasing irritability or anxiousness", 2: "obviously irritable or anxious",
        4: "so irritable or anxious that taking part in the assessment is difficult",
    },
    "gooseflesh": {
        0: "skin is smooth", 3: "piloerection can be felt or hairs standing up on arms", 5: "prominent piloerection",
    },
}


def _cows_page(
    request: HttpRequest, visit: Visit, *, typed: dict[str, str] | None = None, error: str = "",
    error_item: str = "", status: int = 200,
) -> HttpResponse:
    values = typed or {}
    items = [
        {
            "name": name,
            "label": COWS_LABELS[name],
            "scores": [(score, COWS_SCORE_WORDS[name].get(score, "")) for score in allowed],
            "value": values.get(name, ""),
            "invalid": name == error_item or (bool(error) and not error_item and values.get(name, "") == ""),
        }
        for name, allowed in cows.ITEMS.items()
    ]
    back = reverse("web:today", args=[visit.clinic_id]) + f"#visit-{visit.pk}"
    context = page_context(
        request, visit.clinic, nav_active="today", visit=visit, patient=visit.patient, items=items, error=error,
        error_item=error_item, max_total=cows.MAX_TOTAL, back=safe_next(request, back),
        previous=list(visit.patient.assessments.filter(visit=visit).order_by("created", "id")),
    )
    return render(request, "web/cows.html", context, status=status)


@never_cache
@staff_view
@require_http_methods(["GET", "HEAD", "POST"])
def cows_record(request: HttpRequest, visit_id: int) -> HttpResponse:
    """The COWS at a visit: the 11 items with the scores the scale allows; the service checks them and computes
    the total (a buprenorphine first dose is given at the rule set's threshold or above)."""
    visit = visit_or_404(request.user, visit_id)
    require(request.user, DOSING)
    if request.method != "POST":
        accessed.send(sender=Patient, instance=visit.patient)  # a read of the patient's record (its COWS so far)
        return _cows_page(request, visit)
    typed = {name: (request.POST.get(name) or "")[:4] for name in cows.ITEMS}
    items: dict[str, Any] = {}
    for name, raw in typed.items():
        if raw.strip() == "":
            continue
        try:
            items[name] = int(raw)
        except ValueError:
            items[name] = raw  # the service names the item and the scores it allows
    try:
        assessment = assessment_record(visit=visit, items=items, by=request.user)
    except (RuleViolation, StateConflict) as exc:
        item = next((name for name in cows.ITEMS if exc.message.startswith(f"{name}:")), "")
        return _cows_page(
            request, visit, typed=typed, error=_cows_words(exc.message), error_item=item, status=exc.status_code
        )
    patient = visit.patient
    messages.success(
        request,
        f"COWS recorded for {patient.first_name} {patient.last_name}: {assessment.total} of {cows.MAX_TOTAL} "
        f"({cows.severity(assessment.total)}).",
    )
    return redirect(safe_next(request, reverse("web:today", args=[visit.clinic_id]) + f"#visit-{visit.pk}"))


def _cows_words(message: str) -> str:
    """The service's item names in the clinic's words ("gi_upset" → "Stomach upset (past half hour)")."""
    for name, label in COWS_LABELS.items():
        message = message.replace(name, f"“{label.split(' (')[0]}”")
    return message
