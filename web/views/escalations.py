"""The escalations inbox: open holds, outreach and re-inductions, which clinicians resolve with a note; and
the front desk's open tasks (texts from patients, rejected numbers), which the front desk marks done."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from notifications import analytics
from notifications.inbound import staff_task_done
from scheduler.errors import RuleViolation, StateConflict
from scheduler.models import Clinic
from scheduler.permissions import CLINICAL, FRONT_DESK
from scheduler.selectors import rules_for_clinic, takehome_reviews_due
from visits.missed import escalation_resolve
from visits.models import Escalation, OutreachCall
from visits.outreach import outreach_call_log
from web import selectors
from web.access import clinic_or_404, escalation_or_404, require, staff_view, task_or_404
from web.forms import ReinductionForm, RestartDoseForm, field_errors
from web.templatetags.doses import mg_plain
from web.views.common import page_context, safe_next

REVIEWS_SHOWN = 200
# The most pressing step of a patient's ladder puts their card first (DOMAIN §4: re-induction after 5+ days,
# a clinician must see the patient at 4, a hold at 3; outreach at 2).
SEVERITY = ("reinduction", "clinician_review", "hold", "retitration", "overdue_injection", "outreach")


# The inbox's filters (GET ?kind=hold&age=7): the escalation's kind in clinic words, and "open for more than N days".
AGE_CHOICES = (
    (1, "more than 1 day"),
    (2, "more than 2 days"),
    (3, "more than 3 days"),
    (7, "more than a week"),
    (14, "more than 2 weeks"),
    (30, "more than 30 days"),
)
AGE_MAX = 365


@dataclass(frozen=True)
class InboxFilter:
    kind: str = ""
    age: int | None = None
    error: str = ""

    @property
    def active(self) -> bool:
        return bool(self.kind or self.age is not None)

    def describe(self) -> str:
        parts = []
        if self.kind:
            parts.append(dict(Escalation.KIND_CHOICES)[self.kind])
        if self.age is not None:
            parts.append(f"open more than {self.age} day{'' if self.age == 1 else 's'}")
        return ", ".join(parts)


def inbox_filter(params: Any) -> InboxFilter:
    """The filters as asked; a value the page does not offer comes back as an error and no filter (never a 500)."""
    kind = (params.get("kind") or "").strip()
    raw_age = (params.get("age") or "").strip()
    errors = []
    if kind and kind not in dict(Escalation.KIND_CHOICES):
        errors.append("Choose a kind of escalation from the list.")
        kind = ""
    age: int | None = None
    if raw_age:
        if re.fullmatch(r"[0-9]{1,4}", raw_age) and int(raw_age) <= AGE_MAX:
            age = int(raw_age)
        else:
            errors.append(f"“Open for” takes a whole number of days from 0 to {AGE_MAX}.")
    if errors:
        return InboxFilter(error=" ".join(errors) + " Showing every open escalation.")
    return InboxFilter(kind=kind, age=age)


def _severity(kind: str) -> int:
    return SEVERITY.index(kind) if kind in SEVERITY else len(SEVERITY)


def by_patient(escalations: list[Escalation]) -> list[dict[str, Any]]:
    """One card per patient with the ladder's open steps together, in the order they were opened; the cards
    ordered by their most pressing step, then the most days missed, then the oldest."""
    cards: dict[int, dict[str, Any]] = {}
    for e in escalations:
        card = cards.setdefault(e.patient_id, {"patient": e.patient, "steps": []})
        card["steps"].append(e)
    for card in cards.values():
        card["steps"].sort(key=lambda e: (e.created, e.pk))
        card["top"] = min(card["steps"], key=lambda e: _severity(e.kind))
        card["days"] = max(e.consecutive_missed or 0 for e in card["steps"])

    def order(card: dict[str, Any]) -> tuple[int, int, Any, int]:
        first = card["steps"][0]
        return (_severity(card["top"].kind), -card["days"], first.created, first.pk)

    return sorted(cards.values(), key=order)


def render_inbox(
    request: HttpRequest,
    clinic: Clinic,
    *,
    errors: dict[int, str] | None = None,
    task_errors: dict[int, str] | None = None,
    call_typed: dict[int, dict[str, str]] | None = None,
    resolve_typed: dict[int, dict[str, Any]] | None = None,
    status: int = 200,
    filters: InboxFilter | None = None,
) -> HttpResponse:
    filters = filters or InboxFilter()
    escalations = selectors.open_escalations(clinic=clinic)
    if filters.kind:
        escalations = escalations.filter(kind=filters.kind)
    if filters.age is not None:
        escalations = escalations.filter(created__lt=timezone.now() - timedelta(days=filters.age))
    open_ = list(escalations)
    # Filtered: say how many are open in all (one count, whatever the number of rows).
    all_open = selectors.open_escalations(clinic=clinic).count() if filters.active else len(open_)
    # The calls logged on open outreach steps, in one query (the card shows them under the step).
    calls: dict[int, list[OutreachCall]] = {}
    outreach_ids = [e.pk for e in open_ if e.kind == "outreach"]
    if outreach_ids:
        for call in OutreachCall.objects.filter(escalation_id__in=outreach_ids).select_related("by"):
            calls.setdefault(call.escalation_id, []).append(call)
    cards = by_patient(open_)
    tasks = selectors.open_tasks(clinic=clinic)
    reviews_due = takehome_reviews_due(clinic=clinic, now=timezone.now())
    context = page_context(
        request,
        clinic,
        nav_active="escalations",
        cards=cards,
        total=all_open,
        shown=len(open_),
        filters=filters,
        kind_choices=Escalation.KIND_CHOICES,
        age_choices=AGE_CHOICES
        if filters.age is None or filters.age in dict(AGE_CHOICES)
        else sorted((*AGE_CHOICES, (filters.age, f"more than {filters.age} days"))),
        errors=errors or {},
        tasks=tasks,
        # Counted only when the list was cut at its limit.
        tasks_total=len(tasks) if len(tasks) < selectors.OPEN_TASKS_SHOWN else selectors.open_task_count(clinic=clinic),
        task_errors=task_errors or {},
        calls=calls,
        call_typed=call_typed or {},
        call_outcomes=OutreachCall.OUTCOME_CHOICES,
        reviews_due=reviews_due[:REVIEWS_SHOWN],
        reviews_total=len(reviews_due),
        restart_kinds=RESTART_KINDS,
        reinduction_fields=REINDUCTION_LABELS,
        # The rule set's methadone induction limits, said beside a methadone re-induction schedule (the resolve
        # service enforces them); read only when a card offers one.
        induction_rules=rules_for_clinic(clinic)
        if any(e.kind in RESTART_KINDS and e.plan is not None and e.plan.medication == "methadone" for e in open_)
        else None,
        restart_orders=_restart_orders(clinic, open_),
        resolve_typed=resolve_typed or {},
        # Issue #17: patients whose attendance is falling, before the ladder fires (the dashboard's list).
        drift=analytics.drift_list(clinic=clinic, today=selectors.clinic_today(clinic)),
    )
    return render(request, "web/escalations.html", context, status=status)


# Issue #14: resolving these asks the clinician for the dose to restart on (the same or a reduced amount); it
# becomes the plan's order from today through visits.missed.escalation_resolve's restart_dose_mg.
RESTART_KINDS = ("hold", "clinician_review", "reinduction", "retitration")


def _restart_orders(clinic: Clinic, open_: list[Escalation]) -> dict[int, Any]:
    """The order in force today for each plan with an open restart step (one query): the "same dose" offered."""
    plan_ids = [e.plan_id for e in open_ if e.kind in RESTART_KINDS and e.plan_id is not None]
    if not plan_ids:
        return {}
    return selectors.orders_in_force(plan_ids=plan_ids, day=selectors.clinic_today(clinic))


@staff_view
@require_GET
def inbox(request: HttpRequest, clinic_id: int) -> HttpResponse:
    """The inbox, filtered by ?kind= and ?age= (open for more than N days); a bad value answers 400 with the page
    and a message saying what the filter takes."""
    clinic = clinic_or_404(request.user, clinic_id)
    filters = inbox_filter(request.GET)
    return render_inbox(request, clinic, filters=filters, status=400 if filters.error else 200)


REINDUCTION_FIELDS = ("start_mg", "step_mg", "every_days", "target_mg")
REINDUCTION_LABELS = (
    ("start_mg", "Start on (mg)", "mg"),
    ("step_mg", "Raise by (mg)", "mg"),
    ("every_days", "Every N days", "days"),
    ("target_mg", "Up to (mg)", "mg"),
)


def _reinduction_field(exc: RuleViolation | StateConflict) -> str:
    """The schedule's field a refusal goes beside: the one it names; an amount limit of an order in the series
    (dose_mg) beside the target, the series' highest amount; anything else above the schedule's fields."""
    field = getattr(exc, "field", None) or ""
    if field == "dose_mg":
        return "target_mg"
    return field if field in REINDUCTION_FIELDS else "reinduction"


@staff_view
@require_POST
def resolve(request: HttpRequest, escalation_id: int) -> HttpResponse:
    """A clinician resolves with a note; a hold, clinician review, re-induction or re-titration also restarts the
    plan on a dose (restart_mode=dose, the existing restart dose) or on a re-induction schedule (restart_mode=
    reinduction: start, step, every N days, target), both through visits.missed.escalation_resolve. A refusal leaves
    the escalation open and comes back beside its field with what was typed."""
    escalation = escalation_or_404(request.user, escalation_id)
    require(request.user, CLINICAL)
    note = (request.POST.get("note") or "").strip()
    mode = "reinduction" if request.POST.get("restart_mode") == "reinduction" else "dose"
    typed: dict[int, dict[str, Any]] = {
        escalation.pk: {
            "note": note[:2000], "restart_dose_mg": (request.POST.get("restart_dose_mg") or "")[:20], "mode": mode,
            **{k: (request.POST.get(k) or "")[:20] for k in REINDUCTION_FIELDS},
        }
    }
    if not note:
        return render_inbox(
            request, escalation.clinic, errors={escalation.pk: "Write a note saying what was decided."},
            resolve_typed=typed, status=400,
        )
    restart = None
    reinduction: dict[str, Any] | None = None
    if escalation.kind in RESTART_KINDS and mode == "reinduction":
        schedule = ReinductionForm(request.POST)
        if not schedule.is_valid():
            typed[escalation.pk]["reinduction_errors"] = field_errors(schedule)
            return render_inbox(request, escalation.clinic, resolve_typed=typed, status=400)
        reinduction = dict(schedule.cleaned_data)
    elif escalation.kind in RESTART_KINDS:  # other steps (outreach, an overdue injection) ask for no dose
        dose = RestartDoseForm(request.POST)
        if not dose.is_valid():
            typed[escalation.pk]["dose_error"] = " ".join(field_errors(dose).values())
            return render_inbox(request, escalation.clinic, resolve_typed=typed, status=400)
        restart = dose.cleaned_data["restart_dose_mg"]
    try:
        escalation_resolve(
            escalation=escalation, by=request.user, note=note, restart_dose_mg=restart, reinduction=reinduction
        )
    except (RuleViolation, StateConflict) as exc:
        if reinduction is not None:
            typed[escalation.pk]["reinduction_errors"] = {_reinduction_field(exc): exc.message}
            return render_inbox(request, escalation.clinic, resolve_typed=typed, status=exc.status_code)
        if isinstance(exc, RuleViolation) and exc.field in ("dose_mg", "restart_dose_mg"):
            typed[escalation.pk]["dose_error"] = exc.message
            return render_inbox(request, escalation.clinic, resolve_typed=typed, status=exc.status_code)
        return render_inbox(
            request, escalation.clinic, errors={escalation.pk: exc.message}, resolve_typed=typed,
            status=exc.status_code,
        )
    what = f"Resolved: {escalation.get_kind_display()} for MRN {escalation.patient.mrn}"
    if reinduction is not None:
        messages.success(
            request,
            f"{what}; re-induction from today: {mg_plain(reinduction['start_mg'])} mg, "
            f"{mg_plain(reinduction['step_mg'])} mg more every {reinduction['every_days']} "
            f"day{'' if reinduction['every_days'] == 1 else 's'} up to {mg_plain(reinduction['target_mg'])} mg.",
        )
    elif restart is not None:
        messages.success(request, f"{what}; restarts on {mg_plain(restart)} mg from today.")
    else:
        messages.success(request, f"{what}.")
    return redirect("web:escalations", clinic_id=escalation.clinic_id)


@staff_view
@require_POST
def task_done(request: HttpRequest, task_id: int) -> HttpResponse:
    task = task_or_404(request.user, task_id)
    require(request.user, FRONT_DESK)
    try:
        staff_task_done(task=task, user=request.user)
    except StateConflict as exc:
        return render_inbox(request, task.clinic, task_errors={task.pk: exc.message}, status=exc.status_code)
    what = task.get_kind_display()
    messages.success(request, f"Done: {what}" + (f" for MRN {task.patient.mrn}." if task.patient else "."))
    return redirect(safe_next(request, reverse("web:escalations", args=[task.clinic_id])))


@staff_view
@require_POST
def log_call(request: HttpRequest, escalation_id: int) -> HttpResponse:
    """The front desk logs the outcome of an outreach call (reached, no answer, wrong number, message left) with a
    note. The escalation stays open: resolving it is unchanged (clinicians and admins)."""
    escalation = escalation_or_404(request.user, escalation_id)
    require(request.user, FRONT_DESK)
    note = (request.POST.get("note") or "")[:300]
    try:
        call = outreach_call_log(
            escalation=escalation, outcome=request.POST.get("outcome") or "", note=note, by=request.user
        )
    except (RuleViolation, StateConflict) as exc:
        typed = {escalation.pk: {"note": note, "error": exc.message}}
        return render_inbox(request, escalation.clinic, call_typed=typed, status=exc.status_code)
    patient = escalation.patient
    messages.success(
        request,
        f"Call logged for {patient.first_name} {patient.last_name} (MRN {patient.mrn}): {call.get_outcome_display()}.",
    )
    return redirect("web:escalations", clinic_id=escalation.clinic_id)
