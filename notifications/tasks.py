"""Celery shells: take ids, call a service. Provider errors are handled in the service
(TransportError); the task retries only on infrastructure errors (the database went away)."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import InterfaceError, OperationalError

from notifications.services import message_send, missed_checkins_sync, reminders_dispatch_until_done

logger = logging.getLogger(__name__)


@shared_task(name="notifications.tasks.dispatch_reminders", ignore_result=True)
def dispatch_reminders() -> int:
    try:
        missed_checkins_sync()
    except Exception:  # noqa: BLE001 - planning check-ins must never hold up sending what is due
        logger.exception("missed check-in planning failed")
    # Keep claiming while batches come back full (bounded by time): one batch a minute capped the outbox.
    return reminders_dispatch_until_done()


@shared_task(
    name="notifications.tasks.send_message",
    ignore_result=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=5,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=5,
)
def send_message(message_id: int) -> None:
    message_send(message_id=message_id)
