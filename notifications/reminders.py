"""Planning reminders into the outbox: one row per visit and reminder slot from the clinic's policy, kept in
step when visits move (reminders_sync) and filled in for visits that have none (reminders_plan_missing)."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from notifications import planning
from notifications.models import Message, ReminderPolicy
from notifications.outbox import CHUNK, TemplateMissing, render_message, unreachable_reason
from notifications.privacy import ForbiddenContent
from notifications.rendering import MessageTooLong
from notifications.selectors import PolicyBook, TemplateBook, capped_instants
from scheduler.models import Clinic, Patient
from scheduler.rules import Rules
from scheduler.selectors import rules_for_clinic
from visits.models import Visit

logger = logging.getLogger(__name__)


@dataclass
class _Batch:
    """What one chunk's planning reads, each part read on first need (issue #16): a visit without a medication (a
    counselling booking) needs no policies, and one that plans no text needs no templates and no cap ledger, so a
    booking's sync reads the visit and its messages only. Each part is read whole for the chunk, as before."""

    now: datetime
    clinic_ids: set[int]
    patient_ids: set[int]
    rules: dict[int, Rules] = field(default_factory=dict)
    ledgers: dict[int, planning.CapLedger] = field(default_factory=dict)
    creates: list[Message] = field(default_factory=list)
    skips: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    updates: list[tuple[Message, dict[str, Any]]] = field(default_factory=list)
    _policies: PolicyBook | None = None
    _templates: TemplateBook | None = None
    _instants: dict[int, list[tuple[int, datetime]]] | None = None

    @property
    def policies(self) -> PolicyBook:
        if self._policies is None:
            self._policies = PolicyBook.load(self.clinic_ids)
        return self._policies

    @property
    def templates(self) -> TemplateBook:
        if self._templates is None:
            self._templates = TemplateBook.load(self.clinic_ids, ["reminder"])
        return self._templates

    @property
    def instants(self) -> dict[int, list[tuple[int, datetime]]]:
        if self._instants is None:
            self._instants = capped_instants(self.patient_ids, since=self.now - timedelta(days=8))
        return self._instants

    def rules_for(self, clinic: Clinic) -> Rules:
        if clinic.pk not in self.rules:
            self.rules[clinic.pk] = rules_for_clinic(clinic)
        return self.rules[clinic.pk]

    def ledger(self, patient: Patient) -> planning.CapLedger:
        if patient.pk not in self.ledgers:
            rules = self.rules_for(patient.clinic)
            self.ledgers[patient.pk] = planning.ledger_for(
                (at for _, at in self.instants.get(patient.pk, [])),
                max_per_day=rules.reminders_max_per_day,
                max_per_week=rules.reminders_max_per_week,
                tz=patient.effective_timezone,
            )
        return self.ledgers[patient.pk]

    def skip(self, reason: str, messages: Iterable[Message]) -> None:
        self.skips[reason[:300]].extend(m.pk for m in messages)


def reminders_sync(*, visit_ids: Iterable[int]) -> int:
    """Make each visit's pending reminders match its policy, date and status. Idempotent.

    Returns how many message rows were created, re-planned or skipped.
    """
    ids = sorted(set(visit_ids))
    changed = 0
    now = timezone.now()
    for i in range(0, len(ids), CHUNK):
        # Each chunk its own transaction when called alone; inside a caller's transaction (a booking, a move, a
        # regeneration) no savepoint of its own (two statements, issue #16): an error is never caught here, and the
        # caller's atomic block rolls back whole, the chunk's reads and writes with it.
        with transaction.atomic(savepoint=False):
            changed += _sync_chunk(ids[i : i + CHUNK], now)
    return changed


def _sync_chunk(ids: list[int], now: datetime) -> int:
    visits = list(
        Visit.objects.filter(id__in=ids).select_related("patient__clinic__rule_set", "clinic__rule_set", "plan")
    )
    if not visits:
        return 0
    existing: dict[int, dict[str, Message]] = defaultdict(dict)
    for message in Message.objects.filter(visit_id__in=ids, purpose="reminder"):
        existing[message.visit_id][message.slot] = message  # type: ignore[index]
    clinic_ids = {v.clinic_id for v in visits} | {v.patient.clinic_id for v in visits}
    batch = _Batch(now=now, clinic_ids=clinic_ids, patient_ids={v.patient_id for v in visits})
    for visit in visits:
        _plan_visit(visit, existing.get(visit.pk, {}), batch)
    return _apply(batch)


def _plan_visit(visit: Visit, existing: dict[str, Message], b: _Batch) -> None:
    pending = {slot: m for slot, m in existing.items() if m.status == "pending"}
    if visit.status != "scheduled":
        b.skip(f"visit {visit.status}", pending.values())
        return
    if unreachable_reason(visit.patient):
        return  # pending rows are checked again on the send path; nothing new is planned
    medication = visit.plan.medication if visit.plan is not None else None
    # resolve() answers None for no medication without reading the policies.
    policy = b.policies.resolve(visit.patient.clinic_id, medication) if medication else None
    slots = {f"{n}d": int(n) for n in (policy.days_before if policy is not None else [])}
    b.skip("reminder no longer in the clinic's policy", [m for s, m in pending.items() if s not in slots])
    for slot, days in slots.items():
        _plan_slot(visit, slot, days, policy, existing.get(slot), b)  # type: ignore[arg-type]


def _revivable(message: Message) -> bool:
    """A row the planner skipped (never claimed for sending) may be planned again."""
    return message.status == "skipped" and message.claimed_at is None and message.attempts == 0


