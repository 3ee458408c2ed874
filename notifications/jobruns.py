"""The last outcome of each periodic job, for the setup page: recorded from Celery's task_success and
task_failure signals (connected in config/celery.py) for the tasks beat sent.

One row per job name, written with one upsert: no growth, no read-modify-write race between two workers. The
error is the exception's class and a short, scrubbed first line: quoted values, numbers and addresses are cut out,
so a name, phone or MRN an exception might carry never reaches the page or the database row."""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Any

from django.db import DatabaseError
from django.utils import timezone

from notifications.models import JobRun

logger = logging.getLogger(__name__)

ERROR_CHARS = 200
_QUOTED = re.compile(r"(['\"]).*?\1")
_EMAIL = re.compile(r"\S+@\S+")
_DIGITS = re.compile(r"\+?\d[\d\s().-]*\d|\d")


def beat_job_name(request: Any) -> str:
    """The periodic task's name when beat sent this run (django-celery-beat sets the `periodic_task_name`
    header; a worker puts custom headers on the request, an eager run keeps them under `headers`), else ""."""
    if request is None:
        return ""
    name = getattr(request, "periodic_task_name", None)
    if not name:
        headers = getattr(request, "headers", None) or {}
        name = headers.get("periodic_task_name") if isinstance(headers, dict) else None
    return str(name or "")[:200]


def error_text(exc: BaseException) -> str:
    """ "ClassName: first line", with quoted values, e-mail addresses and numbers replaced by "…", truncated."""
    lines = str(exc).strip().splitlines()
    first = lines[0] if lines else ""
    first = _QUOTED.sub("…", first)
    first = _EMAIL.sub("…", first)
    first = _DIGITS.sub("…", first)
    text = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    return text if len(text) <= ERROR_CHARS else text[: ERROR_CHARS - 1] + "…"


def _upsert(name: str, task: str, **fields: Any) -> None:
    try:
        JobRun.objects.bulk_create(
            [JobRun(name=name, task=task, **fields)],
            update_conflicts=True,
            unique_fields=["name"],
            update_fields=["task", *fields],
        )
    except DatabaseError:
        # The job's own failure may be the database: the worker carries on; the next run records again.
        logger.warning("Could not record the outcome of the periodic job %s", name, exc_info=True)


def record_success(*, name: str, task: str, at: datetime | None = None) -> None:
    if name:
        _upsert(name, task, last_success_at=at or timezone.now())


def record_failure(*, name: str, task: str, exc: BaseException, at: datetime | None = None) -> None:
    if name:
        _upsert(name, task, last_failure_at=at or timezone.now(), last_error=error_text(exc))


def on_task_success(sender: Any = None, **_kwargs: Any) -> None:
    record_success(name=beat_job_name(getattr(sender, "request", None)), task=getattr(sender, "name", "") or "")


def on_task_failure(sender: Any = None, exception: BaseException | None = None, **_kwargs: Any) -> None:
    record_failure(
        name=beat_job_name(getattr(sender, "request", None)),
        task=getattr(sender, "name", "") or "",
        exc=exception if exception is not None else RuntimeError(),
    )
