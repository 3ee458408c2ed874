"""The Celery app. Settings come from Django settings with the CELERY_ prefix."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import beat_init, celeryd_init, task_failure, task_success

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


@beat_init.connect(weak=False)
@celeryd_init.connect(weak=False)
def _require_a_broker(**kwargs: Any) -> None:
    """No Redis, no worker or beat: there is no filesystem fallback, so say how to get one."""
    from django.conf import settings

    if not settings.CELERY_BROKER_URL:
        from config.no_database.base import MESSAGE

        raise SystemExit(MESSAGE.replace("DATABASE_URL is not set", "REDIS_URL is not set"))
