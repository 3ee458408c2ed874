"""Audit registration for the ledger. Bulk generation writes its own entries (visits.services)."""

from auditlog.registry import auditlog

from visits.models import Assessment, Escalation, OutreachCall, StaffTask, Visit

auditlog.register(Visit)
auditlog.register(Escalation)
auditlog.register(StaffTask)
auditlog.register(Assessment)
auditlog.register(OutreachCall)
