"""`manage.py generate_visits`: the rolling-horizon generation job, by hand (same code as the Celery task)."""

from __future__ import annotations

import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from jobs.tasks import run_generate_visits
from scheduler.selectors import active_plans


class Command(BaseCommand):
    help = "Generate (or regenerate) visits for active plans over the rolling horizon. Safe to run twice."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--horizon-days",
            type=int,
            default=None,
            help=f"Days ahead to generate (default {settings.GENERATION_HORIZON_DAYS}).",
        )
        parser.add_argument(
            "--clinic",
            type=int,
            action="append",
            dest="clinics",
            default=None,
            help="Only this clinic id (repeat for several).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        horizon = options["horizon_days"]
        if horizon is not None and horizon < 1:
            raise CommandError("--horizon-days must be at least 1")
        clinics = options["clinics"]
        bar = None
        if self._interactive():
            from tqdm import tqdm

            bar = tqdm(total=active_plans(clinic_ids=clinics).count(), unit="plan", file=self.stdout._out)
        try:
            result, planned = run_generate_visits(
                horizon_days=horizon, clinic_ids=clinics, progress=bar.update if bar is not None else None
            )
        finally:
            if bar is not None:
                bar.close()
        self.stdout.write(
            self.style.SUCCESS(
                f"generate_visits: {result.plans} plans, {result.created} created, "
                f"{result.updated} updated, {result.deleted} deleted"
            )
        )
        if planned is not None:
            self.stdout.write(f"reminders planned: {planned}")

    def _interactive(self) -> bool:
        out = getattr(self.stdout, "_out", sys.stdout)
        return bool(getattr(out, "isatty", lambda: False)())
