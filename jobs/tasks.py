"""Celery tasks for the ledger: thin shells that call services (STYLE.md), safe to run twice.

Beat runs `visits.tasks.generate_visits` (rolling horizon), `visits.tasks.mark_missed_visits`
(the missed-visit sweep) and `visits.tasks.draw_callbacks` (issue #15: the hourly random call-back
draw); the management commands of the same names call the same functions.
Tasks are allowed to call any app's services, so they are where the ledger hands over to
notifications (reminders for new visits, a check-in text after a first missed day). That is why they
live in the `jobs` shell above the domain apps (issue #12; formerly visits/tasks.py): the task names
stay `visits.tasks.*`, the strings beat and queued messages know.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from celery import shared_task
from django.conf import settings

from notifications.checkins import missed_checkin_create
from notifications.reminders import reminders_plan_missing
from notifications.replanning import callbacks_draw, callbacks_missed_escalate, plan_changed
from scheduler.models import Patient, Plan
from visits.generation import GenerationResult, visits_generate
from visits.missed import Decision, SweepResult, visits_mark_missed
from visits.models import Visit

logger = logging.getLogger(__name__)


def run_generate_visits(
    *,
    horizon_days: int | None = None,
    clinic_ids: Iterable[int] | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[GenerationResult, int]:
    """Generate the horizon, then make sure every scheduled visit in it has its reminders planned."""
    horizon = horizon_days or settings.GENERATION_HORIZON_DAYS
    result = visits_generate(horizon_days=horizon, clinic_ids=clinic_ids, progress=progress)
    return result, reminders_plan_missing(horizon_days=horizon)


def send_checkins(decisions: Iterable[Decision]) -> int:
    """Hand each new check-in decision to notifications; one failure never stops the others."""
    decisions = [d for d in decisions if d.kind == "checkin_text"]
    if not decisions:
        return 0
    patients = Patient.objects.select_related("clinic").in_bulk([d.patient_id for d in decisions])
    visits = Visit.objects.in_bulk([d.visit_id for d in decisions if d.visit_id is not None])
    sent = 0
    for decision in decisions:
        try:
            missed_checkin_create(
                patient=patients[decision.patient_id],
                visit=visits.get(decision.visit_id) if decision.visit_id else None,
                today=decision.today,
            )
            sent += 1
        except Exception:  # noqa: BLE001 — one bad row never stops a sweep (STYLE.md)
            logger.warning("mark_missed_visits: check-in for plan %s failed", decision.plan_id, exc_info=True)
    return sent


def run_mark_missed(
    *, now: datetime | None = None, notify: bool = True, all_plans: bool = False
) -> tuple[SweepResult, int]:
    result = visits_mark_missed(now=now, all_plans=all_plans)
    regenerate_suspended(result.suspended_plan_ids)
    try:
        # Issue #15: a call-back the sweep just marked missed escalates and suspends earned take-homes.
        callbacks_missed_escalate()
    except Exception:  # noqa: BLE001 — the sweep's own work is done; the next sweep retries this
        logger.warning("mark_missed_visits: escalating missed call-backs failed", exc_info=True)
    checkins = send_checkins(result.decisions) if notify else 0
    return result, checkins


def regenerate_suspended(plan_ids: Iterable[int]) -> int:
    """A new hold suspended these plans' earned take-homes (API.md v1.1): their take-home days are visit days
    now, so their visits and reminders follow at once. Nobody waits on this change, so a visit without room
    is left out and reported to staff instead of refusing (replanning.plan_changed(refuse=False))."""
    done = 0
    for plan in Plan.objects.filter(id__in=list(plan_ids)).select_related("patient__clinic__rule_set"):
        if sorted(plan.attendance_weekdays or range(7)) == list(range(7)) and plan.attendance_every_weeks <= 1:
            continue  # attends every day: no take-home days to turn into visits, the calendar is unchanged
        try:
            plan_changed(plan=plan, refuse=False)
            done += 1
        except Exception:  # noqa: BLE001 — one bad plan never stops a sweep (STYLE.md)
            logger.warning("mark_missed_visits: regenerating plan %s failed", plan.pk, exc_info=True)
    return done


@shared_task(name="visits.tasks.generate_visits")
def generate_visits(horizon_days: int | None = None, clinic_ids: list[int] | None = None) -> dict[str, Any]:
    result, planned = run_generate_visits(horizon_days=horizon_days, clinic_ids=clinic_ids)
    return {
        "plans": result.plans,
        "created": result.created,
        "updated": result.updated,
        "deleted": result.deleted,
        "reminders": planned,
    }


@shared_task(name="visits.tasks.mark_missed_visits")
def mark_missed_visits() -> dict[str, Any]:
    result, checkins = run_mark_missed()
    return {**result.summary(), "checkins_sent": checkins}


@shared_task(name="visits.tasks.draw_callbacks")
def draw_callbacks() -> dict[str, Any]:
    """Issue #15: the hourly random call-back draw (SystemRandom; each clinic draws in its texting hours)."""
    return {"callbacks": len(callbacks_draw())}
