"""Shared view plumbing: role table, audit actor for token clients, the patient access log."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from auditlog.context import auditlog_value
from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from rest_framework import viewsets
from rest_framework.request import Request

from scheduler.models import Patient
from scheduler.permissions import ActionRoles, IsStaffMember

# An id in a path: ASCII digits only. `\d` also matches other scripts' digits ("٣"), which int() and the ORM
# read as 3, so /visits/٣/ answered visit 3; `[0-9]+` makes them a 404.
ID_PATH = "[0-9]+"


def bind_audit_actor(request: Request) -> None:
    """AuditlogMiddleware runs before DRF authenticates a token, so it saw an anonymous user.

    Tell the request's audit context who the actor is once DRF knows (auditlog reads the context
    dict when it saves each LogEntry).
    """
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return
    try:
        context = auditlog_value.get()
    except LookupError:
        return
    if context.get("actor") is None:
        context["actor"] = user


def audit_patient_list(*, user: Any, patient_ids: Sequence[int]) -> None:
    """One access entry per listed page (not one per patient): who saw which records, when."""
    if not patient_ids:
        return
    LogEntry.objects.create(
        content_type=ContentType.objects.get_for_model(Patient),
        object_pk="",
        object_id=None,
        object_repr=f"Patient list page ({len(patient_ids)} patients)",
        action=LogEntry.Action.ACCESS,
        changes={},
        actor=user if getattr(user, "is_authenticated", False) else None,
        additional_data={"patient_ids": list(patient_ids)},
    )


class ScopedViewSet(viewsets.GenericViewSet):
    """Token or session auth, a staff role, and the per-action role table of scheduler.permissions."""

    permission_classes = [IsStaffMember, ActionRoles]
    action_roles: dict[str, frozenset[str]] = {}
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    lookup_value_regex = ID_PATH

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        bind_audit_actor(request)
