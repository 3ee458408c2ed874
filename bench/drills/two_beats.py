"""Drill: two beat processes fire the same periodic jobs, every second, against one worker.

    DATABASE_URL=… REDIS_URL=redis://127.0.0.1:6379/9 .venv/bin/python bench/drills/two_beats.py [--size full]

Running two beats by mistake (two deploys, a failover that did not stop the old one) doubles every
periodic task. Here both beats (django-celery-beat's DatabaseScheduler) send `dispatch_reminders` and
`mark_missed_visits` every second. The jobs stay correct because they claim rows, not schedule slots:
dispatch claims pending→queued under SKIP LOCKED, the missed sweep claims scheduled→missed with
compare-and-swap, and escalations are unique per (plan, kind, anchor_date).
Check: every reminder accepted once, every overdue visit marked once, no escalation twice.
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

SIZES = {"tiny": (20, 40), "full": (1000, 4000)}
JOBS = {"drill dispatch": "notifications.tasks.dispatch_reminders", "drill missed": "visits.tasks.mark_missed_visits"}


def _install() -> None:
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    drill.disable_other_periodic_tasks()
    every, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.SECONDS)
    for name, task in JOBS.items():
        PeriodicTask.objects.update_or_create(name=name, defaults={"task": task, "interval": every, "enabled": True})


def _uninstall() -> None:
    from django_celery_beat.models import PeriodicTask

    PeriodicTask.objects.filter(name__in=list(JOBS)).delete()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    import argparse

    from django.conf import settings

    from bench._worker import reset_broker_and_provider, start_beat, wait_until, worker_env, workers
    from visits.models import Visit

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", choices=sorted(SIZES), default="tiny")
    args = p.parse_args(argv or [])
    reminders, overdue = SIZES[args.size]
    url = settings.REDIS_URL
    s = drill.scenario(reminders, overdue)
    figures: dict[str, Any] = {"drill": "two_beats", "size": args.size, "machine": machine()}
    beats = []
    try:
        reset_broker_and_provider(url)
        _install()
        env = worker_env()
        with workers(env, count=1, concurrency=2):
            beats = [start_beat(env, name=f"beat{i}") for i in range(2)]
            timeout = max(90.0, reminders / 10)
            drill.wait_all_sent(s.message_ids, url, timeout=timeout)
            wait_until(lambda: Visit.objects.filter(id__in=s.overdue_ids, status="missed").count() == overdue, 60, 0.2)
            time.sleep(3)  # let both beats fire a few more times on nothing
            figures["beat_sends"] = [b.log().count("Scheduler: Sending due task") for b in beats]
            for b in beats:
                b.stop()
            time.sleep(2)  # the tasks already queued run out
        figures["sends"] = drill.verify_sends(s.message_ids, url)
        figures["sweep"] = drill.verify_sweep(s)
        figures["ok"] = drill.ok(figures["sends"], figures["sweep"]) and all(n >= 2 for n in figures["beat_sends"])
    finally:
        for b in beats:
            b.stop()
        _uninstall()
        drill.cleanup(s)
        reset_broker_and_provider(url)
    return figures


if __name__ == "__main__":
    run_script(main)
