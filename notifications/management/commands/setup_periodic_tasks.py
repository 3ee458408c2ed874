from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from notifications.beat import install_periodic_tasks


class Command(BaseCommand):
    help = "Install or update the periodic jobs (generate, missed, dispatch) as django-celery-beat tasks."

    def handle(self, *args: Any, **options: Any) -> None:
        for name, outcome in install_periodic_tasks():
            self.stdout.write(f"{name}: {outcome}")
