"""`manage.py mark_missed_visits`: the missed-visit sweep by hand; `--now` replays it at a past instant."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from jobs.tasks import run_mark_missed


def parse_instant(value: str) -> datetime:
    try:
        instant = datetime.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"--now: {value!r} is not an ISO 8601 instant (e.g. 2026-11-04T11:30:00-05:00)") from exc
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise CommandError(f"--now: {value!r} has no UTC offset; give one (e.g. -05:00 or Z)")
    return instant


class Command(BaseCommand):
    help = "Mark overdue visits missed and raise escalations (safe to run twice)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--now", type=str, default=None, help="Sweep as if it were this instant (ISO 8601, offset)."
        )
        parser.add_argument(
            "--no-notify", action="store_true", help="Do not hand check-in texts to notifications (useful with --now)."
        )
        parser.add_argument(
            "--all-plans",
            action="store_true",
            help="Evaluate every plan in a missed streak now (the sweep does so once per clinic-local day).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        now = parse_instant(options["now"]) if options["now"] else None
        result, checkins = run_mark_missed(
            now=now, notify=not options["no_notify"], all_plans=options["all_plans"]
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"mark_missed_visits at {result.now.isoformat()}: {result.missed} missed, "
                f"{result.plans_evaluated} plans evaluated, {result.escalations_created} escalations, "
                f"{checkins} check-in texts"
            )
        )
        if result.failed_plan_ids:
            self.stderr.write(f"{len(result.failed_plan_ids)} plans failed: {sorted(result.failed_plan_ids)}")
