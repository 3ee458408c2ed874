"""The check-in text after a missed day (DOMAIN.md §4, the ladder's first step): created by the missed-visit
sweep, and planned for missed days the sweep has already passed (missed_checkins_sync)."""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from notifications import planning
from notifications.models import Message, ReminderPolicy
from notifications.outbox import TemplateMissing, render_message, unreachable_reason
from notifications.privacy import ForbiddenContent
from notifications.rendering import MessageTooLong
from notifications.selectors import PolicyBook, TemplateBook, capped_instants
from scheduler.models import Patient
from scheduler.selectors import rules_for_clinic
from scheduler.timeutil import zone
from visits.models import Visit

logger = logging.getLogger(__name__)


def missed_checkin_create(*, patient: Patient, visit: Visit | None, today: date) -> Message | None:
    """One neutral check-in text after a missed day (DOMAIN §4 ladder step 1), if the policy wants it."""
    if unreachable_reason(patient):
        return None
    medications = (
        [visit.plan.medication]
        if visit is not None and visit.plan is not None
        else list(patient.plans.filter(status="active").values_list("medication", flat=True))
    )
    policies = PolicyBook.load([patient.clinic_id])
    if not any((p := policies.resolve(patient.clinic_id, med)) is not None and p.missed_checkin for med in medications):
        return None
    slot = (visit.date if visit is not None else today).isoformat()
    already = Message.objects.filter(patient=patient, purpose="missed_checkin")
    if already.filter(Q(visit=visit) if visit is not None else Q(slot=slot)).exists():
        return None
    rules = rules_for_clinic(patient.clinic)
    now = timezone.now()
    tz = patient.effective_timezone
    when = planning.next_allowed(now, tz=tz, start=rules.quiet_hours_start, end=rules.quiet_hours_end)
    instants = capped_instants([patient.pk], since=when - timedelta(days=8)).get(patient.pk, [])
    ledger = planning.ledger_for(
        (at for _, at in instants),
        max_per_day=rules.reminders_max_per_day,
        max_per_week=rules.reminders_max_per_week,
        tz=tz,
    )
    if ledger.refusal(when) is not None:
        return None
    try:
        body = render_message(
            patient=patient,
            clinic=patient.clinic,
            purpose="missed_checkin",
            templates=TemplateBook.load([patient.clinic_id], ["missed_checkin"]),
            max_chars=rules.sms_max_chars,
            extra_words=rules.privacy_extra,
        )
    except (ForbiddenContent, MessageTooLong, TemplateMissing, ValueError) as exc:
        logger.warning("missed check-in for patient %s not planned: %s", patient.pk, exc)
        return None
    with transaction.atomic():
        message, created = Message.objects.get_or_create(
            patient=patient,
            visit=visit,
            purpose="missed_checkin",
            slot=slot,
            defaults={"body": body, "to_number": patient.phone, "scheduled_for": when},
        )
    return message if created else None


def missed_checkins_sync(*, now: datetime | None = None, lookback: timedelta = timedelta(hours=24)) -> int:
    """Check-in texts for visits recently marked missed that have none yet (run by the dispatch job).

    Only the first missed visit of a streak gets one: from the second missed day on, staff outreach
    takes over (DOMAIN §4 ladder). A failure on one visit never stops the others.
    """
    now = now or timezone.now()
    medications = ReminderPolicy.objects.filter(missed_checkin=True, enabled=True).values_list("medication", flat=True)
    visits = (
        Visit.objects.filter(
            status="missed",
            missed_at__gte=now - lookback,
            plan__medication__in=list(set(medications)),
            patient__sms_consent=True,
            patient__sms_opted_out=False,
            patient__phone_invalid=False,
        )
        .exclude(patient__phone="")
        .exclude(messages__purpose="missed_checkin")
        .select_related("patient__clinic__rule_set", "plan")
    )
    created = 0
    for visit in visits:
        try:
            if _previous_visit_missed(visit):
                continue
            today = now.astimezone(zone(visit.patient.clinic.timezone)).date()
            created += missed_checkin_create(patient=visit.patient, visit=visit, today=today) is not None
        except Exception:  # noqa: BLE001 - one bad row never stops the sweep
            logger.exception("missed check-in for visit %s failed", visit.pk)
    return created


def _previous_visit_missed(visit: Visit) -> bool:
    if visit.plan_id is None:
        return False
    previous = (
        Visit.objects.filter(plan_id=visit.plan_id, date__lt=visit.date)
        .exclude(status__in=("cancelled", "excused", "scheduled"))
        .order_by("-date", "-id")
        .values_list("status", flat=True)
        .first()
    )
    return previous == "missed"
