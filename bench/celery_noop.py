"""The baseline task for bench/dispatch.py: Celery's own per-task cost on the same broker and worker.

It does the least a task can do and still be counted from outside: one Redis INCR (the fake SMS
provider does one RPUSH + INCR per text). Loaded only into bench workers (`celery … -I bench.celery_noop`).
"""

from __future__ import annotations

import os

from celery import shared_task

NOOP_COUNT_KEY = "dosewise:bench:noop"
_redis = None


def _client():  # type: ignore[no-untyped-def]
    global _redis
    if _redis is None:
        import redis
        from django.conf import settings

        _redis = redis.Redis.from_url(os.environ.get("FAKE_SMS_REDIS_URL") or settings.REDIS_URL)
    return _redis


@shared_task(name="bench.noop", ignore_result=True)
def noop() -> None:
    _client().incr(NOOP_COUNT_KEY)
