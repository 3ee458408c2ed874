"""Bulk export jobs (FHIR Bulk Data Access IG) and their NDJSON files.

Files are kept in the database (one row per file, at most EXPORT_FILE_RESOURCES resources each): web and worker
processes share the database already, so nothing needs a shared disk, and deleting a job deletes its files.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from scheduler.models import Clinic


class ExportJob(models.Model):
    STATUS_CHOICES = [
        ("accepted", "Accepted"),
        ("in_progress", "In progress"),
        ("completed", "Completed"),
        ("failed", "Failed"),
        ("cancelled", "Cancelled"),
    ]
    LEVEL_CHOICES = [("system", "System"), ("patient", "All patients"), ("group", "Group (a clinic)")]

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    level = models.CharField(max_length=8, choices=LEVEL_CHOICES)
    group_clinic = models.ForeignKey(Clinic, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    clinic_ids = models.JSONField(default=list, help_text="The clinics the requester could see at kick-off.")
    types = models.JSONField(default=list)
    since = models.DateTimeField(null=True, blank=True)
    telecom = models.BooleanField(default=False, help_text="The requester's role may see phone numbers.")
    request_url = models.TextField()
    status = models.CharField(max_length=12, choices=STATUS_CHOICES, default="accepted")
    progress = models.CharField(max_length=100, blank=True, default="")
    error = models.TextField(blank=True, default="")
    created = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    transaction_time = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        indexes = [models.Index(fields=["user", "status"])]

    def __str__(self) -> str:
        return f"FHIR export {self.pk} ({self.status})"


class ExportFile(models.Model):
    job = models.ForeignKey(ExportJob, on_delete=models.CASCADE, related_name="files")
    resource_type = models.CharField(max_length=40)
    content = models.TextField(help_text="NDJSON: one FHIR resource per line.")
    count = models.PositiveIntegerField()
    patient_ids = models.JSONField(default=list, help_text="Whose records the file holds (for the access log).")

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.resource_type} file #{self.pk} ({self.count})"
