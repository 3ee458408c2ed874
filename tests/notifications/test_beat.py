"""Periodic jobs declared in code and installed idempotently; a paused job stays paused."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask

from notifications.beat import SCHEDULE, install_periodic_tasks

pytestmark = pytest.mark.django_db


def test_it_installs_the_four_jobs():
    call_command("setup_periodic_tasks")
    rows = {t.name: t for t in PeriodicTask.objects.all()}
    assert {n: (t.task, t.interval.every, t.interval.period) for n, t in rows.items()} == {
        "generate_visits": ("visits.tasks.generate_visits", 3600, "seconds"),
        "mark_missed_visits": ("visits.tasks.mark_missed_visits", 300, "seconds"),
        "draw_callbacks": ("visits.tasks.draw_callbacks", 3600, "seconds"),
        "dispatch_reminders": ("notifications.tasks.dispatch_reminders", 60, "seconds"),
    }
    assert all(t.enabled for t in rows.values())


def test_running_it_twice_changes_nothing_and_keeps_a_paused_job_paused():
    install_periodic_tasks()
    PeriodicTask.objects.filter(name="dispatch_reminders").update(enabled=False)
    PeriodicTask.objects.filter(name="generate_visits").update(task="old.name")
    outcomes = dict(install_periodic_tasks())
    assert outcomes == {
        "generate_visits": "updated",
        "mark_missed_visits": "unchanged",
        "draw_callbacks": "unchanged",
        "dispatch_reminders": "unchanged",
    }
    assert PeriodicTask.objects.count() == len(SCHEDULE)
    assert not PeriodicTask.objects.get(name="dispatch_reminders").enabled
    assert PeriodicTask.objects.get(name="generate_visits").task == "visits.tasks.generate_visits"


def test_the_notification_tasks_are_registered_under_their_names():
    from config.celery import app

    app.loader.import_default_modules()
    assert {
        "notifications.tasks.dispatch_reminders",
        "notifications.tasks.send_messages",
        "notifications.tasks.send_message",
    } <= set(app.tasks)
