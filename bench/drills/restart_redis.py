"""Drill: the broker (a private redis-server, no persistence) dies mid-dispatch and comes back empty.

    DATABASE_URL=… REDIS_URL=redis://127.0.0.1:6379/9 .venv/bin/python bench/drills/restart_redis.py [--size full]

Never touches the shared Redis on 6379 as a broker: this drill starts its own redis-server on a free port
(`--save "" --appendonly no`), kills it (SIGKILL) while the worker is part-way through the queue, runs a
dispatch sweep while it is down (enqueueing fails: those rows go back to pending), restarts it on the same
port, and lets the worker reconnect. Every task that was in the broker is gone; the rows they stood for
are still `queued` in PostgreSQL, and a dispatch sweep run as if after the reclaim delay puts them back
to pending and sends them. The fake provider counts in the shared Redis (db of REDIS_URL), which stays up.
Check: every reminder accepted exactly once.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))

from bench._common import ROOT, machine, run_script
from bench.drills import _common as drill

SIZES = {"tiny": 12, "full": 300}
DELAY = 0.3  # the fake provider's delay before it accepts a text


def _dispatch(env: dict[str, str], *extra: str) -> dict[str, Any]:
    cmd = [str(ROOT / ".venv/bin/python"), str(ROOT / "bench/drills/dispatcher.py"), "--limit", "500", *extra]
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, timeout=120, check=True)  # noqa: S603
    return json.loads(out.stdout.decode().strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict[str, Any]:
    import argparse

    from django.conf import settings
    from django.db.models import Count

    from bench._worker import (
        FAKE_SENT_LIST,
        RedisServer,
        redis_client,
        reset_broker_and_provider,
        start_worker,
        wait_until,
        worker_env,
    )
    from notifications.models import Message
    from notifications.outbox import reclaim_after

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", choices=sorted(SIZES), default="tiny")
    p.add_argument("--port", type=int, default=None, help="Port for the private redis-server (default: a free one).")
    args = p.parse_args(argv or [])
    count = SIZES[args.size]
    provider = settings.REDIS_URL
    r = redis_client(provider)
    broker = RedisServer(args.port).start()
    s = drill.scenario(count)
    figures: dict[str, Any] = {"drill": "restart_redis", "size": args.size, "broker": broker.url, "machine": machine()}
    worker = None
    statuses = lambda: dict(  # noqa: E731
        Message.objects.filter(id__in=s.message_ids).values_list("status").annotate(n=Count("id"))
    )
    try:
        reset_broker_and_provider(provider)
        # Chunks of two texts, so tasks are still waiting in the broker when it dies.
        env = worker_env(broker=broker.url, fake_sms=provider, FAKE_SMS_DELAY_SECONDS=str(DELAY), SMS_SEND_CHUNK="2")
        worker = start_worker(env, name="brokerdrill", concurrency=1)
        half = str(count // 2)
        figures["first_dispatch"] = _dispatch({**env, "REDIS_URL": broker.url}, "--once", "--limit", half)
        wait_until(lambda: r.llen(FAKE_SENT_LIST) >= 2, 60)
        broker.stop()
        figures["at_broker_loss"] = statuses()
        figures["dispatch_while_down"] = _dispatch({**env, "REDIS_URL": broker.url}, "--once")
        figures["after_failed_enqueue"] = statuses()
        time.sleep(1)
        broker.start()
        time.sleep(3)  # the worker reconnects (broker_connection_retry)
        offset = str(reclaim_after().total_seconds() + 1)
        figures["recovery_dispatch"] = _dispatch({**env, "REDIS_URL": broker.url}, "--now-offset", offset)
        # One worker process sends one text per DELAY: the full size needs about count × DELAY to drain.
        figures["recovered"] = drill.wait_all_sent(s.message_ids, provider, timeout=max(90.0, count * DELAY * 1.5))
        figures["sends"] = drill.verify_sends(s.message_ids, provider)
        figures["ok"] = drill.ok(figures["sends"], {}) and figures["at_broker_loss"].get("queued", 0) >= 1
    finally:
        if worker is not None:
            worker.stop()
        broker.stop()
        drill.cleanup(s)
        reset_broker_and_provider(provider)
    return figures


if __name__ == "__main__":
    run_script(main)
