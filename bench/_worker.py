"""Real Celery workers, beat and redis-server processes for the dispatch bench and the fault drills.

Each process is started in its own session so it (and its prefork children) can be stopped by its
own process-group id; nothing here ever signals a process it did not start.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench._clock import offset_env
from bench._common import ROOT

# Through bench._clock, so a worker or beat started by a test shares the test's (shifted) clock.
CELERY = [str(ROOT / ".venv" / "bin" / "python"), "-m", "bench._clock", "celery"]
FAKE_SENT_LIST = "dosewise:fake_sms:sent"
FAKE_COUNT_PATTERN = "dosewise:fake_sms:count:*"


def database_url() -> str:
    """The URL of the database this process is using (under pytest: the test database)."""
    from django.db import connection

    from config.embedded import database_url_for

    return database_url_for(connection.settings_dict)


def worker_env(*, broker: str | None = None, fake_sms: str | None = None, **extra: str) -> dict[str, str]:
    from django.conf import settings

    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DOSEWISE_DEV="1",
        DATABASE_URL=database_url(),
        REDIS_URL=broker or settings.REDIS_URL,
        SMS_BACKEND="fake_redis",
        FAKE_SMS_REDIS_URL=fake_sms or settings.REDIS_URL,
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
        # A worker killed mid-send leaves its row in "sending"; drills shorten the reclaim wait (≥ time limit + 60 s).
        CELERY_TASK_TIME_LIMIT=extra.pop("CELERY_TASK_TIME_LIMIT", "60"),
        CELERY_TASK_SOFT_TIME_LIMIT=extra.pop("CELERY_TASK_SOFT_TIME_LIMIT", "50"),
    )
    env.update(offset_env())
    env.update(extra)
    return env


class Proc:
    """A child process in its own session, with its output in a log file."""

    def __init__(self, args: list[str], env: dict[str, str], name: str) -> None:
        self.name = name
        self.log_path = Path(tempfile.mkstemp(prefix=f"dosewise-{name}-", suffix=".log")[1])
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(  # noqa: S603 - fixed argv
            args, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_for(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log():
                return
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.popen.returncode}):\n{self.log()[-3000:]}")
            time.sleep(0.1)
        raise TimeoutError(f"{self.name} did not print {text!r} in {timeout} s:\n{self.log()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL the whole process group (the worker and its prefork children): a crash, no cleanup."""
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(10)

    def stop(self, timeout: float = 20) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()
        self.log_path.unlink(missing_ok=True)


def start_worker(
    env: dict[str, str],
    *,
    name: str = "worker",
    concurrency: int = 2,
    extra: list[str] | None = None,
    timeout: float = 90,
) -> Proc:
    args = [
        *CELERY,
        "-A",
        "config",
        "worker",
        "-c",
        str(concurrency),
        "-P",
        "prefork",
        "-n",
        f"{name}@%h",
        "-l",
        "info",
        "--without-gossip",
        "--without-mingle",
        "-I",
        "bench.celery_noop",
        *(extra or []),
    ]
    proc = Proc(args, env, name)
    proc.wait_for(" ready.", timeout)
    return proc


def start_beat(env: dict[str, str], *, name: str = "beat", timeout: float = 60) -> Proc:
    schedule = tempfile.mkdtemp(prefix="dosewise-beat-")
    args = [
        *CELERY,
        "-A",
        "config",
        "beat",
        "-l",
        "info",
        "--max-interval",
        "1",
        "-s",
        os.path.join(schedule, "schedule"),
    ]
    proc = Proc(args, env, name)
    proc.wait_for("beat: Starting", timeout)
    return proc


@contextmanager
def workers(env: dict[str, str], count: int = 1, **kwargs: Any) -> Iterator[list[Proc]]:
    procs: list[Proc] = []
    try:
        for i in range(count):
            procs.append(start_worker(env, name=f"bench{i}", **kwargs))
        yield procs
    finally:
        for proc in procs:
            proc.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """A private redis-server (no persistence) that drills may stop and restart; never the shared one."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.proc: Proc | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed")
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.proc = Proc(args, dict(os.environ), f"redis-{self.port}")
        self.proc.wait_for("Ready to accept connections", 20)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.stop()
            self.proc = None


def redis_client(url: str) -> Any:
    import redis

    return redis.Redis.from_url(url)


def reset_broker_and_provider(url: str) -> None:
    """Empty the Celery queue (and unacked bookkeeping) and the fake provider's counters in that Redis DB."""
    r = redis_client(url)
    keys = ["celery", "unacked", "unacked_index", "unacked_mutex", FAKE_SENT_LIST, "dosewise:bench:noop"]
    keys += list(r.scan_iter(FAKE_COUNT_PATTERN, count=1000))
    for i in range(0, len(keys), 1000):
        r.delete(*keys[i : i + 1000])


def provider_counts(url: str) -> dict[int, int]:
    """message id -> how many times the fake provider accepted it."""
    r = redis_client(url)
    counts: dict[int, int] = {}
    for raw in r.lrange(FAKE_SENT_LIST, 0, -1):
        mid = int(raw)
        counts[mid] = counts.get(mid, 0) + 1
    return counts


def wait_until(predicate: Any, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
