from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from notifications.dispatch import reminders_dispatch_due


class Command(BaseCommand):
    help = "Claim due text messages and enqueue them for sending (what beat runs every minute)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--limit", type=int, default=500)

    def handle(self, *args: Any, **options: Any) -> None:
        claimed = reminders_dispatch_due(limit=options["limit"])
        self.stdout.write(f"claimed {claimed} message(s)")
