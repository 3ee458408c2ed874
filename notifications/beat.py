"""The periodic jobs, declared in code and installed as django-celery-beat rows by
`manage.py setup_periodic_tasks` (idempotent; a job paused in the admin stays paused)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django_celery_beat.models import IntervalSchedule, PeriodicTask


@dataclass(frozen=True)
class Job:
    name: str
    task: str
    every_seconds: int
    description: str


SCHEDULE: tuple[Job, ...] = (
    Job("generate_visits", "visits.tasks.generate_visits", 3600, "Materialise visits over the rolling horizon."),
    Job("mark_missed_visits", "visits.tasks.mark_missed_visits", 300, "Mark missed visits and escalate."),
    Job("draw_callbacks", "visits.tasks.draw_callbacks", 3600, "Draw random call-backs of take-home holders."),
    Job("dispatch_reminders", "notifications.tasks.dispatch_reminders", 60, "Send due text messages."),
)


def install_periodic_tasks(schedule: tuple[Job, ...] = SCHEDULE) -> list[tuple[str, str]]:
    """Create or update one PeriodicTask per job; returns (name, "created"|"updated"|"unchanged")."""
    results: list[tuple[str, str]] = []
    with transaction.atomic():
        for job in schedule:
            interval, _ = IntervalSchedule.objects.get_or_create(
                every=job.every_seconds, period=IntervalSchedule.SECONDS
            )
            # A run that waited longer than one period is stale: the next one does the same work.
            wanted = {
                "task": job.task,
                "interval": interval,
                "expire_seconds": job.every_seconds,
                "description": job.description,
            }
            task, created = PeriodicTask.objects.get_or_create(name=job.name, defaults={**wanted, "enabled": True})
            if created:
                results.append((job.name, "created"))
                continue
            changed = [k for k, v in wanted.items() if getattr(task, k) != v]
            if changed:
                for key in changed:
                    setattr(task, key, wanted[key])
                # `enabled` is never touched on update: staff may have paused the job in the admin.
                task.save(update_fields=[*changed, "date_changed"])  # save() tells beat about the change
            results.append((job.name, "updated" if changed else "unchanged"))
    return results
