"""The last outcome of each periodic job (issue #13): Celery's task_success/task_failure signals keep one row per
beat job, updated in place, with a short error that carries no patient data."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine
from celery.app.task import Context

from config.celery import app
from notifications.jobruns import beat_job_name, error_text, record_failure, record_success
from notifications.models import JobRun

pytestmark = pytest.mark.django_db

BEAT = {"periodic_task_name": "Missed-visit sweep"}


@app.task(name="tests.job_runs.ok")
def _ok() -> str:
    return "done"


@app.task(name="tests.job_runs.boom")
def _boom() -> None:
    raise ValueError("Could not text 'Jordan Okafor' at +1 (212) 555-0147 for MRN-4711 (jordan@example.org)")


def test_a_beat_run_records_its_success_in_one_row():
    with time_machine.travel(datetime(2026, 11, 16, 13, 0, tzinfo=UTC), tick=False):
        _ok.apply(headers=BEAT)
    run = JobRun.objects.get()
    assert (run.name, run.task) == ("Missed-visit sweep", "tests.job_runs.ok")
    assert run.last_success_at == datetime(2026, 11, 16, 13, 0, tzinfo=UTC)
    assert run.last_failure_at is None and run.last_error == ""


def test_a_failure_keeps_when_and_a_short_reason_without_patient_data():
    with time_machine.travel(datetime(2026, 11, 16, 13, 5, tzinfo=UTC), tick=False):
        _boom.apply(headers=BEAT)
    run = JobRun.objects.get()
    assert run.last_failure_at == datetime(2026, 11, 16, 13, 5, tzinfo=UTC)
    assert run.last_error.startswith("ValueError: Could not text")
    for secret in ("Jordan", "Okafor", "555", "0147", "4711", "example.org"):
        assert secret not in run.last_error


def test_runs_update_the_same_row_and_keep_the_other_outcome():
    with time_machine.travel(datetime(2026, 11, 16, 13, 0, tzinfo=UTC), tick=False):
        _boom.apply(headers=BEAT)
    with time_machine.travel(datetime(2026, 11, 16, 13, 5, tzinfo=UTC), tick=False):
        for _ in range(3):
            _ok.apply(headers=BEAT)
    run = JobRun.objects.get()
    assert JobRun.objects.count() == 1
    assert run.last_failure_at == datetime(2026, 11, 16, 13, 0, tzinfo=UTC)
    assert run.last_success_at == datetime(2026, 11, 16, 13, 5, tzinfo=UTC)
    assert run.last_error.startswith("ValueError")


def test_a_task_beat_did_not_send_is_not_recorded():
    _ok.apply()
    _boom.apply()
    assert not JobRun.objects.exists()


def test_a_worker_request_carries_the_beat_header_as_an_attribute():
    # A worker merges custom message headers into the request (an eager run keeps them under `headers`).
    assert beat_job_name(Context({"periodic_task_name": "Nightly visits"})) == "Nightly visits"
    assert beat_job_name(Context({"headers": {"periodic_task_name": "Nightly visits"}})) == "Nightly visits"
    assert beat_job_name(Context({})) == ""


def test_the_error_text_is_one_short_line():
    text = error_text(RuntimeError("first line " + "x" * 500 + "\nDETAIL: Key (mrn)=(MRN-1) already exists"))
    assert len(text) <= 200 and "DETAIL" not in text and text.startswith("RuntimeError: first line")
    assert error_text(KeyError()) == "KeyError"


def test_recording_with_no_job_name_writes_nothing():
    record_success(name="", task="x")
    record_failure(name="", task="x", exc=ValueError("boom"))
    assert not JobRun.objects.exists()
