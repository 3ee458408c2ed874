"""`manage.py draw_callbacks`: the hourly random call-back draw by hand (issue #15; the Celery task's function)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from notifications.replanning import callbacks_draw


class Command(BaseCommand):
    help = "Draw random call-backs of take-home holders at clinics in their drawing hours (unguessable draw)."

    def handle(self, *args: Any, **options: Any) -> None:
        made = callbacks_draw()
        self.stdout.write(self.style.SUCCESS(f"draw_callbacks: {len(made)} call-back(s) booked"))
