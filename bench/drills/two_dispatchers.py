"""Drill: two workers and two dispatcher processes at once (the "Scaling out" set-up).

    DATABASE_URL=… REDIS_URL=redis://127.0.0.1:6379/9 .venv/bin/python bench/drills/two_dispatchers.py [--size full]

Two `celery -A config worker` processes share one Redis queue; two separate dispatcher processes start
at the same instant and each loop the dispatch sweep (limit 20, so their claims interleave) and the
missed-visit sweep until nothing is left. Checks: each reminder claimed by exactly one dispatcher and
accepted once by the fake provider; each overdue visit marked missed by exactly one sweep; no escalation
twice.
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

SIZES = {"tiny": (30, 40), "full": (2000, 4000)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    import argparse

    from django.conf import settings

    from bench._worker import reset_broker_and_provider, worker_env, workers

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", choices=sorted(SIZES), default="tiny")
    args = p.parse_args(argv or [])
    reminders, overdue = SIZES[args.size]
    url = settings.REDIS_URL
    s = drill.scenario(reminders, overdue)
    figures: dict[str, Any] = {"drill": "two_dispatchers", "size": args.size, "machine": machine()}
    try:
        reset_broker_and_provider(url)
        env = worker_env()
        with workers(env, count=2, concurrency=1):
            start = time.time() + 2.0
            cmd = [
                str(ROOT / ".venv/bin/python"),
                str(ROOT / "bench/drills/dispatcher.py"),
                "--start-at",
                str(start),
                "--limit",
                "20",
                "--sweep",
            ]
            procs = [
                subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)  # noqa: S603
                for _ in range(2)
            ]
            outs = [json.loads(proc.communicate(timeout=300)[0].decode().strip().splitlines()[-1]) for proc in procs]
            drill.wait_all_sent(s.message_ids, url, timeout=max(60, reminders / 10))
        figures["dispatchers"] = outs
        figures["claimed_total"] = sum(o["claimed"] for o in outs)
        figures["missed_total"] = sum(o["missed"] for o in outs)
        figures["sends"] = drill.verify_sends(s.message_ids, url)
        figures["sweep"] = drill.verify_sweep(s)
        figures["ok"] = (
            drill.ok(figures["sends"], figures["sweep"])
            and figures["claimed_total"] == reminders
            and figures["missed_total"] == overdue
        )
    finally:
        drill.cleanup(s)
        reset_broker_and_provider(url)
    return figures


if __name__ == "__main__":
    run_script(main)
