"""Drill: kill a worker (SIGKILL, whole process group) in the middle of sending, then recover.

    DATABASE_URL=… REDIS_URL=redis://127.0.0.1:6379/9 .venv/bin/python bench/drills/kill_worker.py [--size full]

Worker A (one process, a provider that takes FAKE_SMS_DELAY_SECONDS before accepting a text) is killed
while a send is in flight. Texts go out in chunks (SMS_SEND_CHUNK, 2 here so one run has several): the
killed chunk's unsent rows are left `sending` with no provider id, the other chunks' rows `queued`, and
A's unacknowledged task sits in Redis. Worker B starts; Redis hands A's task back after the visibility
timeout (the claim sees the row is no longer `queued` and does nothing); B drains the queue; a dispatch
sweep run as if after the reclaim delay puts the stuck row back to pending and B sends it.
Check: every reminder accepted by the provider exactly once.

The kill lands ≥0.3 s after the provider accepted the previous text, i.e. inside the next send's delay.
A kill between the provider accepting and our UPDATE (milliseconds) would double-send that one text:
the gap documented in notifications/sending.py, which no drill can close from our side.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))

from bench._common import machine, run_script
from bench.drills import _common as drill

SIZES = {"tiny": 8, "full": 200}
DELAY = 0.6
CHUNK = 2


def main(argv: list[str] | None = None) -> dict[str, Any]:
    import argparse
    from datetime import timedelta

    from django.conf import settings
    from django.db.models import Count
    from django.test import override_settings
    from django.utils import timezone

    from bench._worker import (
        FAKE_SENT_LIST,
        redis_client,
        reset_broker_and_provider,
        start_worker,
        wait_until,
        worker_env,
    )
    from bench.dispatch import dispatch_until_empty
    from notifications.dispatch import reminders_dispatch_due
    from notifications.models import Message
    from notifications.outbox import reclaim_after

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", choices=sorted(SIZES), default="tiny")
    args = p.parse_args(argv or [])
    count = SIZES[args.size]
    url = settings.REDIS_URL
    r = redis_client(url)
    s = drill.scenario(count)
    figures: dict[str, Any] = {"drill": "kill_worker", "size": args.size, "machine": machine()}
    a = b = None
    try:
        reset_broker_and_provider(url)
        env = worker_env(CELERY_VISIBILITY_TIMEOUT="3")
        a = start_worker({**env, "FAKE_SMS_DELAY_SECONDS": str(DELAY)}, name="doomed", concurrency=1)
        with override_settings(SMS_SEND_CHUNK=CHUNK):
            figures["claimed"] = dispatch_until_empty()[0]
        wait_until(lambda: r.llen(FAKE_SENT_LIST) >= 2, 60)
        seen = r.llen(FAKE_SENT_LIST)
        wait_until(lambda: r.llen(FAKE_SENT_LIST) > seen, 10, 0.01)  # the child just accepted one …
        time.sleep(0.3)  # … and is now inside the next send's provider delay
        a.kill()
        at_kill = Message.objects.filter(id__in=s.message_ids).values_list("status").annotate(n=Count("id"))
        figures["at_kill"] = dict(at_kill)
        b = start_worker(env, name="survivor", concurrency=1)
        wait_until(lambda: Message.objects.filter(id__in=s.message_ids, status="queued").count() == 0, 60, 0.2)
        later = timezone.now() + reclaim_after() + timedelta(seconds=1)
        figures["reclaimed_and_claimed"] = reminders_dispatch_due(now=later)
        figures["recovered"] = drill.wait_all_sent(s.message_ids, url, timeout=60)
        figures["sends"] = drill.verify_sends(s.message_ids, url)
        figures["ok"] = drill.ok(figures["sends"], {}) and figures["at_kill"].get("sending", 0) >= 1
    finally:
        for proc in (a, b):
            if proc is not None:
                proc.stop()
        drill.cleanup(s)
        reset_broker_and_provider(url)
    return figures


if __name__ == "__main__":
    run_script(main)
