"""Stage 6: bulk export ($export) per the FHIR Bulk Data Access IG: kick-off, status polling, NDJSON files.
The Celery task runs eagerly in the round trip only (worker-based tests live in tests/integration)."""

from __future__ import annotations

import json

import pytest
from auditlog.models import LogEntry

from config.celery import app as celery_app
from fhir.models import ExportJob
from fhir.services import export_run
from tests.factories import PatientFactory
from tests.fhir.conftest import valid


@pytest.fixture
def eager():
    """The task runs in the test's process, in this test only."""
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = before


def _kickoff(client, path="$export", **params):
    return client.get(f"/fhir/R4/{path}", params, HTTP_PREFER="respond-async")


def _files(client, manifest):
    out = {}
    for item in manifest["output"]:
        response = client.get(item["url"].split("testserver", 1)[1], HTTP_ACCEPT="application/fhir+ndjson")
        assert response.status_code == 200
        assert response["Content-Type"] == "application/fhir+ndjson"
        lines = [json.loads(line) for line in response.content.decode().splitlines()]
        assert len(lines) == item["count"]
        out.setdefault(item["type"], []).extend(lines)
    return out


def test_a_clinic_group_exports_round_trip_with_valid_ndjson(fhir_as, plan, clinic, other_clinic, eager,
                                                              django_capture_on_commit_callbacks):
    PatientFactory(clinic=other_clinic, mrn="ELSEWHERE")
    client = fhir_as("manager")
    with django_capture_on_commit_callbacks(execute=True):
        response = _kickoff(client, f"Group/{clinic.pk}/$export")
    assert response.status_code == 202
    valid(response.json())
    status_url = response["Content-Location"]
    status = client.get(status_url.split("testserver", 1)[1])
    assert status.status_code == 200
    manifest = status.json()
    assert manifest["requiresAccessToken"] is True
    assert manifest["transactionTime"] == "2026-11-02T13:00:00+00:00"
    exported = _files(client, manifest)
    assert set(exported) == {"Patient", "Location", "CarePlan", "Appointment"}
    for resources in exported.values():
        for resource in resources:
            valid(resource)
    assert [p["identifier"][0]["value"] for p in exported["Patient"]] == ["MRN-1001"]
    assert "telecom" not in exported["Patient"][0]  # a manager kicked it off
    assert len(exported["Appointment"]) == plan.visits.count()
    downloads = LogEntry.objects.filter(action=LogEntry.Action.ACCESS, object_repr__startswith="FHIR bulk export")
    assert downloads.count() == 3  # Patient, CarePlan and Appointment files name patients; Location does not


def test_polling_while_it_runs_answers_202_with_progress(fhir_as, plan, django_capture_on_commit_callbacks):
    client = fhir_as("admin")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = _kickoff(client, _type="Patient,Appointment")
    assert len(callbacks) == 1  # the task is enqueued once the job row is committed
    status = client.get(response["Content-Location"].split("testserver", 1)[1])
    assert status.status_code == 202
    assert status["X-Progress"] == "accepted"
    job = ExportJob.objects.get()
    assert job.types == ["Patient", "Appointment"]
    assert export_run(job_id=str(job.pk)) == "completed"
    assert export_run(job_id=str(job.pk)) == "skipped"  # a redelivered task does nothing twice
    manifest = client.get(response["Content-Location"].split("testserver", 1)[1]).json()
    assert sorted(item["type"] for item in manifest["output"]) == ["Appointment", "Patient"]
    assert "telecom" in _files(client, manifest)["Patient"][0]  # an admin may see phone numbers


def test_a_cancelled_export_is_gone(fhir_as, plan, django_capture_on_commit_callbacks):
    client = fhir_as("admin")
    with django_capture_on_commit_callbacks(execute=False):
        response = _kickoff(client)
    path = response["Content-Location"].split("testserver", 1)[1]
    assert client.delete(path).status_code == 202
    assert client.get(path).status_code == 404
    job = ExportJob.objects.get()
    assert export_run(job_id=str(job.pk)) == "skipped"


def test_roles_without_reports_may_not_export_and_another_clinics_group_is_404(
    fhir_as, other_fhir, clinic, django_capture_on_commit_callbacks
):
    for role in ("front_desk", "nurse"):
        response = _kickoff(fhir_as(role))
        assert response.status_code == 403
        valid(response.json())
    response = _kickoff(other_fhir, f"Group/{clinic.pk}/$export")
    assert response.status_code == 404
    valid(response.json())
    assert not ExportJob.objects.exists()


def test_a_system_export_covers_only_the_requesters_clinics(fhir_as, other_fhir, patient, other_clinic,
                                                             django_capture_on_commit_callbacks):
    PatientFactory(clinic=other_clinic, mrn="ELSEWHERE")
    with django_capture_on_commit_callbacks(execute=False):
        response = _kickoff(other_fhir, _type="Patient")
    job = ExportJob.objects.get()
    assert job.clinic_ids == [other_clinic.pk]
    export_run(job_id=str(job.pk))
    manifest = other_fhir.get(response["Content-Location"].split("testserver", 1)[1]).json()
    assert [p["identifier"][0]["value"] for p in _files(other_fhir, manifest)["Patient"]] == ["ELSEWHERE"]
    # Someone else's job and files are not yours.
    own = fhir_as("admin")
    assert own.get(response["Content-Location"].split("testserver", 1)[1]).status_code == 404
    assert own.get(manifest["output"][0]["url"].split("testserver", 1)[1]).status_code == 404


@pytest.mark.parametrize("params", [{"_type": "Observation"}, {"_outputFormat": "text/csv"}, {"_since": "last week"},
                                    {"_elements": "id"}])
def test_bad_kickoff_parameters_answer_400(fhir_as, params):
    response = _kickoff(fhir_as("admin"), **params)
    assert response.status_code == 400
    valid(response.json())
    assert not ExportJob.objects.exists()
