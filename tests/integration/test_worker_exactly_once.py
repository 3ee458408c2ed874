"""A due text travels row → broker → real worker → provider exactly once, also when dispatch runs
twice at the same moment, when the worker is killed mid-send, and when Redis is down at enqueue."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from notifications.dispatch import reminders_dispatch_due
from notifications.models import Message
from notifications.outbox import reclaim_after
from tests.factories import ClinicFactory, PatientFactory

from .conftest import ROOT, sent_count, sent_ids, subprocess_env, wait_for

pytestmark = pytest.mark.worker


def due_messages(n: int = 1) -> list[Message]:
    clinic = ClinicFactory(sms_name="Riverside Health")
    now = timezone.now()
    return [
        Message.objects.create(
            patient=PatientFactory(clinic=clinic),
            purpose="missed_checkin",
            body="Hi, we missed you today.",
            scheduled_for=now - timedelta(minutes=1),
        )
        for _ in range(n)
    ]


def status_of(message: Message) -> str:
    return Message.objects.values_list("status", flat=True).get(pk=message.pk)


def test_a_due_text_reaches_the_provider_once(start_worker, redis_client):
    start_worker()
    [message] = due_messages()
    assert reminders_dispatch_due() == 1
    assert wait_for(lambda: status_of(message) == "sent")
    message.refresh_from_db()
    assert message.provider_id.startswith(f"FAKE{message.pk}-")
    assert sent_count(redis_client, message.pk) == 1


def test_two_dispatches_at_the_same_moment_send_each_text_once(start_worker, redis_client):
    start_worker()
    messages = due_messages(12)
    barrier = threading.Barrier(2)
    claimed: list[int] = []

    def sweep() -> None:
        try:
            barrier.wait()
            claimed.append(reminders_dispatch_due())
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(claimed) == 12
    assert wait_for(lambda: Message.objects.filter(status="sent").count() == 12)
    assert sorted(sent_ids(redis_client)) == sorted(m.pk for m in messages)


def test_a_worker_killed_mid_send_is_replaced_and_the_text_goes_out_once(start_worker, redis_client):
    slow = start_worker(FAKE_SMS_DELAY_SECONDS="30")
    [message] = due_messages()
    reminders_dispatch_due()
    assert wait_for(lambda: status_of(message) == "sending")
    os.killpg(slow.pid, signal.SIGKILL)
    slow.wait(timeout=10)
    assert sent_count(redis_client, message.pk) == 0
    assert status_of(message) == "sending"  # the provider never answered: no provider_id

    start_worker()
    # The reclaim waits longer than a task may run; jump the sweep's clock past it.
    later = timezone.now() + reclaim_after() + timedelta(seconds=1)
    assert reminders_dispatch_due(now=later) == 1
    assert wait_for(lambda: status_of(message) == "sent")
    assert sent_count(redis_client, message.pk) == 1
    assert reminders_dispatch_due(now=later + reclaim_after()) == 0
    assert sent_ids(redis_client) == [message.pk]


def test_redis_down_at_enqueue_leaves_the_text_pending_for_the_next_sweep(start_worker, redis_client, worker_db):
    [message] = due_messages()
    env = subprocess_env(worker_db, REDIS_URL="redis://127.0.0.1:1/5")
    result = subprocess.run(
        [sys.executable, "manage.py", "dispatch_reminders"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    message.refresh_from_db()
    assert (message.status, message.claimed_at) == ("pending", None)
    assert sent_count(redis_client, message.pk) == 0

    start_worker()
    assert reminders_dispatch_due() == 1
    assert wait_for(lambda: status_of(message) == "sent")
    assert sent_count(redis_client, message.pk) == 1
