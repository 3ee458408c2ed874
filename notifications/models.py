"""Telling people: the message outbox, reminder policies, templates and inbound replies."""

from __future__ import annotations

from django.db import models

from scheduler.models import MEDICATION_CHOICES, Clinic, Patient
from visits.models import StaffTask, Visit

PURPOSE_CHOICES = [
    ("reminder", "Visit reminder"),
    ("missed_checkin", "Check-in after a missed day"),
    ("opt_out_confirmation", "Opt-out confirmation"),
    ("opt_in_confirmation", "Opt-in confirmation"),
    ("help", "Help reply"),
    # Issue #15: a random call-back: a neutral "please contact the clinic today" (no treatment or bottle words).
    ("callback", "Call-back request"),
]
# Delivery moves only forward along this order (DOMAIN.md §5); terminal states share the top rank.
STATUS_CHOICES = [
    ("pending", "Pending"),
    ("queued", "Queued"),
    ("sending", "Sending"),
    ("sent", "Sent"),
    ("delivered", "Delivered"),
    ("undelivered", "Undelivered"),
    ("failed", "Failed"),
    ("skipped", "Skipped"),
]
STATUS_RANK = {
    "pending": 0, "queued": 1, "sending": 2, "sent": 3,
    "delivered": 4, "undelivered": 4, "failed": 4, "skipped": 4,
}


class MessageTemplate(models.Model):
    """Per purpose and language; clinic = NULL is the shipped default a clinic may override."""

    clinic = models.ForeignKey(Clinic, null=True, blank=True, on_delete=models.CASCADE, related_name="templates")
    purpose = models.CharField(max_length=32, choices=PURPOSE_CHOICES)
    language = models.CharField(max_length=8, default="en")
    body = models.CharField(max_length=320)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["clinic", "purpose", "language"], name="unique_template"),
            models.UniqueConstraint(
                fields=["purpose", "language"],
                condition=models.Q(clinic__isnull=True),
                name="unique_default_template",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.purpose}/{self.language} ({'default' if self.clinic_id is None else self.clinic_id})"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from notifications.rendering import validate_template

        try:
            validate_template(self.body)
        except ValueError as exc:  # ForbiddenContent is a ValueError too
            raise ValidationError({"body": str(exc)}) from exc


class ReminderPolicy(models.Model):
    """When to remind, per medication; clinic = NULL is the default a clinic may override."""

    clinic = models.ForeignKey(Clinic, null=True, blank=True, on_delete=models.CASCADE, related_name="policies")
    medication = models.CharField(max_length=32, choices=MEDICATION_CHOICES)
    days_before = models.JSONField(default=list, blank=True, help_text="e.g. [7, 1]")
    send_at = models.TimeField(default="10:00", help_text="Local time of day the reminder is sent.")
    missed_checkin = models.BooleanField(default=False, help_text="Send a check-in text after a missed day.")
    enabled = models.BooleanField(default=True)

    class Meta:
        verbose_name_plural = "reminder policies"
        constraints = [
            models.UniqueConstraint(fields=["clinic", "medication"], name="unique_policy"),
            models.UniqueConstraint(
                fields=["medication"], condition=models.Q(clinic__isnull=True), name="unique_default_policy"
            ),
        ]


class Message(models.Model):
    """The outbox. A row is written in the same transaction as the change that caused it;
    the dispatch sweep claims due rows with compare-and-swap and sends each once."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="messages")
    visit = models.ForeignKey(Visit, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages")
    purpose = models.CharField(max_length=32, choices=PURPOSE_CHOICES)
    # Which reminder of a visit this is (e.g. "7d", "1d"); with visit and purpose it makes a reminder unique.
    slot = models.CharField(max_length=16, blank=True, default="")
    body = models.CharField(max_length=320, blank=True, default="")
    to_number = models.CharField(max_length=20, blank=True, default="")
    scheduled_for = models.DateTimeField()
    status = models.CharField(max_length=16, choices=STATUS_CHOICES, default="pending")
    status_reason = models.CharField(max_length=300, blank=True, default="")
    provider_id = models.CharField(max_length=64, blank=True, default="")
    error_code = models.CharField(max_length=16, blank=True, default="")
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["scheduled_for", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["visit", "purpose", "slot"],
                condition=models.Q(visit__isnull=False),
                name="one_message_per_visit_slot",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "scheduled_for"]),
            models.Index(fields=["provider_id"]),
            models.Index(fields=["patient", "scheduled_for"]),
        ]

    def __str__(self) -> str:
        return f"Message #{self.pk} {self.purpose} ({self.status})"


class InboundMessage(models.Model):
    provider_id = models.CharField(max_length=64, unique=True)
    from_number = models.CharField(max_length=20)
    body = models.CharField(max_length=1600)
    patient = models.ForeignKey(Patient, null=True, blank=True, on_delete=models.SET_NULL, related_name="inbound")
    clinic = models.ForeignKey(Clinic, null=True, blank=True, on_delete=models.SET_NULL, related_name="inbound")
    handled_as = models.CharField(max_length=24, blank=True, default="")
    task = models.ForeignKey(StaffTask, null=True, blank=True, on_delete=models.SET_NULL, related_name="inbound")
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-received_at", "-id"]


class JobRun(models.Model):
    """The last outcome of a periodic (beat) job: one row per job name, updated in place (never a log that grows).

    Written by the Celery task_success/task_failure signals (config/celery.py → notifications.jobruns) for tasks
    beat sent; the setup page shows it beside the job. `last_error` is the exception class and a short scrubbed
    message, never patient data."""

    name = models.CharField(max_length=200, unique=True, help_text="The periodic task's name (django-celery-beat).")
    task = models.CharField(max_length=200, blank=True, default="")
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
