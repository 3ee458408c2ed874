"""Celery task for FHIR bulk export: a thin shell over fhir.services (STYLE.md), safe to run twice."""

from __future__ import annotations

from celery import shared_task

from fhir import services


@shared_task(name="fhir.export_run")
def export_run(job_id: str) -> str:
    return services.export_run(job_id=job_id)


def enqueue_export(job_id: str) -> None:
    export_run.delay(job_id)
