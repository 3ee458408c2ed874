"""Every write to these models leaves a django-auditlog entry (who, when, what, from where)."""

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
