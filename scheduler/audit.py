"""Every write to these models leaves a django-auditlog entry (who, when, what, from where)."""

from datetime import datetime
from typing import Any

from auditlog.models import LogEntry
from auditlog.registry import auditlog
from django.contrib.contenttypes.models import ContentType

from scheduler.models import Clinic, Closure, DoseOrder, DosingWindow, Patient, Pause, Plan, RuleSet, StaffProfile

auditlog.register(Clinic)
auditlog.register(DosingWindow)
auditlog.register(Closure)
auditlog.register(RuleSet)
auditlog.register(Patient)
auditlog.register(Plan)
auditlog.register(Pause)
auditlog.register(DoseOrder)
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


def log_clinic_job(job: str, summaries: dict[int, dict[str, Any]]) -> None:
    """A bulk job (generation, the missed sweep) bypasses model signals: one summary entry per clinic it changed."""
    if not summaries:
        return
    content_type = ContentType.objects.get_for_model(Clinic)
    LogEntry.objects.bulk_create(
        LogEntry(
            content_type=content_type,
            object_pk=str(clinic_id),
            object_id=clinic_id,
            object_repr=f"Clinic #{clinic_id}",
            action=LogEntry.Action.UPDATE,
            changes={job: [None, summary]},
            additional_data={"job": job, **summary},
        )
        for clinic_id, summary in sorted(summaries.items())
    )
