"""Shared set-up and checks for the fault drills.

A scenario is one bench clinic with `reminders` due reminders (one per patient, so the FCC caps never
refuse one) and `overdue` overdue visits laid out like bench/missed_sweep.py (single missed days and
four-day streaks). After a drill, `verify` checks at the fake provider and in PostgreSQL that:
  - every due reminder was accepted by the provider exactly once, and is `sent` (or later) in the outbox;
  - every overdue visit is `missed`, none is lost, and no sweep marked one twice (the per-clinic audit
    entries of all sweeps add up to exactly the overdue count);
  - each escalation exists once (the expected number, no duplicate (plan, kind, anchor_date)).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

CLINIC = "Bench drill"


@dataclass
class Scenario:
    clinic: Any
    message_ids: list[int]
    sweep_clinic: Any = None
    overdue_ids: list[int] = field(default_factory=list)
    expected_escalations: int = 0
    visits_before: int = 0


def scenario(reminders: int, overdue: int = 0, name: str = CLINIC) -> Scenario:
    from django.utils import timezone

    from bench._common import bench_clinic
    from bench.dispatch import make_due_reminders
    from bench.missed_sweep import STREAK, _layout, _setup
    from scheduler.timeutil import local_date
    from visits.models import Visit

    # Two clinics: generation for the sweep's history must not touch the reminder patients' plans.
    clinic = bench_clinic(name, max(reminders, 10))
    ids = make_due_reminders(clinic, reminders, mrn_prefix="DRL") if reminders else []
    overdue_ids: list[int] = []
    expected = 0
    sweep_clinic = None
    if overdue:
        sweep_clinic = bench_clinic(f"{name} (sweep)", overdue)
        overdue_ids, _ = _setup(sweep_clinic, overdue, local_date(timezone.now(), sweep_clinic.timezone))
        expected = 3 * _layout(overdue)[1]  # outreach, hold, clinician review per four-day streak
        assert STREAK == 4
    before = Visit.objects.filter(clinic=sweep_clinic).count() if sweep_clinic else 0
    return Scenario(clinic, ids, sweep_clinic, overdue_ids, expected, before)


def disable_other_periodic_tasks() -> None:
    """Beat in a drill runs only the drill's schedule (the test/bench database is ours)."""
    from django_celery_beat.models import PeriodicTask

    PeriodicTask.objects.update(enabled=False)


def verify_sends(ids: list[int], provider_url: str) -> dict[str, Any]:
    from django.db.models import Count

    from bench._worker import provider_counts
    from notifications.models import Message

    counts = provider_counts(provider_url)
    ours = set(ids)
    statuses = dict(Message.objects.filter(id__in=ids).values_list("status").annotate(n=Count("id")))
    done = sum(n for s, n in statuses.items() if s in ("sent", "delivered"))
    return {
        "due": len(ids),
        "provider_accepted": sum(counts.get(i, 0) for i in ids),
        "sent_twice": sorted(i for i in ids if counts.get(i, 0) > 1),
        "never_sent": sorted(i for i in ids if counts.get(i, 0) == 0),
        "not_ours": len(set(counts) - ours),
        "statuses": statuses,
        "outbox_done": done,
    }


def verify_sweep(s: Scenario) -> dict[str, Any]:
    from auditlog.models import LogEntry
    from django.db.models import Count

    from visits.models import Escalation, Visit

    if not s.overdue_ids:
        return {}
    entries = LogEntry.objects.filter(object_pk=str(s.sweep_clinic.pk), additional_data__job="mark_missed_visits")
    marked = sum(int(e.additional_data.get("missed", 0)) for e in entries)
    escalations = Escalation.objects.filter(clinic=s.sweep_clinic)
    duplicates = escalations.values("plan_id", "kind", "anchor_date").annotate(n=Count("id")).filter(n__gt=1).count()
    return {
        "overdue": len(s.overdue_ids),
        "missed": Visit.objects.filter(id__in=s.overdue_ids, status="missed").count(),
        "visits_before": s.visits_before,
        "visits_after": Visit.objects.filter(clinic=s.sweep_clinic).count(),
        "marked_by_all_sweeps": marked,
        "sweeps": entries.count(),
        "escalations": escalations.count(),
        "expected_escalations": s.expected_escalations,
        "duplicate_escalations": duplicates,
    }


def ok(sends: dict[str, Any], sweep: dict[str, Any]) -> bool:
    sends_ok = (
        not sends["sent_twice"]
        and not sends["never_sent"]
        and sends["provider_accepted"] == sends["due"]
        and sends["outbox_done"] == sends["due"]
    )
    if not sweep:
        return sends_ok
    sweep_ok = (
        sweep["missed"] == sweep["overdue"] == sweep["marked_by_all_sweeps"]
        and sweep["visits_before"] == sweep["visits_after"]
        and sweep["escalations"] == sweep["expected_escalations"]
        and sweep["duplicate_escalations"] == 0
    )
    return sends_ok and sweep_ok


def wait_all_sent(ids: list[int], provider_url: str, timeout: float) -> bool:
    from bench._worker import FAKE_SENT_LIST, redis_client, wait_until
    from notifications.models import Message

    r = redis_client(provider_url)
    return wait_until(
        lambda: (
            r.llen(FAKE_SENT_LIST) >= len(ids)
            and Message.objects.filter(id__in=ids, status__in=("sent", "delivered")).count() == len(ids)
        ),
        timeout,
        0.2,
    )


def cleanup(s: Scenario) -> None:
    from bench._common import purge

    purge(s.clinic)
    if s.sweep_clinic is not None:
        purge(s.sweep_clinic)
