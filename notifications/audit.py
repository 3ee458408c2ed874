"""Audit registration for messages; bodies are excluded so the audit trail holds no message text."""

from auditlog.registry import auditlog

from notifications.models import Message, MessageTemplate, ReminderPolicy

auditlog.register(Message, exclude_fields=["body", "to_number"])
auditlog.register(MessageTemplate)
auditlog.register(ReminderPolicy)