def _plan_slot(visit: Visit, slot: str, days: int, policy: Any, m: Message | None, b: _Batch) -> None:
    if m is not None and m.status != "pending" and not _revivable(m):
        return  # already on its way, sent or failed: history stays
    when, body, reason = _slot_plan(visit, days, policy, b)
    live = m if m is not None and m.status == "pending" else None
    # A pending row whose time did not change stays due even if that time just passed (dispatch lag).
    unchanged_time = live is not None and when == live.scheduled_for
    if reason is None and when is not None and not unchanged_time:
        reason = _slot_timing_refusal(when, live, visit.patient, b)
    if reason is not None or when is None or body is None:
        if live is not None:
            b.skip(reason or "not planned", [live])
        return
    if m is None:
        b.creates.append(
            Message(
                patient=visit.patient,
                visit=visit,
                purpose="reminder",
                slot=slot,
                body=body,
                to_number=visit.patient.phone,
                scheduled_for=when,
            )
        )
    elif not unchanged_time or m.body != body or m.status != "pending":
        b.updates.append((m, {"status": "pending", "scheduled_for": when, "body": body, "status_reason": ""}))


def _slot_plan(visit: Visit, days: int, policy: Any, b: _Batch) -> tuple[datetime | None, str | None, str | None]:
    """(send instant, body, reason it cannot be planned)."""
    patient = visit.patient
    rules = b.rules_for(patient.clinic)
    visit_start = visit.start or planning.wall_instant(visit.date, time(0), visit.clinic.timezone)
    when = planning.reminder_instant(
        visit_date=visit.date,
        days_before=days,
        send_at=policy.send_at,
        tz=patient.effective_timezone,
        start=rules.quiet_hours_start,
        end=rules.quiet_hours_end,
        visit_start=visit_start,
    )
    try:
        body = render_message(
            patient=patient,
            clinic=patient.clinic,
            purpose="reminder",
            templates=b.templates,
            max_chars=rules.sms_max_chars,
            extra_words=rules.privacy_extra,
            visit=visit,
        )
    except (ForbiddenContent, MessageTooLong, TemplateMissing, ValueError) as exc:
        return when, None, f"cannot render: {exc}"
    if when is None:
        return None, body, "no allowed sending time before the visit"
    return when, body, None


def _slot_timing_refusal(when: datetime, live: Message | None, patient: Patient, b: _Batch) -> str | None:
    if when < b.now:
        return "sending time already passed"
    ledger = b.ledger(patient)
    if live is not None:
        ledger.discard(live.scheduled_for)
    reason = ledger.refusal(when)
    if reason is None:
        ledger.add(when)
    return reason  # a refused live row is skipped by the caller, so its old instant stays out of the ledger


def _apply(b: _Batch) -> int:
    changed = len(Message.objects.bulk_create(b.creates, ignore_conflicts=True)) if b.creates else 0
    for reason, ids in b.skips.items():
        if ids:
            changed += Message.objects.filter(id__in=ids, status="pending").update(
                status="skipped", status_reason=reason, updated=b.now
            )
    for message, fields in b.updates:
        # Compare-and-swap on the status we read: a row the dispatcher claimed meanwhile is left alone.
        cas = Q(status="pending") if message.status == "pending" else Q(status="skipped", claimed_at__isnull=True)
        changed += Message.objects.filter(cas, id=message.pk).update(**fields, updated=b.now)
    return changed


def _reminder_medications() -> list[str]:
    return sorted(
        set(ReminderPolicy.objects.filter(enabled=True).exclude(days_before=[]).values_list("medication", flat=True))
    )


def reminders_plan_missing(*, today: date | None = None, horizon_days: int = 28) -> int:
    """Safety net for the generate job: sync every reachable scheduled visit in the horizon whose
    medication has reminders. Cheap because only reminder medications (injections by default) qualify."""
    today = today or timezone.now().date()
    visit_ids = list(
        Visit.objects.filter(
            status="scheduled",
            date__gte=today - timedelta(days=1),
            date__lte=today + timedelta(days=horizon_days),
            plan__medication__in=_reminder_medications(),
            patient__sms_consent=True,
            patient__sms_opted_out=False,
            patient__phone_invalid=False,
        )
        .exclude(patient__phone="")
        .values_list("id", flat=True)
    )
    return reminders_sync(visit_ids=visit_ids)


# --- call-back request (issue #15) ------------------------------------------------------


def callback_text_create(*, visit: Visit, now: datetime | None = None) -> Message | None:
    """The neutral text of a call-back ("please contact {clinic} today"): no word of treatment, bottles or why,
    checked by the privacy filter like every text. Not counted against the reminder caps (it is a request, once per
    call-back), but sent only inside the clinic's quiet hours and only to a patient who may be texted."""
    patient = visit.patient
    if unreachable_reason(patient):
        return None
    rules = rules_for_clinic(patient.clinic)
    now = now or timezone.now()
    when = planning.next_allowed(
        now, tz=patient.effective_timezone, start=rules.quiet_hours_start, end=rules.quiet_hours_end
    )
    try:
        body = render_message(
            patient=patient,
            clinic=patient.clinic,
            purpose="callback",
            templates=TemplateBook.load([patient.clinic_id], ["callback"]),
            max_chars=rules.sms_max_chars,
            extra_words=rules.privacy_extra,
        )
    except (ForbiddenContent, MessageTooLong, TemplateMissing, ValueError) as exc:
        logger.warning("call-back text for patient %s not planned: %s", patient.pk, exc)
        return None
    message, created = Message.objects.get_or_create(
        patient=patient,
        visit=visit,
        purpose="callback",
        slot=visit.date.isoformat(),
        defaults={"body": body, "to_number": patient.phone, "scheduled_for": when},
    )
    return message if created else None
