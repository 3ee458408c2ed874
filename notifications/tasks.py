"""Celery shells: take ids, call a service. Provider errors are handled in the service
(TransportError); the task retries only on infrastructure errors (the database went away)."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from django.db import InterfaceError, OperationalError

from notifications.checkins import missed_checkins_sync
from notifications.dispatch import reminders_dispatch_until_done
from notifications.sending import message_send, messages_send

logger = logging.getLogger(__name__)


@shared_task(name="notifications.tasks.dispatch_reminders", ignore_result=True)
def dispatch_reminders() -> int:
    try:
        missed_checkins_sync()
    except Exception:  # noqa: BLE001 - planning check-ins must never hold up sending what is due
        logger.exception("missed check-in planning failed")
    # Keep claiming while batches come back full (bounded by time): one batch a minute capped the outbox.
    return reminders_dispatch_until_done()


_RETRY_ON_DATABASE_ERRORS: dict[str, Any] = {
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": 5,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 5,
}


@shared_task(name="notifications.tasks.send_messages", ignore_result=True, **_RETRY_ON_DATABASE_ERRORS)
def send_messages(message_ids: list[int]) -> int:
    """Send a chunk of queued rows (what the dispatch sweep enqueues). A retry after a database error
    finds the rows it already claimed no longer queued and sends only the rest."""
    return messages_send(message_ids=message_ids)


# One row per task: what earlier versions enqueued; kept so tasks already in the queue still run.
@shared_task(name="notifications.tasks.send_message", ignore_result=True, **_RETRY_ON_DATABASE_ERRORS)
def send_message(message_id: int) -> None:
    message_send(message_id=message_id)
