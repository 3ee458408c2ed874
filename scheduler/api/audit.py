"""Audit actor for API requests, and audit entries for patient-record reads.

auditlog's middleware binds the actor before the view runs, but DRF's TokenAuthentication sets
`request.user` only inside the view, so for token requests the middleware saw an anonymous user.
`AuditActorMixin.initial()` runs right after DRF authenticated the request and puts the user into
auditlog's context: every LogEntry written during the request then names who acted.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from auditlog.context import auditlog_value, set_actor
from auditlog.signals import accessed
from django.contrib.auth import get_user_model
from django.db.models import Model
from rest_framework.request import Request
from rest_framework.response import Response


def _user(request: Request) -> Any:
    user = getattr(request, "user", None)
    if isinstance(user, get_user_model()) and user.is_authenticated:
        return user
    return None


def bind_actor(request: Request) -> ExitStack:
    """Make the request's user the actor of audit entries; close the returned stack when the request ends.

    Inside auditlog's middleware the context already exists: fill in the actor in place (the middleware
    owns the context and disconnects its receiver at the end). Without the middleware, open our own
    context for the rest of the request.
    """
    stack = ExitStack()
    user = _user(request)
    if user is None:
        return stack
    try:
        context = auditlog_value.get()
    except LookupError:
        context = None
    if isinstance(context, dict) and "signal_duid" in context:
        context["actor"] = user
    else:
        stack.enter_context(_own_context(user, request.META.get("REMOTE_ADDR")))
    return stack


@contextmanager
def _own_context(user: Any, remote_addr: str | None) -> Iterator[None]:
    # set_actor() leaves its context behind when it exits; reset it so a later request (or job) in
    # this thread does not mistake the stale one for a live middleware context.
    token = auditlog_value.set(None)
    try:
        with set_actor(user, remote_addr=remote_addr):
            yield
    finally:
        auditlog_value.reset(token)


class AuditActorMixin:
    """Put on every Dosewise APIView/ViewSet (before the DRF base class)."""

    _audit_stack: ExitStack | None = None

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        self._audit_stack = bind_actor(request)

    def finalize_response(self, request: Request, response: Response, *args: Any, **kwargs: Any) -> Response:
        try:
            return super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]
        finally:
            if self._audit_stack is not None:
                self._audit_stack.close()
                self._audit_stack = None


def audit_access(request: Request, instance: Model) -> None:
    """Record that the request's user read `instance` (a patient record): auditlog's ACCESS entry."""
    with bind_actor(request):
        accessed.send(sender=instance.__class__, instance=instance)
