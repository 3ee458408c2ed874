"""Every FHIR read of a patient record leaves an access entry, like the API (scheduler/api/base.py
`audit_patient_list`, scheduler/api/audit.py `audit_access`): a read names the row, a search page or an export
file names the patients it showed. 42 CFR Part 2 / HIPAA: who saw which records, when."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db.models import Model
from rest_framework.request import Request

from scheduler.api.audit import audit_access
from scheduler.models import Patient


def audit_read(request: Request, instance: Model) -> None:
    audit_access(request, instance)


def audit_patients(*, user: Any, patient_ids: Iterable[int], what: str) -> None:
    """One access entry per search page or export file (not one per patient), as the API's list pages."""
    ids = sorted(set(patient_ids))
    if not ids:
        return
    LogEntry.objects.create(
        content_type=ContentType.objects.get_for_model(Patient),
        object_pk="",
        object_id=None,
        object_repr=f"FHIR {what} ({len(ids)} patients)"[:200],
        action=LogEntry.Action.ACCESS,
        changes={},
        actor=user if getattr(user, "is_authenticated", False) else None,
        additional_data={"patient_ids": ids, "fhir": what},
    )
