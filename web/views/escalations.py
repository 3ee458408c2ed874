"""The escalations inbox: open holds, outreach and re-inductions; clinicians resolve them with a note."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from scheduler.errors import RuleViolation, StateConflict
from scheduler.models import Clinic
from scheduler.permissions import CLINICAL
from visits.missed import escalation_resolve
from web import selectors
from web.access import clinic_or_404, escalation_or_404, require, staff_view
from web.views.common import page_context

GROUPS = (
    ("Holds and clinician reviews", ("hold", "clinician_review", "overdue_injection")),
    ("Re-inductions and re-titrations", ("reinduction", "retitration")),
    ("Outreach (call the patient)", ("outreach",)),
)


def render_inbox(
    request: HttpRequest, clinic: Clinic, *, errors: dict[int, str] | None = None, status: int = 200
) -> HttpResponse:
    open_ = list(selectors.open_escalations(clinic=clinic))
    groups = [{"title": title, "rows": [e for e in open_ if e.kind in kinds]} for title, kinds in GROUPS]
    context = page_context(
        request, clinic, nav_active="escalations", groups=groups, total=len(open_), errors=errors or {}
    )
    return render(request, "web/escalations.html", context, status=status)


@staff_view
@require_GET
def inbox(request: HttpRequest, clinic_id: int) -> HttpResponse:
    return render_inbox(request, clinic_or_404(request.user, clinic_id))


@staff_view
@require_POST
def resolve(request: HttpRequest, escalation_id: int) -> HttpResponse:
    escalation = escalation_or_404(request.user, escalation_id)
    require(request.user, CLINICAL)
    note = (request.POST.get("note") or "").strip()
    if not note:
        return render_inbox(
            request, escalation.clinic, errors={escalation.pk: "Write a note saying what was decided."}, status=400
        )
    try:
        escalation_resolve(escalation=escalation, by=request.user, note=note)
    except (RuleViolation, StateConflict) as exc:
        code = 409 if isinstance(exc, StateConflict) else 400
        return render_inbox(request, escalation.clinic, errors={escalation.pk: exc.message}, status=code)
    messages.success(request, f"Resolved: {escalation.get_kind_display()} for MRN {escalation.patient.mrn}.")
    return redirect("web:escalations", clinic_id=escalation.clinic_id)
