"""FHIR Bulk Data Access IG ($export): kick-off (202 + Content-Location), status polling, NDJSON files.

Who: clinicians, managers and admins (the report roles), over the clinics they may see; phone numbers only in
exports kicked off by a role that may see them. The job runs in a Celery task (fhir.tasks.export_run); the
files are rows of fhir.ExportFile; each download leaves an access entry naming the patients in that file.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.urls import reverse
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from fhir import mapping, search, selectors, services, tasks
from fhir.audit import audit_patients
from fhir.http import FhirError, FhirView, not_found
from fhir.models import ExportFile, ExportJob
from scheduler.permissions import FRONT_DESK, REPORTS, has_role

OUTPUT_FORMATS = ("application/fhir+ndjson", "application/ndjson", "ndjson")
KICKOFF_PARAMS = frozenset({"_type", "_since", "_outputFormat"})


def _types(params: Any) -> list[str]:
    raw = ",".join(params.getlist("_type"))
    if not raw:
        return list(services.EXPORT_TYPES)
    wanted = [t.strip() for t in raw.split(",") if t.strip()]
    unknown = [t for t in wanted if t not in services.EXPORT_TYPES]
    if unknown:
        raise FhirError(f"_type: {unknown[0][:40]!r} is not exported; use {', '.join(services.EXPORT_TYPES)}.",
                        expression=["_type"])
    return [t for t in services.EXPORT_TYPES if t in wanted]


def _since(params: Any) -> Any:
    raw = params.get("_since")
    if raw is None:
        return None
    bound = search.parse_bound("eq", raw, "_since")
    if bound.moment is None:
        raise FhirError("_since: give an instant with its offset, e.g. 2026-11-01T00:00:00Z.", expression=["_since"])
    return bound.moment


class ExportKickoffView(FhirView):
    """GET (or POST) [base]/$export, [base]/Patient/$export, [base]/Group/<clinic id>/$export."""

    level = "system"

    def get(self, request: Request, group_id: str | None = None) -> Response:
        self.require(REPORTS, "export data in bulk")
        params = request.query_params
        unknown = [name for name in params if name not in KICKOFF_PARAMS]
        if unknown:
            raise FhirError(f"$export does not support {unknown[0]!r}; supported: _type, _since, _outputFormat.",
                            code="not-supported", expression=[unknown[0]])
        fmt = params.get("_outputFormat")
        if fmt is not None and fmt not in OUTPUT_FORMATS:
            raise FhirError("_outputFormat: only application/fhir+ndjson.", code="not-supported",
                            expression=["_outputFormat"])
        group, clinic_ids = self._scope(request, group_id)
        job = services.export_start(
            user=request.user, level=self.level, clinic_ids=clinic_ids, group_clinic=group, types=_types(params),
            since=_since(params), telecom=has_role(request.user, FRONT_DESK),
            request_url=request.build_absolute_uri(), enqueue=tasks.enqueue_export,
        )
        status_url = request.build_absolute_uri(reverse("fhir-export-status", args=[job.pk]))
        body = mapping.operation_outcome(f"Export accepted; poll {status_url}", code="informational",
                                           severity="information")
        return Response(body, status=202, headers={"Content-Location": status_url})

    post = get

    def _scope(self, request: Request, group_id: str | None) -> tuple[Any, list[int]]:
        if group_id is None:
            return None, selectors.visible_clinic_ids(request.user)
        clinic = None
        if group_id.isascii() and group_id.isdigit() and len(group_id) < 19:
            clinic = selectors.clinics(request.user).filter(pk=int(group_id)).first()
        if clinic is None:
            raise not_found("Group", group_id)
        return clinic, [clinic.pk]


class PatientExportKickoffView(ExportKickoffView):
    level = "patient"


class GroupExportKickoffView(ExportKickoffView):
    level = "group"


def _job(request: Request, job_id: str) -> ExportJob:
    job = ExportJob.objects.filter(pk=job_id, user_id=request.user.pk or 0).exclude(status="cancelled").first()
    if job is None:
        raise FhirError("No such export job of yours (it may have been cancelled).", status_code=404, code="not-found")
    return job


class ExportStatusView(FhirView):
    """202 while it runs (X-Progress, Retry-After), 200 with the manifest when done, an OperationOutcome if it failed;
    DELETE cancels it and deletes its files."""

    def get(self, request: Request, job_id: str) -> Response:
        job = _job(request, str(job_id))
        if job.status in ("accepted", "in_progress"):
            return Response(status=202, headers={"X-Progress": job.progress or job.status.replace("_", " "),
                                                 "Retry-After": "2"})
        if job.status == "failed":
            raise FhirError(job.error or "The export failed.", status_code=500, code="exception")
        request.accepted_renderer = JSONRenderer()  # the manifest is plain JSON (IG: application/json)
        request.accepted_media_type = JSONRenderer.media_type
        return Response(self._manifest(request, job))

    def delete(self, request: Request, job_id: str) -> Response:
        services.export_cancel(job=_job(request, str(job_id)))
        return Response(status=202)

    @staticmethod
    def _manifest(request: Request, job: ExportJob) -> dict[str, Any]:
        files = ExportFile.objects.filter(job=job).only("pk", "resource_type", "count").order_by("id")
        return {
            "transactionTime": job.transaction_time.isoformat() if job.transaction_time else None,
            "request": job.request_url,
            "requiresAccessToken": True,
            "output": [
                {"type": f.resource_type, "url": request.build_absolute_uri(reverse("fhir-export-file", args=[f.pk])),
                 "count": f.count}
                for f in files
            ],
            "error": [],
        }


class ExportFileView(FhirView):
    """One NDJSON file of a finished export, for the user who asked for it."""

    def get(self, request: Request, file_id: str) -> HttpResponse:
        found = ExportFile.objects.filter(
            pk=int(file_id), job__user_id=request.user.pk or 0, job__status="completed"
        ).select_related("job").first() if file_id.isascii() and file_id.isdigit() and len(file_id) < 19 else None
        if found is None:
            raise FhirError("No such export file of yours.", status_code=404, code="not-found")
        audit_patients(user=request.user, patient_ids=found.patient_ids,
                       what=f"bulk export {found.job_id} {found.resource_type} file")
        return HttpResponse(found.content.encode(), content_type="application/fhir+ndjson")
