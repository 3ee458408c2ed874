"""Reminder dispatch through Redis and a real Celery worker to the fake provider, against Celery's no-op throughput.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/dw_bench_jobs REDIS_URL=redis://127.0.0.1:6379/9 \\
        .venv/bin/python bench/dispatch.py [--size full] [--concurrency 2]

Data: M reachable patients, each with an injection visit in two days and its "1d" reminder planned by
notifications.reminders.reminders_sync (real bodies, real caps), then made due (scheduled_for = now − 1 min).
One worker subprocess (`celery -A config worker -c 2`, SMS_BACKEND=fake_redis) serves both sides:
  baseline  M × bench.noop (one Redis INCR) enqueued with apply_async like messages_enqueue does;
            timed from the first enqueue until the worker has run all M.
  dispatch  reminders_dispatch_due(limit=500) called until nothing is due (claim pending→queued with
            SKIP LOCKED, enqueue one send_messages task per chunk of SMS_SEND_CHUNK rows on commit; each
            task claims its chunk queued→sending in one transaction and sends row by row); timed until
            the fake provider has all M texts and every row is `sent` in PostgreSQL.
Throughput ratio = dispatch msgs/s ÷ no-op tasks/s. Target ≥ 0.9 (issue #16; ≥ 0.5 before). Exactly-once is
checked at the provider.
"""

from __future__ import annotations

import os
import sys
from datetime import datetime, time, timedelta
from pathlib import Path
from time import process_time
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import Timer, bench_clinic, count_queries, machine, parser, purge, run_script

SIZES = {"tiny": 40, "small": 2000, "full": 10000}
CLINIC = "Bench dispatch"
TARGET = 0.9  # issue #16 (chain scale); 0.5 before


def ensure_default_policies() -> None:
    """The shipped policies and templates (migration 0002) — gone after a transactional test's flush."""
    from notifications.defaults import DEFAULT_POLICIES, DEFAULT_TEMPLATES
    from notifications.models import MessageTemplate, ReminderPolicy

    for medication, fields in DEFAULT_POLICIES.items():
        ReminderPolicy.objects.get_or_create(clinic=None, medication=medication, defaults=fields)
    for (purpose, language), body in DEFAULT_TEMPLATES.items():
        MessageTemplate.objects.get_or_create(clinic=None, purpose=purpose, language=language, defaults={"body": body})


def make_due_reminders(clinic: Any, count: int, *, now: datetime | None = None, mrn_prefix: str = "DSP") -> list[int]:
    """`count` patients with one due reminder each (planned by reminders_sync); returns the message ids."""
    from django.utils import timezone

    ensure_default_policies()
    from notifications.models import Message
    from notifications.reminders import reminders_sync
    from scheduler.models import Patient, Plan
    from scheduler.timeutil import local_date, utc_instant
    from visits.models import Visit

    now = now or timezone.now()
    today = local_date(now, clinic.timezone)
    day = today + timedelta(days=2)
    window = clinic.windows.filter(services__contains=["buprenorphine_xr_weekly"]).order_by("start").first()
    patients = Patient.objects.bulk_create(
        [
            Patient(
                clinic=clinic,
                mrn=f"{mrn_prefix}{n:07d}",
                first_name="Alex",
                last_name=f"Remind{n}",
                phone=f"+1{200 + n // 10000 % 800}555{n % 10000:04d}",
                sms_consent=True,
                sms_consent_at=now,
            )
            for n in range(count)
        ],
        batch_size=5000,
    )
    plans = Plan.objects.bulk_create(
        [
            Plan(
                patient=p,
                medication="buprenorphine_xr_weekly",
                start_date=today,
                treatment_start=today,
                attendance_weekdays=[],
                status="active",
            )
            for p in patients
        ],
        batch_size=5000,
    )
    start = utc_instant(day, window.start if window else time(10, 30), clinic.timezone)
    visits = Visit.objects.bulk_create(
        [
            Visit(
                patient=p,
                clinic=clinic,
                plan=plan,
                kind="injection",
                date=day,
                start=start,
                end=start + timedelta(minutes=30),
                window=window,
                status="scheduled",
                source="manual",
            )
            for p, plan in zip(patients, plans, strict=True)
        ],
        batch_size=5000,
    )
    reminders_sync(visit_ids=[v.pk for v in visits])
    due = Message.objects.filter(visit__in=visits, purpose="reminder", status="pending")
    if due.count() != count:
        raise RuntimeError(f"reminders_sync planned {due.count()} of {count} reminders")
    due.update(scheduled_for=now - timedelta(minutes=1))
    return list(due.values_list("id", flat=True))


def dispatch_until_empty(limit: int = 500) -> tuple[int, int]:
    """Call the dispatch sweep until it claims nothing: (messages claimed, sweeps)."""
    from notifications.dispatch import reminders_dispatch_due

    claimed = sweeps = 0
    while True:
        n = reminders_dispatch_due(limit=limit)
        sweeps += 1
        claimed += n
        if n == 0:
            return claimed, sweeps


