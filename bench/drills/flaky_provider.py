"""Drill: a provider that answers 5xx, times out, calls back early, twice, and out of order.

    DATABASE_URL=… .venv/bin/python bench/drills/flaky_provider.py [--size full]

In-process (the transport is faked at its boundary; our code, PostgreSQL and the webhook views are real).
Send tasks run eagerly. For every message the provider first answers HTTP 503 (a temporary
TransportError: retried with backoff), then times out before accepting (temporary again), then accepts.
Time moves forward between dispatch sweeps by passing `now`, past each row's next_attempt_at.
Every third text the provider calls back "delivered" *before* send() returns (the callback beats our own
write of the provider id: cached, then replayed). Then every message gets signed status callbacks out of
order and twice: delivered, sent, delivered; plus one callback with a bad signature (must be 403).
Check: each text accepted exactly once, three attempts each, every row ends `delivered` (never moved
back to `sent`), the bad signature changed nothing.

Not drilled, because it cannot be made exactly-once from our side: a timeout *after* the provider accepted
(Twilio has no idempotency key for outgoing messages; see notifications/sending.py).
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))

from bench._common import machine, run_script
from bench.drills import _common as drill

SIZES = {"tiny": 9, "full": 300}
TOKEN = "drill-auth-token"
STATUS_PATH = "/api/v1/sms/status/"


class FlakyProvider:
    """503 on the first attempt, a timeout on the second, accepts on the third; counts what it accepted."""

    def __init__(self, client: Any, early_every: int = 3) -> None:
        self.attempts: dict[int, int] = {}
        self.accepted: dict[int, int] = {}
        self.sids: dict[int, str] = {}
        self.client = client
        self.early_every = early_every

    def send(self, *, to: str, body: str, message_id: int) -> str:
        from notifications.transports import TransportError

        n = self.attempts[message_id] = self.attempts.get(message_id, 0) + 1
        if n == 1:
            raise TransportError("provider refused (HTTP 503, code -)", permanent=False)
        if n == 2:
            raise TransportError("provider unreachable: ReadTimeout", permanent=False)
        self.accepted[message_id] = self.accepted.get(message_id, 0) + 1
        sid = self.sids[message_id] = f"SM{uuid.uuid4().hex}"
        if message_id % self.early_every == 0:
            callback(self.client, sid, "delivered")  # faster than our own UPDATE of the provider id
        return sid


def callback(client: Any, sid: str, status: str, *, sign: bool = True) -> int:
    from django.conf import settings
    from twilio.request_validator import RequestValidator

    params = {"MessageSid": sid, "MessageStatus": status}
    signature = RequestValidator(TOKEN).compute_signature(f"{settings.PUBLIC_BASE_URL}{STATUS_PATH}", params)
    headers = {"HTTP_X_TWILIO_SIGNATURE": signature if sign else "bad"}
    return int(client.post(STATUS_PATH, params, **headers).status_code)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    import argparse
    from datetime import timedelta
    from unittest import mock

    from django.db.models import Count
    from django.test import Client
    from django.test.utils import override_settings
    from django.utils import timezone

    from config.celery import app
    from notifications.dispatch import reminders_dispatch_due
    from notifications.models import Message

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", choices=sorted(SIZES), default="tiny")
    args = p.parse_args(argv or [])
    count = SIZES[args.size]
    s = drill.scenario(count)
    ids = s.message_ids
    figures: dict[str, Any] = {"drill": "flaky_provider", "size": args.size, "machine": machine()}
    client = Client()
    provider = FlakyProvider(client)
    eager = app.conf.task_always_eager
    try:
        app.conf.task_always_eager = True
        with (
            override_settings(TWILIO_AUTH_TOKEN=TOKEN),
            mock.patch("notifications.sending.get_transport", return_value=provider),
        ):
            claimed = []
            for hours in (0, 2, 4, 6):  # each sweep after every row's backoff has passed
                claimed.append(reminders_dispatch_due(now=timezone.now() + timedelta(hours=hours)))
            figures["claimed_per_sweep"] = claimed
            codes: list[int] = []
            for mid in ids:
                sid = provider.sids.get(mid, "")
                codes += [
                    callback(client, sid, "delivered"),
                    callback(client, sid, "sent"),
                    callback(client, sid, "delivered"),
                ]
            before = dict(Message.objects.filter(id__in=ids).values_list("id", "status"))
            bad = callback(client, provider.sids.get(ids[0], ""), "failed", sign=False) if ids else 403
            after = dict(Message.objects.filter(id__in=ids).values_list("id", "status"))
        statuses = dict(Message.objects.filter(id__in=ids).values_list("status").annotate(n=Count("id")))
        attempts = dict(Message.objects.filter(id__in=ids).values_list("attempts").annotate(n=Count("id")))
        figures.update(
            due=len(ids),
            provider_accepted=sum(provider.accepted.values()),
            sent_twice=sorted(m for m, n in provider.accepted.items() if n > 1),
            never_sent=sorted(set(ids) - set(provider.accepted)),
            statuses=statuses,
            attempts=attempts,
            callback_codes=sorted(set(codes)),
            bad_signature_code=bad,
            bad_signature_changed_nothing=before == after,
        )
        figures["ok"] = (
            figures["provider_accepted"] == len(ids)
            and not figures["sent_twice"]
            and not figures["never_sent"]
            and statuses == {"delivered": len(ids)}
            and attempts == {3: len(ids)}
            and figures["callback_codes"] == [204]
            and bad == 403
            and figures["bad_signature_changed_nothing"]
        )
    finally:
        app.conf.task_always_eager = eager
        drill.cleanup(s)
    return figures


if __name__ == "__main__":
    run_script(main)
