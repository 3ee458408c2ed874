"""Writes of the FHIR app: bulk export jobs and their files (its own tables only).

Visits are never written here: booking and status changes go through notifications.replanning and
visits.services (fhir/appointments.py).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from fhir import mapping
from fhir.models import ExportFile, ExportJob
from scheduler.models import Clinic, Patient, Plan
from visits.models import Visit

logger = logging.getLogger(__name__)

EXPORT_TYPES = ("Patient", "Location", "CarePlan", "Appointment", "MedicationAdministration", "MedicationDispense")
# Resources per NDJSON file (the IG allows several files per type): keeps each stored row bounded.
EXPORT_FILE_RESOURCES = 10_000
CHUNK = 2_000


def export_start(
    *, user: Any, level: str, clinic_ids: list[int], group_clinic: Clinic | None, types: list[str],
    since: datetime | None, telecom: bool, request_url: str, enqueue: Callable[[str], None],
) -> ExportJob:
    """Record the job and hand it to the worker once the row is committed."""
    with transaction.atomic():
        job = ExportJob.objects.create(
            user=user, level=level, group_clinic=group_clinic, clinic_ids=sorted(clinic_ids), types=types,
            since=since, telecom=telecom, request_url=request_url[:4000],
        )
        job_id = str(job.pk)
        transaction.on_commit(lambda: enqueue(job_id))
    return job


def _stale_before(now: datetime) -> datetime:
    # A run older than the task's hard time limit died with its worker: the redelivered task may take over.
    return now - timedelta(seconds=int(getattr(settings, "CELERY_TASK_TIME_LIMIT", 600)) + 60)


def _claim(job_id: str, now: datetime) -> bool:
    accepted = ExportJob.objects.filter(pk=job_id, status="accepted").update(status="in_progress", started_at=now)
    if accepted:
        return True
    stale = ExportJob.objects.filter(pk=job_id, status="in_progress", started_at__lt=_stale_before(now))
    return bool(stale.update(started_at=now))


def export_run(*, job_id: str) -> str:
    """Build the job's NDJSON files. Safe to run twice: a job is claimed by compare-and-swap, and its files
    are replaced and the job completed in one transaction."""
    now = timezone.now()
    if not _claim(job_id, now):
        return "skipped"
    job = ExportJob.objects.get(pk=job_id)
    try:
        files = list(_build(job, transaction_time=now))
    except Exception as exc:  # noqa: BLE001 — the job records why it failed; the client polls for it
        logger.exception("FHIR export %s failed", job_id)
        ExportJob.objects.filter(pk=job_id, status="in_progress").update(
            status="failed", error=f"The export failed: {type(exc).__name__}.", finished_at=timezone.now()
        )
        return "failed"
    with transaction.atomic():
        if not ExportJob.objects.filter(pk=job_id, status="in_progress").update(
            status="completed", transaction_time=now, finished_at=timezone.now(), progress="done"
        ):
            return "cancelled"  # deleted by its requester while it ran
        ExportFile.objects.filter(job=job).delete()
        ExportFile.objects.bulk_create(files)
    return "completed"


def export_cancel(*, job: ExportJob) -> None:
    """DELETE on the status URL: the job and its files go."""
    with transaction.atomic():
        ExportJob.objects.filter(pk=job.pk).update(status="cancelled", finished_at=timezone.now())
        ExportFile.objects.filter(job=job).delete()


@dataclass
class _Source:
    queryset: QuerySet[Any]
    render: Callable[[Any], dict[str, Any]]
    patient_of: Callable[[Any], int | None]


def _sources(job: ExportJob) -> dict[str, _Source]:
    clinics = job.clinic_ids
    visits = Visit.objects.filter(clinic_id__in=clinics).select_related("clinic", "plan").order_by("id")
    done = visits.filter(status="completed", plan__isnull=False)
    since = {"updated__gte": job.since} if job.since is not None else {}
    return {
        "Patient": _Source(
            Patient.objects.filter(clinic_id__in=clinics, **since).order_by("id"),
            lambda p: mapping.patient(p, telecom=job.telecom), lambda p: p.pk,
        ),
        "Location": _Source(
            Clinic.objects.filter(pk__in=clinics, **since).order_by("id"), mapping.location, lambda c: None
        ),
        "CarePlan": _Source(
            Plan.objects.filter(patient__clinic_id__in=clinics, **since).select_related("patient").order_by("id"),
            mapping.careplan, lambda p: p.patient_id,
        ),
        "Appointment": _Source(visits.filter(**since), mapping.appointment, lambda v: v.patient_id),
        "MedicationAdministration": _Source(
            done.filter(kind__in=("dose", "injection"), **since), mapping.medication_administration,
            lambda v: v.patient_id,
        ),
        "MedicationDispense": _Source(
            done.filter(take_home_doses__gt=0, **since), mapping.medication_dispense, lambda v: v.patient_id
        ),
    }


def _build(job: ExportJob, *, transaction_time: datetime) -> Iterator[ExportFile]:
    sources = _sources(job)
    # _since: resources changed since, and up to the transaction time (a later change comes in the next export).
    until = {"updated__lte": transaction_time}
    for resource_type in job.types:
        source = sources[resource_type]
        ExportJob.objects.filter(pk=job.pk).update(progress=f"exporting {resource_type}")
        lines: list[str] = []
        patients: set[int] = set()
        for row in source.queryset.filter(**until).iterator(chunk_size=CHUNK):
            lines.append(json.dumps(source.render(row), separators=(",", ":"), ensure_ascii=False))
            patient_id = source.patient_of(row)
            if patient_id is not None:
                patients.add(patient_id)
            if len(lines) == EXPORT_FILE_RESOURCES:
                yield _file(job, resource_type, lines, patients)
                lines, patients = [], set()
        if lines:
            yield _file(job, resource_type, lines, patients)


def _file(job: ExportJob, resource_type: str, lines: list[str], patients: set[int]) -> ExportFile:
    return ExportFile(
        job=job, resource_type=resource_type, content="\n".join(lines) + "\n", count=len(lines),
        patient_ids=sorted(patients),
    )
