"""The role table of API.md and clinic isolation, in one place.

| action                                   | roles                               |
| read clinics, patients, plans, visits    | all                                 |
| patients; book/reschedule/cancel/check in| front_desk, nurse, clinician, admin |
| complete a dose, issue take-homes        | nurse, clinician, admin             |
| plans, resolve escalations               | clinician, admin                    |
| reports                                  | clinician, manager, admin           |
| clinics, windows, closures, staff        | admin                               |
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

ALL_ROLES = frozenset({"front_desk", "nurse", "clinician", "manager", "admin"})
FRONT_DESK = frozenset({"front_desk", "nurse", "clinician", "admin"})
DOSING = frozenset({"nurse", "clinician", "admin"})
CLINICAL = frozenset({"clinician", "admin"})
REPORTS = frozenset({"clinician", "manager", "admin"})
ADMIN = frozenset({"admin"})

ROLE_ACTION_TEXT = {
    FRONT_DESK: "front desk, nurses, clinicians and admins",
    DOSING: "nurses, clinicians and admins",
    CLINICAL: "clinicians and admins",
    REPORTS: "clinicians, managers and admins",
    ADMIN: "admins",
}


def role_of(user: AbstractBaseUser | AnonymousUser | Any) -> str | None:
    if not getattr(user, "is_authenticated", False):
        return None
    if getattr(user, "is_superuser", False):
        return "admin"
    profile = getattr(user, "staff", None)
    return profile.role if profile is not None else None


def clinic_ids_for(user: Any) -> list[int] | None:
    """Clinic ids the user may see; None means every clinic (superusers)."""
    if getattr(user, "is_superuser", False):
        return None
    cached = getattr(user, "_dosewise_clinic_ids", None)
    if cached is None:
        profile = getattr(user, "staff", None)
        cached = list(profile.clinics.values_list("id", flat=True)) if profile is not None else []
        user._dosewise_clinic_ids = cached
    return list(cached)


def scope_to_clinics(queryset: Any, user: Any, field: str = "clinic") -> Any:
    ids = clinic_ids_for(user)
    if ids is None:
        return queryset
    return queryset.filter(**{f"{field}__in": ids})


def has_role(user: Any, roles: frozenset[str]) -> bool:
    return role_of(user) in roles


class IsStaffMember(BasePermission):
    """Authenticated users with a role. Anonymous → 401 (TokenAuthentication sets the header)."""

    message = "Your account has no staff role in Dosewise."

    def has_permission(self, request: Request, view: Any) -> bool:
        return role_of(request.user) is not None


class ActionRoles(BasePermission):
    """Per-action roles: a view sets `action_roles = {"create": FRONT_DESK, ...}`.

    Reads (GET/HEAD/OPTIONS) default to ALL_ROLES; any other action not listed defaults to ADMIN.
    """

    def has_permission(self, request: Request, view: Any) -> bool:
        roles = required_roles(request, view)
        if has_role(request.user, roles):
            return True
        self.message = f"Only {ROLE_ACTION_TEXT.get(roles, ', '.join(sorted(roles)))} may do this."
        return False


def required_roles(request: Request, view: Any) -> frozenset[str]:
    mapping: dict[str, frozenset[str]] = getattr(view, "action_roles", {})
    action = getattr(view, "action", None) or (request.method or "GET").lower()
    if action in mapping:
        return mapping[action]
    if request.method in SAFE_METHODS:
        return mapping.get("read", ALL_ROLES)
    return mapping.get("write", ADMIN)
