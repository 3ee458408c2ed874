"""Dispatch: claim due rows (pending→queued, skip_locked), put stuck rows back, and enqueue send tasks after
commit. The send task is found by its registered name (notifications.tasks.send_messages), so this module does
not import the task shells that call it."""

from __future__ import annotations

import logging
from datetime import datetime
from time import monotonic

from celery import current_app
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from notifications.models import Message
from notifications.outbox import MAX_ATTEMPTS, reclaim_after
from notifications.sending import send_chunk

logger = logging.getLogger(__name__)

# The shell that sends a chunk (notifications/tasks.py), by its registered name: beat and queued tasks know it
# by this name already, and looking it up keeps this module from importing the shells above it.
SEND_MESSAGES_TASK = "notifications.tasks.send_messages"


def messages_reclaim_stuck(*, now: datetime) -> int:
    """Take back rows whose worker died. A "sending" row is retried only if the provider never
    answered (no provider_id); one with a provider_id reached the provider and counts as sent."""
    cutoff = now - reclaim_after()
    stuck = Message.objects.filter(claimed_at__lt=cutoff)
    n = stuck.filter(status="queued").update(status="pending", claimed_at=None, updated=now)
    n += stuck.filter(status="sending").exclude(provider_id="").update(status="sent", updated=now)
    sending = stuck.filter(status="sending", provider_id="")
    n += sending.filter(attempts__gte=MAX_ATTEMPTS).update(
        status="failed", status_reason=f"worker stopped mid-send {MAX_ATTEMPTS} times", updated=now
    )
    n += sending.update(
        status="pending", claimed_at=None, status_reason="reclaimed: worker stopped mid-send", updated=now
    )
    return n


def reminders_dispatch_due(*, now: datetime | None = None, limit: int = 500) -> int:
    """Claim due rows (pending→queued, skip_locked) and enqueue send tasks (one per chunk) after commit.

    Returns how many rows were claimed. If the broker is down, the rows go back to pending.
    """
    now = now or timezone.now()
    messages_reclaim_stuck(now=now)
    with transaction.atomic():
        due = (
            Message.objects.filter(status="pending", scheduled_for__lte=now)
            .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
            .order_by("scheduled_for", "id")
            .select_for_update(skip_locked=True)
            .values_list("id", flat=True)
        )
        ids = list(due[:limit])
        if ids:
            Message.objects.filter(id__in=ids, status="pending").update(status="queued", claimed_at=now, updated=now)
            transaction.on_commit(lambda: messages_enqueue(message_ids=ids))
    return len(ids)


# Below beat's 60 s period (and the task's soft time limit), so one run ends before the next is sent.
DISPATCH_BUDGET_SECONDS = 45.0


def reminders_dispatch_until_done(*, limit: int = 500, budget_seconds: float = DISPATCH_BUDGET_SECONDS) -> int:
    """Claim batches until one comes back short (nothing more is due) or the time budget is spent.

    One batch per beat run capped the outbox at `limit` texts a minute however many workers ran.
    Each batch is its own transaction and enqueues on commit, so a broker failure loses nothing.
    """
    deadline = monotonic() + budget_seconds
    total = 0
    while True:
        claimed = reminders_dispatch_due(limit=limit)
        total += claimed
        if claimed < limit or monotonic() >= deadline:
            return total


def messages_enqueue(*, message_ids: list[int]) -> int:
    """Enqueue one send task per chunk of rows (settings.SMS_SEND_CHUNK). On a broker failure, put the
    rows of that chunk and of every later one back to pending."""
    send_messages = current_app.tasks[SEND_MESSAGES_TASK]
    size = send_chunk()
    for i in range(0, len(message_ids), size):
        try:
            send_messages.apply_async(args=[message_ids[i : i + size]], retry=False)
        except Exception as exc:  # noqa: BLE001 - kombu OperationalError, redis errors, OSError: never lose a row
            back = Message.objects.filter(id__in=message_ids[i:], status="queued").update(
                status="pending", claimed_at=None, updated=timezone.now()
            )
            logger.warning("broker unavailable (%s): %d message(s) back to pending", type(exc).__name__, back)
            return i
    return len(message_ids)