def _cpu_seconds(pids: set[int]) -> float:
    """user + system CPU of the live processes `pids` (Linux /proc; 0 where it cannot be read)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _descendants(root: int) -> set[int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
    found, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        children = {c for c, p in parents.items() if p == pid} - found
        found |= children
        frontier.extend(children)
    return found


class CpuMeter:
    """CPU seconds spent by the worker (its process and prefork children) and by this database's
    PostgreSQL backends (the worker's and this process's connections) while the block runs. A diagnostic:
    which side of the pipeline costs what per text; never asserted."""

    def __init__(self, worker_pid: int) -> None:
        self.worker_pid = worker_pid
        self.figures: dict[str, float] = {}

    def _pids(self) -> tuple[set[int], set[int]]:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
            backends = {int(row[0]) for row in cursor.fetchall()}
        return _descendants(self.worker_pid), backends

    def __enter__(self) -> CpuMeter:
        self.workers, self.backends = self._pids()
        self.start = (_cpu_seconds(self.workers), _cpu_seconds(self.backends), process_time())
        return self

    def __exit__(self, *exc: object) -> None:
        # Processes that appeared inside the block count from zero; ones that ended inside it are missed.
        workers, backends = self._pids()
        self.figures = {
            "worker_cpu_s": round(_cpu_seconds(workers) - self.start[0], 2),
            "postgres_cpu_s": round(_cpu_seconds(backends) - self.start[1], 2),
            "bench_process_cpu_s": round(process_time() - self.start[2], 2),
        }


def _noop_side(count: int, url: str, timeout: float, worker: Any = None) -> float:
    from bench._worker import redis_client, wait_until
    from bench.celery_noop import NOOP_COUNT_KEY, noop

    r = redis_client(url)
    r.delete(NOOP_COUNT_KEY)
    with Timer() as t:
        for _ in range(count):
            noop.apply_async(retry=False)
        done = wait_until(lambda: int(r.get(NOOP_COUNT_KEY) or 0) >= count, timeout)
    if not done:
        # Left in the queue means no worker consumed it; gone from the queue means another consumer took it
        # (the broker's Redis DB must not be shared with other workers).
        raise TimeoutError(
            f"no-op tasks: {int(r.get(NOOP_COUNT_KEY) or 0)} of {count} ran in {timeout} s; "
            f"{r.llen('celery')} still queued; worker log:\n{worker.log()[-2000:] if worker else ''}"
        )
    return t.seconds


def _dispatch_side(ids: list[int], url: str, timeout: float) -> tuple[float, int, int, int]:
    from bench._worker import FAKE_SENT_LIST, redis_client, wait_until
    from notifications.models import Message

    r = redis_client(url)
    with Timer() as t:
        with count_queries() as queries:
            claimed, sweeps = dispatch_until_empty()
        wait_until(lambda: r.llen(FAKE_SENT_LIST) >= len(ids), timeout)
        wait_until(lambda: Message.objects.filter(id__in=ids, status="sent").count() == len(ids), 30, 0.2)
    return t.seconds, claimed, sweeps, queries[0]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = parser(__doc__.splitlines()[0], SIZES, "full")
    p.add_argument("--concurrency", type=int, default=2)
    args = p.parse_args(argv or [])
    from django.conf import settings
    from django.db.models import Count

    from bench._worker import provider_counts, reset_broker_and_provider, worker_env, workers
    from notifications.models import Message

    if not settings.REDIS_URL:
        raise SystemExit("Set REDIS_URL (e.g. redis://127.0.0.1:6379/9): the bench needs a real broker.")
    count = SIZES[args.size]
    timeout = max(60.0, count / 20)
    url = settings.REDIS_URL
    figures: dict[str, Any] = {
        "bench": "dispatch",
        "size": args.size,
        "reminders": count,
        "worker_concurrency": args.concurrency,
        "machine": machine(),
    }
    clinic = bench_clinic(CLINIC, count)
    try:
        ids = make_due_reminders(clinic, count)
        reset_broker_and_provider(url)
        with workers(worker_env(), concurrency=args.concurrency) as procs:
            with CpuMeter(procs[0].pid) as noop_cpu:
                noop_seconds = _noop_side(count, url, timeout, procs[0])
            with CpuMeter(procs[0].pid) as dispatch_cpu:
                seconds, claimed, sweeps, queries = _dispatch_side(ids, url, timeout)
        counts = provider_counts(url)
        statuses = dict(Message.objects.filter(id__in=ids).values_list("status").annotate(n=Count("id")))
        figures.update(
            due=len(ids),
            claimed=claimed,
            dispatch_sweeps=sweeps,
            dispatcher_queries=queries,
            provider_accepted=sum(counts.values()),
            provider_distinct=len(counts),
            sent_more_than_once=sum(1 for n in counts.values() if n > 1),
            not_ours=len(set(counts) - set(ids)),
            statuses=statuses,
            noop_seconds=round(noop_seconds, 3),
            noop_per_second=round(count / noop_seconds, 1),
            dispatch_seconds=round(seconds, 3),
            dispatch_per_second=round(len(ids) / seconds, 1),
        )
        figures["cpu_seconds"] = {"noop": noop_cpu.figures, "dispatch": dispatch_cpu.figures}
        figures["ratio"] = round(figures["dispatch_per_second"] / figures["noop_per_second"], 2)
        figures["target"] = f">= {TARGET}x of no-op throughput"
        figures["met"] = figures["ratio"] >= TARGET
        figures["loadavg_at_end"] = machine()["loadavg_at_start"]
    finally:
        purge(clinic)
        reset_broker_and_provider(url)
    return figures


if __name__ == "__main__":
    run_script(main)
