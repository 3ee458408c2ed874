"""manage.py import_holidays --clinic ID --year 2027 [--all-services]: public holidays as closures."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from notifications import replanning
from scheduler import services
from scheduler.errors import RuleViolation
from scheduler.models import Clinic


class Command(BaseCommand):
    help = (
        "Pre-fill a clinic's public holidays (its country/subdivision) as closures. Idempotent. "
        "By default only oral dosing (methadone, buprenorphine) closes; --all-services closes the whole clinic."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--clinic", type=int, required=True, help="Clinic id")
        parser.add_argument("--year", type=int, required=True)
        parser.add_argument("--all-services", action="store_true", help="Close the whole clinic on holidays")

    def handle(self, *args: Any, clinic: int, year: int, all_services: bool, **options: Any) -> None:
        try:
            target = Clinic.objects.select_related("rule_set").get(pk=clinic)
        except Clinic.DoesNotExist as exc:
            raise CommandError(f"No clinic with id {clinic}.") from exc
        if not 1900 <= year <= 2200:
            raise CommandError("--year must be a calendar year such as 2027.")
        try:
            result = replanning.holidays_import(
                clinic=target, year=year, services=None if all_services else services.ORAL_SERVICES
            )
        except RuleViolation as exc:
            raise CommandError(exc.message) from exc
        for closure in result.created:
            self.stdout.write(f"{closure.date} {closure.reason}")
        for refusal in result.refused:
            self.stderr.write(self.style.WARNING(f"skipped: {refusal}"))
        self.stdout.write(
            self.style.SUCCESS(
                f"{len(result.created)} closures added, {len(result.existing)} already there, "
                f"{len(result.refused)} refused."
            )
        )
