"""Every write to these models leaves a django-auditlog entry (who, when, what, from where)."""

from datetime import datetime
from typing import Any

from auditlog.models import LogEntry
from auditlog.registry import auditlog

from scheduler.models import Clinic, Closure, DosingWindow, Patient, Pause, Plan, RuleSet, StaffProfile

auditlog.register(Clinic)
auditlog.register(DosingWindow)
auditlog.register(Closure)
auditlog.register(RuleSet)
auditlog.register(Patient)
auditlog.register(Plan)
auditlog.register(Pause)
auditlog.register(StaffProfile, m2m_fields={"clinics"})


def log_closed(instance: Any, *, when_field: str, by_field: str, when: datetime, by: Any) -> None:
    """Audit a row closed by a compare-and-swap UPDATE (resolved, done), which bypasses auditlog's signals."""
    LogEntry.objects.log_create(
        instance,
        action=LogEntry.Action.UPDATE,
        changes={when_field: ["None", when.isoformat()], by_field: ["None", str(by.pk)]},
        actor=by,
        force_log=True,
    )
