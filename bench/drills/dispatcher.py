"""One dispatcher process for the drills: from a common start instant, run the dispatch sweep and the
missed sweep until neither finds work, then print what this process claimed (JSON).

    python bench/drills/dispatcher.py --start-at <unix time> [--limit 20] [--sweep]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))

from bench._common import setup_django


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--start-at", type=float, default=0.0)
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--sweep", action="store_true", help="Also run the missed-visit sweep each round.")
    p.add_argument("--once", action="store_true", help="One dispatch sweep only.")
    p.add_argument(
        "--now-offset",
        type=float,
        default=0.0,
        help="Seconds added to now: a later dispatch reclaims rows whose worker or broker died.",
    )
    args = p.parse_args()
    setup_django()
    from datetime import timedelta

    from django.utils import timezone

    from notifications.dispatch import reminders_dispatch_due
    from visits.missed import visits_mark_missed

    time.sleep(max(0.0, args.start_at - time.time()))
    claimed, missed, escalations, rounds, idle = 0, 0, 0, 0, 0
    while idle < 2:
        rounds += 1
        n = reminders_dispatch_due(limit=args.limit, now=timezone.now() + timedelta(seconds=args.now_offset))
        m = e = 0
        if args.sweep:
            result = visits_mark_missed()
            m, e = result.missed, result.escalations_created
        claimed, missed, escalations = claimed + n, missed + m, escalations + e
        idle = 2 if args.once else (idle + 1 if n == 0 and m == 0 else 0)
    print(json.dumps({"claimed": claimed, "missed": missed, "escalations_reported": escalations, "rounds": rounds}))


if __name__ == "__main__":
    main()
