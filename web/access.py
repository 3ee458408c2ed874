"""Who may open which page: the role table of API.md and clinic isolation, for session views.

Another clinic's ids answer 404 (checked first), a role that may not act answers 403.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404

from scheduler.models import Clinic, Patient, Plan
from scheduler.permissions import ROLE_ACTION_TEXT, clinic_ids_for, has_role, role_of, scope_to_clinics
from scheduler.prepared import AS_CLINIC, prepared
from visits.models import Escalation, StaffTask, Visit


def staff_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Login required (redirect to /login/); a signed-in user without a staff role gets 403."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if role_of(request.user) is None:
            raise PermissionDenied("Your account has no staff role in Dosewise.")
        return view(request, *args, **kwargs)

    return login_required(wrapper)


def require(user: Any, roles: frozenset[str]) -> None:
    if not has_role(user, roles):
        raise PermissionDenied(f"Only {ROLE_ACTION_TEXT.get(roles, ', '.join(sorted(roles)))} may do this.")


def clinics_for(user: Any) -> QuerySet[Clinic]:
    return scope_to_clinics(Clinic.objects.order_by("name", "id"), user, field="id")


def clinic_or_404(user: Any, clinic_id: int) -> Clinic:
    """The clinic with its rule set, if it is one of the user's. Its query is compiled once (scheduler.prepared;
    issue #16: every page of a clinic asks, and building it cost more than running it)."""
    ids = clinic_ids_for(user)  # None: every clinic (superusers)
    found = []
    if ids is None or clinic_id in ids:
        query = prepared("clinic_or_404", lambda: Clinic.objects.select_related("rule_set").filter(pk=AS_CLINIC))
        found = query.run({AS_CLINIC: clinic_id})
    if not found:
        raise Http404("No Clinic matches the given query.")  # what get_object_or_404 says
    return found[0]


def patient_or_404(user: Any, patient_id: int) -> Patient:
    qs = scope_to_clinics(Patient.objects.select_related("clinic"), user)
    return get_object_or_404(qs, pk=patient_id)


def visit_or_404(user: Any, visit_id: int) -> Visit:
    qs = scope_to_clinics(Visit.objects.select_related("clinic", "patient", "plan", "window"), user)
    return get_object_or_404(qs, pk=visit_id)


def escalation_or_404(user: Any, escalation_id: int) -> Escalation:
    qs = scope_to_clinics(Escalation.objects.select_related("clinic", "patient", "plan"), user)
    return get_object_or_404(qs, pk=escalation_id)


def task_or_404(user: Any, task_id: int) -> StaffTask:
    qs = scope_to_clinics(StaffTask.objects.select_related("clinic", "patient"), user)
    return get_object_or_404(qs, pk=task_id)


def plan_or_404(user: Any, plan_id: int) -> Plan:
    qs = scope_to_clinics(Plan.objects.select_related("patient__clinic__rule_set"), user, "patient__clinic")
    return get_object_or_404(qs, pk=plan_id)
