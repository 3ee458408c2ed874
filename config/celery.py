"""The Celery app. Settings come from Django settings with the CELERY_ prefix."""

from __future__ import annotations

import contextlib
import os
from typing import Any

from celery import Celery
from celery.signals import task_failure, task_success

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("dosewise")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_success.connect(weak=False)
def _job_succeeded(sender: Any = None, **kwargs: Any) -> None:
    """A beat job's last success, for the setup page's jobs table (one row per job, updated in place)."""
    from notifications.jobruns import on_task_success

    on_task_success(sender, **kwargs)


@task_failure.connect(weak=False)
def _job_failed(sender: Any = None, **kwargs: Any) -> None:
    """A beat job's last failure: when, and the exception's class with a short scrubbed message."""
    from notifications.jobruns import on_task_failure

    on_task_failure(sender, **kwargs)


def _ensure_filesystem_broker_folders() -> None:
    """kombu's filesystem transport (the laptop default) needs its folders before the first message."""
    from django.conf import settings

    if str(settings.CELERY_BROKER_URL).startswith("filesystem://"):
        for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
            folder = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get(key)
            if folder:
                os.makedirs(str(folder), exist_ok=True)


# Settings may not be configured yet (e.g. `celery --help`); the worker retries the broker anyway.
with contextlib.suppress(Exception):
    _ensure_filesystem_broker_folders()
