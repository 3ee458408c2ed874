"""Real worker fixtures: Redis at settings.REDIS_URL, a `celery -A config worker` subprocess on the
same PostgreSQL test database, and the fake_redis SMS provider that counts across processes.

A missing Redis or PostgreSQL fails these tests (scripts/test.sh starts embedded ones): none is skipped.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from bench._clock import offset_env
from config.embedded import database_url_for
from notifications.transports import FAKE_COUNT_KEY, FAKE_SENT_LIST

ROOT = Path(__file__).resolve().parents[2]


def _unavailable(reason: str) -> None:
    pytest.fail(f"{reason}; run `bash scripts/test.sh`, which starts an embedded PostgreSQL and Redis")


@pytest.fixture
def redis_client():
    import redis

    if not settings.REDIS_URL:
        _unavailable("worker tests need REDIS_URL")
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        client.ping()
    except redis.RedisError as exc:
        _unavailable(f"Redis at REDIS_URL is unreachable ({type(exc).__name__})")
    # Start clean: no queued tasks from an earlier run, no counts.
    keys = [*client.scan_iter("dosewise:fake_sms:*"), *client.scan_iter("_kombu.binding.*")]
    client.delete("celery", "unacked", "unacked_index", "unacked_mutex", *keys)
    yield client
    client.delete("celery", "unacked", "unacked_index", *client.scan_iter("dosewise:fake_sms:*"))


@pytest.fixture
def worker_db(transactional_db) -> str:
    """DATABASE_URL of the test database pytest-django created, for the worker subprocess."""
    if "postgresql" not in settings.DATABASES["default"]["ENGINE"]:
        _unavailable("worker tests need PostgreSQL (the worker must share the test database)")
    return database_url_for(connection.settings_dict)


def subprocess_env(db_url: str, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "REDIS_URL": settings.REDIS_URL,
        "SMS_BACKEND": "fake_redis",
        "DOSEWISE_DEV": "1",
        "DB_CONN_MAX_AGE": "0",
        "PYTHONPATH": str(ROOT),
        **offset_env(),
    }
    env.update(extra)
    return env


@pytest.fixture
def start_worker(worker_db, redis_client, tmp_path) -> Iterator[Callable[..., subprocess.Popen]]:
    procs: list[subprocess.Popen] = []

    def start(**extra_env: str) -> subprocess.Popen:
        log = tmp_path / f"worker-{len(procs)}.log"
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench._clock",
                "celery",
                "-A",
                "config",
                "worker",
                "--pool=solo",
                "--concurrency=1",
                "--without-heartbeat",
                "--without-gossip",
                "--without-mingle",
                "-l",
                "INFO",
                "-n",
                f"itest-{uuid.uuid4().hex[:8]}@%h",
            ],
            cwd=ROOT,
            env=subprocess_env(worker_db, **extra_env),
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        procs.append(proc)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if "ready." in log.read_text():
                return proc
            if proc.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        raise RuntimeError(f"worker not ready in 30 s:\n{log.read_text()[-3000:]}")

    yield start
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    from django.db import connections

    connections.close_all()


def sent_count(client, message_id: int) -> int:
    return int(client.get(FAKE_COUNT_KEY.format(message_id)) or 0)


def sent_ids(client) -> list[int]:
    return [int(x) for x in client.lrange(FAKE_SENT_LIST, 0, -1)]


def wait_for(predicate: Callable[[], bool], timeout: float = 30, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
