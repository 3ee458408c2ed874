"""Shared bits of the staff pages: the navigation context, safe redirects, service error text."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.http import url_has_allowed_host_and_scheme

from scheduler.models import Clinic
from scheduler.permissions import ADMIN, CLINICAL, DOSING, FRONT_DESK, REPORTS, clinic_ids_for, has_role, role_of
from web.access import clinics_for

ROLE_LABELS = {
    "front_desk": "Front desk",
    "nurse": "Nurse",
    "clinician": "Clinician",
    "manager": "Manager",
    "admin": "Admin",
}


def page_context(request: HttpRequest, clinic: Clinic | None = None, **extra: Any) -> dict[str, Any]:
    user = request.user
    role = role_of(user)
    return {
        "clinic": clinic,
        # Instants on the page render in the clinic's zone (base.html wraps the content in {% timezone %}).
        "tz": clinic.timezone if clinic is not None else "UTC",
        "clinics": _clinics(user, clinic),
        "role": role,
        "role_label": ROLE_LABELS.get(role or "", ""),
        "can": {
            "front_desk": has_role(user, FRONT_DESK),
            "dosing": has_role(user, DOSING),
            "clinical": has_role(user, CLINICAL),
            "reports": has_role(user, REPORTS),
            "admin": has_role(user, ADMIN),
        },
        **extra,
    }


def _clinics(user: object, clinic: Clinic | None) -> list[Clinic]:
    """The user's clinics for the clinic switcher (shown only with more than one). A user of the page's clinic
    alone has just that one, already read by the view: no query (issue #16, on every page a screen loads)."""
    if clinic is not None and clinic_ids_for(user) == [clinic.pk]:
        return [clinic]
    return list(clinics_for(user))


def safe_next(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return fallback
