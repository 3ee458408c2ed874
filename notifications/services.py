"""Writes for notifications: planning reminders into the outbox, dispatching due rows, sending one,
and recording what the provider and the patient tell us. Keyword-only; the outermost call is atomic.

Exactly-once, and its one gap: a row is claimed pending→queued (dispatch) and queued→sending (send)
with compare-and-swap, so no two workers send it. The provider's id is written in the same UPDATE
that marks the row sent, right after the provider answers. A row stuck in "sending" with no
provider id (the worker died) is put back to pending by the reclaim sweep and sent again. The
remaining window is the few milliseconds between the provider accepting the text and that UPDATE
committing (or a provider timeout after it accepted): a crash there means the patient gets the
text twice. Twilio has no idempotency key for outgoing messages, so that window cannot be closed
from our side; the reclaim waits longer than any task may run, so a slow send is never doubled.
"""

from __future__ import annotations

import logging
import random
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from time import monotonic
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import F, OuterRef, Q, Subquery
from django.utils import timezone

from notifications import planning
from notifications.models import STATUS_RANK, InboundMessage, Message, ReminderPolicy
from notifications.privacy import ForbiddenContent, find_forbidden
from notifications.rendering import MessageTooLong, format_date, format_time, initials, render
from notifications.selectors import (
    CAPPED_PURPOSES,
    PolicyBook,
    TemplateBook,
    capped_instants,
    sent_capped_instants,
)
from notifications.transports import INVALID_NUMBER_CODES, UNSUBSCRIBED, TransportError, get_transport
from scheduler.audit import log_closed
from scheduler.errors import StateConflict
from scheduler.models import Clinic, Patient
from scheduler.rules import Rules
from scheduler.selectors import rules_for_clinic
from scheduler.timeutil import zone
from visits.models import StaffTask, Visit

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
BACKOFF_BASE_SECONDS = 60
BACKOFF_MAX_SECONDS = 3600
CHUNK = 500
EARLY_STATUS_KEY = "dosewise:sms:early_status:{}"
EARLY_STATUS_TTL = 3600
_BELOW_SENT = [s for s, r in STATUS_RANK.items() if r < STATUS_RANK["sent"]]


class TemplateMissing(ValueError):
    pass


def reclaim_after() -> timedelta:
    """How long a claimed row may sit in queued/sending before it is taken back.

    Always longer than a task may run (CELERY_TASK_TIME_LIMIT), so a slow but live send is never doubled.
    """
    configured = int(getattr(settings, "SMS_RECLAIM_AFTER_SECONDS", 900))
    return timedelta(seconds=max(configured, int(settings.CELERY_TASK_TIME_LIMIT) + 60))


def backoff_delay(attempt: int) -> timedelta:
    """Exponential backoff with jitter: ~1, 2, 4, 8 minutes … capped at an hour."""
    ceiling = min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(attempt - 1, 0))
    return timedelta(seconds=ceiling * random.uniform(0.5, 1.0))


def unreachable_reason(patient: Patient) -> str | None:
    # DOMAIN §5: texts only to patients who opted in, to the number they gave, never after STOP.
    if not patient.sms_consent:
        return "no SMS consent"
    if patient.sms_opted_out:
        return "patient opted out"
    if not patient.phone:
        return "no phone number"
    if patient.phone_invalid:
        return "phone number rejected by the provider"
    return None


# --- rendering -------------------------------------------------------------------------


def render_message(
    *,
    patient: Patient,
    clinic: Clinic,
    purpose: str,
    templates: TemplateBook,
    max_chars: int,
    visit: Visit | None = None,
    extra_words: Iterable[str] = (),
) -> str:
    found = templates.body(clinic.pk, purpose, patient.language or "en")
    if found is None:
        raise TemplateMissing(f"no {purpose} template")
    body, language = found
    values = {
        "first_name": patient.first_name.strip(),
        "initials": initials(patient.first_name.strip(), patient.last_name.strip()),
        "clinic": clinic.sms_name,
        "phone": clinic.phone,
        "date": "",
        "time": "",
    }
    if visit is not None:
        local = visit.start.astimezone(zone(clinic.timezone)) if visit.start else None
        values["date"] = format_date(visit.date, language)
        values["time"] = format_time(local, language)
    return render(body, values, max_chars=max_chars, extra_words=extra_words)


# --- planning reminders ----------------------------------------------------------------


@dataclass
class _Batch:
    now: datetime
    policies: PolicyBook
    templates: TemplateBook
    instants: dict[int, list[tuple[int, datetime]]]
    rules: dict[int, Rules] = field(default_factory=dict)
    ledgers: dict[int, planning.CapLedger] = field(default_factory=dict)
    creates: list[Message] = field(default_factory=list)
    skips: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    updates: list[tuple[Message, dict[str, Any]]] = field(default_factory=list)

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
        with transaction.atomic():
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
    batch = _Batch(
        now=now,
        policies=PolicyBook.load(clinic_ids),
        templates=TemplateBook.load(clinic_ids, ["reminder"]),
        instants=capped_instants({v.patient_id for v in visits}, since=now - timedelta(days=8)),
    )
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
    policy = b.policies.resolve(visit.patient.clinic_id, medication)
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


# --- check-in after a missed day -------------------------------------------------------


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


# --- dispatch --------------------------------------------------------------------------


def messages_reclaim_stuck(*, now: datetime) -> int:
    """Take back rows whose worker died. A "sending" row is retried only if the provider never
    answered (no provider_id); one with a provider_id reached the provider and counts as sent."""
    cutoff = now - reclaim_after()
    stuck = Message.objects.filter(claimed_at__lt=cutoff)
    n = stuck.filter(status="queued").update(status="pending", claimed_at=None, updated=now)
    n += stuck.filter(status="sending").exclude(provider_id="").update(status="sent", updated=now)
    sending = stuck.filter(status="sending", provider_id="")
    n += sending.filter(attempts__gte=MAX_ATTEMPTS).update(
        status="failed", status_reason=f"worker stopped mid-send {MAX_ATTEMPTS} times", updated=now
    )
    n += sending.update(
        status="pending", claimed_at=None, status_reason="reclaimed: worker stopped mid-send", updated=now
    )
    return n


def reminders_dispatch_due(*, now: datetime | None = None, limit: int = 500) -> int:
    """Claim due rows (pending→queued, skip_locked) and enqueue send tasks (one per chunk) after commit.

    Returns how many rows were claimed. If the broker is down, the rows go back to pending.
    """
    now = now or timezone.now()
    messages_reclaim_stuck(now=now)
    with transaction.atomic():
        due = (
            Message.objects.filter(status="pending", scheduled_for__lte=now)
            .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
            .order_by("scheduled_for", "id")
            .select_for_update(skip_locked=True)
            .values_list("id", flat=True)
        )
        ids = list(due[:limit])
        if ids:
            Message.objects.filter(id__in=ids, status="pending").update(status="queued", claimed_at=now, updated=now)
            transaction.on_commit(lambda: messages_enqueue(message_ids=ids))
    return len(ids)


# Below beat's 60 s period (and the task's soft time limit), so one run ends before the next is sent.
DISPATCH_BUDGET_SECONDS = 45.0


def reminders_dispatch_until_done(*, limit: int = 500, budget_seconds: float = DISPATCH_BUDGET_SECONDS) -> int:
    """Claim batches until one comes back short (nothing more is due) or the time budget is spent.

    One batch per beat run capped the outbox at `limit` texts a minute however many workers ran.
    Each batch is its own transaction and enqueues on commit, so a broker failure loses nothing.
    """
    deadline = monotonic() + budget_seconds
    total = 0
    while True:
        claimed = reminders_dispatch_due(limit=limit)
        total += claimed
        if claimed < limit or monotonic() >= deadline:
            return total


def messages_enqueue(*, message_ids: list[int]) -> int:
    """Enqueue one send task per chunk of rows (settings.SMS_SEND_CHUNK). On a broker failure, put the
    rows of that chunk and of every later one back to pending."""
    from notifications.tasks import send_messages

    size = send_chunk()
    for i in range(0, len(message_ids), size):
        try:
            send_messages.apply_async(args=[message_ids[i : i + size]], retry=False)
        except Exception as exc:  # noqa: BLE001 - kombu OperationalError, redis errors, OSError: never lose a row
            back = Message.objects.filter(id__in=message_ids[i:], status="queued").update(
                status="pending", claimed_at=None, updated=timezone.now()
            )
            logger.warning("broker unavailable (%s): %d message(s) back to pending", type(exc).__name__, back)
            return i
    return len(message_ids)


# --- sending ---------------------------------------------------------------------------

# Rows per send task. A task claims its rows in one transaction (the same few queries for 1 row or 25)
# and then hands them to the provider one by one, writing each provider id the moment the provider
# answers, so the double-send window stays one text wide. Small enough that a chunk of slow provider
# calls (Twilio's 15 s timeout each) ends well inside the soft time limit; large enough to share the
# per-task and per-claim cost. The dispatch sweep claims up to 500 at a time: 20 tasks for the workers.
SEND_CHUNK = 25


def send_chunk() -> int:
    return max(1, int(getattr(settings, "SMS_SEND_CHUNK", SEND_CHUNK)))


# A task that has been sending this long puts its unsent rows back to pending (below the 540 s soft limit).
SEND_BUDGET_SECONDS = 300.0


def message_send(*, message_id: int) -> None:
    """Send one queued row (tasks enqueued one per row by an earlier version, tests)."""
    messages_send(message_ids=[message_id])


def messages_send(*, message_ids: list[int], budget_seconds: float = SEND_BUDGET_SECONDS) -> int:
    """Claim the rows among `message_ids` that are still queued (queued→sending) and send each.

    Returns how many the provider accepted. Rows another worker claimed first, or that a refusal
    skipped, are not sent. A provider error is recorded on its row alone (retry with backoff, or failed).
    """
    deadline = monotonic() + budget_seconds
    claimed = _claim_for_sending(message_ids=message_ids, now=timezone.now())
    accepted: list[str] = []
    for i, message in enumerate(claimed):
        if monotonic() >= deadline:
            _put_back(claimed[i:], timezone.now())
            break
        try:
            provider_id = get_transport().send(to=message.to_number, body=message.body, message_id=message.pk)
        except TransportError as exc:
            _record_transport_error(message, exc, timezone.now())
            continue
        except Exception as exc:  # noqa: BLE001 - an unclassified transport failure is retried, not lost
            logger.exception("transport failed unexpectedly for message %s", message.pk)
            _record_transport_error(message, TransportError(type(exc).__name__, permanent=False), timezone.now())
            continue
        _mark_sent(message.pk, provider_id, timezone.now())
        accepted.append(provider_id)
    _replay_early_statuses(accepted, timezone.now())
    return len(accepted)


def _claim_for_sending(*, message_ids: list[int], now: datetime) -> list[Message]:
    """queued→sending for every row that passes the send-time checks, in one transaction."""
    ids = sorted(set(message_ids))
    with transaction.atomic():
        # Lock the patients, in id order so two tasks never deadlock: two texts for one patient never pass
        # the cap check side by side. Then lock the rows, read after the patient locks: a row another task
        # claimed while we waited is no longer queued and is left out.
        queued_for = Message.objects.filter(id__in=ids, status="queued").values("patient_id")
        patients = Patient.objects.select_for_update(of=("self",)).select_related("clinic__rule_set")
        by_id = {p.pk: p for p in patients.filter(pk__in=Subquery(queued_for)).order_by("pk")}
        if not by_id:
            return []
        messages = list(
            Message.objects.select_for_update(of=("self",))
            .select_related("visit__plan")
            .filter(id__in=ids, status="queued")
            .order_by("id")
        )
        if not messages:
            return []
        instants = sent_capped_instants(
            {m.patient_id for m in messages}, since=now - timedelta(days=8), exclude_ids=[m.pk for m in messages]
        )
        rules: dict[int, Rules] = {}
        ledgers: dict[int, planning.CapLedger] = {}
        refused: dict[str, list[int]] = defaultdict(list)
        approved: list[Message] = []
        for message in messages:
            patient = by_id.get(message.patient_id)
            if patient is None:
                continue  # queued again since the first read (a newer dispatch): its own task sends it
            if patient.clinic_id not in rules:
                rules[patient.clinic_id] = rules_for_clinic(patient.clinic)
            if patient.pk not in ledgers:
                ledgers[patient.pk] = planning.ledger_for(
                    instants.get(patient.pk, []),
                    max_per_day=rules[patient.clinic_id].reminders_max_per_day,
                    max_per_week=rules[patient.clinic_id].reminders_max_per_week,
                    tz=patient.effective_timezone,
                )
            reason = _send_refusal(message, patient, now, rules[patient.clinic_id], ledgers[patient.pk])
            if reason is not None:
                refused[reason[:300]].append(message.pk)
                continue
            if message.purpose in CAPPED_PURPOSES:
                ledgers[patient.pk].add(now)  # the next text for this patient in the chunk counts this one
            message.patient = patient
            message.to_number = patient.phone
            message.attempts += 1
            approved.append(message)
        for reason, refused_ids in refused.items():
            Message.objects.filter(id__in=refused_ids, status="queued").update(
                status="skipped", status_reason=reason, updated=now
            )
        if approved:
            # The rows are locked by this transaction, so the compare-and-swap takes all of them.
            Message.objects.filter(id__in=[m.pk for m in approved], status="queued").update(
                status="sending",
                claimed_at=now,
                attempts=F("attempts") + 1,
                to_number=Subquery(Patient.objects.filter(pk=OuterRef("patient_id")).values("phone")[:1]),
                updated=now,
            )
    return approved


def _send_refusal(
    message: Message, patient: Patient, now: datetime, rules: Rules, ledger: planning.CapLedger
) -> str | None:
    reason = unreachable_reason(patient)
    if reason:
        return reason
    word = find_forbidden(message.body, rules.privacy_extra)
    if word:
        return f"forbidden word: {word}"
    if not message.body:
        return "empty text"
    if len(message.body) > rules.sms_max_chars:
        return f"text is {len(message.body)} characters, the limit is {rules.sms_max_chars}"
    reason = _visit_refusal(message, now)
    if reason or message.purpose not in CAPPED_PURPOSES:
        return reason
    return ledger.refusal(now)


def _visit_refusal(message: Message, now: datetime) -> str | None:
    visit = message.visit
    if visit is None:
        return "reminder without a visit" if message.purpose == "reminder" else None
    if message.purpose == "missed_checkin":
        return f"visit {visit.status}" if visit.status in ("excused", "cancelled") else None
    if message.purpose != "reminder":
        return None
    if visit.status != "scheduled":
        return f"visit {visit.status}"
    if visit.plan is not None and visit.plan.status != "active":
        return f"plan {visit.plan.status}"
    if visit.start is not None and visit.start <= now:
        return "visit already started"
    return None


def _put_back(messages: list[Message], now: datetime) -> None:
    """Rows claimed but not sent before the task's time budget ran out: pending again, attempt not counted."""
    Message.objects.filter(id__in=[m.pk for m in messages], status="sending", provider_id="").update(
        status="pending", claimed_at=None, attempts=F("attempts") - 1, updated=now
    )


def _mark_sent(message_id: int, provider_id: str, now: datetime) -> None:
    """One UPDATE writes the provider id and moves the status forward only: a fast "delivered"
    callback may already have arrived (and is replayed from the cache).

    Written as SQL once, not as an ORM update: it runs once per text, and compiling the ORM's
    Case/Coalesce expressions cost as much as executing the statement (bench/dispatch.py)."""
    stamp = connection.ops.adapt_datetimefield_value(now)
    with connection.cursor() as cursor:
        cursor.execute(_MARK_SENT_SQL, [provider_id, stamp, *_BELOW_SENT, stamp, message_id])


# Only the table name and placeholders are interpolated; every value is a parameter.
_BELOW_SENT_PLACEHOLDERS = ", ".join(["%s"] * len(_BELOW_SENT))
_MARK_SENT_SQL = (
    f"UPDATE {Message._meta.db_table} SET provider_id = %s, sent_at = COALESCE(sent_at, %s), "  # noqa: S608
    f"status = CASE WHEN status IN ({_BELOW_SENT_PLACEHOLDERS}) THEN 'sent' ELSE status END, "
    "next_attempt_at = NULL, updated = %s WHERE id = %s"
)


def _replay_early_statuses(provider_ids: list[str], now: datetime) -> None:
    """Apply status callbacks that arrived before we had written their provider ids (one cache read)."""
    if not provider_ids:
        return
    keys = {EARLY_STATUS_KEY.format(p): p for p in provider_ids}
    early = cache.get_many(list(keys))
    if not early:
        return
    cache.delete_many(list(early))
    for key, value in early.items():
        message_status_update(provider_id=keys[key], status=value["status"], error_code=value["error_code"], now=now)


def message_record_sent(*, message_id: int, provider_id: str, now: datetime) -> None:
    _mark_sent(message_id, provider_id, now)
    _replay_early_statuses([provider_id], now)


def _record_transport_error(message: Message, exc: TransportError, now: datetime) -> None:
    with transaction.atomic():
        if exc.permanent:
            _fail(message, exc.code, exc.message, now)
            if exc.code == UNSUBSCRIBED:
                # Twilio 21610: the recipient replied STOP at the carrier. Opted out; never retried.
                patients_opt_out(patient_ids=[message.patient_id], now=now)
            elif exc.code in INVALID_NUMBER_CODES:
                patient_phone_invalid(patient=message.patient, visit_id=message.visit_id, code=exc.code, now=now)
            return
        if message.attempts >= MAX_ATTEMPTS:
            _fail(message, exc.code, f"gave up after {message.attempts} attempts: {exc.message}", now)
            return
        Message.objects.filter(id=message.pk, status="sending").update(
            status="pending",
            claimed_at=None,
            next_attempt_at=now + backoff_delay(message.attempts),
            error_code=exc.code,
            status_reason=f"retrying: {exc.message}"[:300],
            updated=now,
        )


def _fail(message: Message, code: str, reason: str, now: datetime) -> None:
    Message.objects.filter(id=message.pk, status="sending").update(
        status="failed", error_code=code, status_reason=reason[:300], next_attempt_at=None, updated=now
    )


# --- patients: opt-out, opt-in, bad numbers ------------------------------------------


def patients_opt_out(*, patient_ids: Iterable[int], now: datetime) -> int:
    return Patient.objects.filter(id__in=list(patient_ids), sms_opted_out=False).update(
        sms_opted_out=True, sms_opted_out_at=now
    )


def patients_opt_in(*, patient_ids: Iterable[int], now: datetime) -> int:
    """START/UNSTOP/YES: the patient asked by text from this number, which is consent, timestamped."""
    ids = list(patient_ids)
    n = Patient.objects.filter(id__in=ids, sms_opted_out=True).update(sms_opted_out=False)
    Patient.objects.filter(id__in=ids, sms_consent=False).update(sms_consent=True, sms_consent_at=now)
    visit_ids = Visit.objects.filter(
        patient_id__in=ids, status="scheduled", date__gte=now.date() - timedelta(days=1)
    ).values_list("id", flat=True)
    reminders_sync(visit_ids=list(visit_ids))
    return n


def patient_phone_invalid(*, patient: Patient, visit_id: int | None, code: str, now: datetime) -> None:
    Patient.objects.filter(id=patient.pk).update(phone_invalid=True)
    if not StaffTask.objects.filter(patient=patient, kind="phone_invalid", done_at__isnull=True).exists():
        StaffTask.objects.create(
            clinic_id=patient.clinic_id,
            patient=patient,
            visit_id=visit_id,
            kind="phone_invalid",
            detail=f"The text provider rejected the phone number on file (error {code}). "
            "Check the number with the patient.",
        )


# --- provider callbacks ----------------------------------------------------------------

PROVIDER_STATUS = {
    "sending": "sending",
    "sent": "sent",
    "delivered": "delivered",
    "read": "delivered",
    "undelivered": "undelivered",
    "failed": "failed",
    "canceled": "failed",
}


def message_status_update(*, provider_id: str, status: str, error_code: str = "", now: datetime | None = None) -> int:
    """Apply a delivery status callback: forward only along STATUS_RANK; duplicates change nothing."""
    now = now or timezone.now()
    new = PROVIDER_STATUS.get((status or "").lower())
    if not provider_id or new is None:
        return 0
    rows = Message.objects.filter(provider_id=provider_id)
    if not rows.exists():
        # The callback beat our own write of the provider id; message_record_sent replays it.
        cache.set(EARLY_STATUS_KEY.format(provider_id), {"status": status, "error_code": error_code}, EARLY_STATUS_TTL)
        return 0
    lower = [s for s, r in STATUS_RANK.items() if r < STATUS_RANK[new]]
    fields: dict[str, Any] = {"status": new, "updated": now}
    if new == "delivered":
        fields["delivered_at"] = now
    n = rows.filter(status__in=lower).update(**fields)
    if error_code:
        rows.filter(error_code="").update(error_code=error_code)
        if error_code == UNSUBSCRIBED:
            patients_opt_out(patient_ids=rows.values_list("patient_id", flat=True), now=now)
    return n


# --- inbound texts ---------------------------------------------------------------------

OPT_OUT_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT", "OPT OUT"})
OPT_IN_WORDS = frozenset({"START", "UNSTOP"})
HELP_WORDS = frozenset({"HELP", "INFO"})
TASK_WORDS = {"C": "confirm", "R": "reschedule_request", "LATE": "late"}


def keyword_of(body: str) -> str:
    word = " ".join((body or "").split()).upper()
    if word in OPT_OUT_WORDS:
        return "opt_out"
    if word in OPT_IN_WORDS:
        return "opt_in"
    if word == "YES":
        return "yes"
    if word in HELP_WORDS:
        return "help"
    return TASK_WORDS.get(word, "inbox")


def inbound_receive(*, provider_id: str, from_number: str, body: str) -> str | None:
    """Record an incoming text once and act on it. Returns the reply text (sent as TwiML) or None."""
    now = timezone.now()
    with transaction.atomic():
        inbound, created = InboundMessage.objects.get_or_create(
            provider_id=provider_id, defaults={"from_number": from_number[:20], "body": (body or "")[:1600]}
        )
        if not created:
            return None  # the provider retried: acted on already
        patients = list(Patient.objects.filter(phone=from_number).select_related("clinic__rule_set").order_by("id"))
        if not patients:
            InboundMessage.objects.filter(id=inbound.pk).update(handled_as="unknown_sender")
            return None
        handled, reply, task = _act_on_keyword(keyword_of(body), patients, body, now)
        InboundMessage.objects.filter(id=inbound.pk).update(
            handled_as=handled, patient=patients[0], clinic_id=patients[0].clinic_id, task=task
        )
        return reply


def _act_on_keyword(
    keyword: str, patients: list[Patient], body: str, now: datetime
) -> tuple[str, str | None, StaffTask | None]:
    ids = [p.pk for p in patients]
    if keyword == "yes":
        opted_out = [p for p in patients if p.sms_opted_out]
        keyword = "opt_in" if opted_out else "confirm"
        patients = opted_out or patients
        ids = [p.pk for p in patients]
    if keyword == "opt_out":
        # DOMAIN §5: one confirmation per opt-out. A STOP from a number already opted out is recorded (the
        # caller stores it as handled) but answered with nothing: a second confirmation is a second text the
        # patient asked not to get. The row lock makes two STOPs arriving together confirm once.
        newly = set(
            Patient.objects.select_for_update().filter(id__in=ids, sms_opted_out=False).values_list("id", flat=True)
        )
        patients_opt_out(patient_ids=newly, now=now)
        answered = [p for p in patients if p.pk in newly]
        return "opt_out", _reply(answered, "opt_out_confirmation", now) if answered else None, None
    if keyword == "opt_in":
        patients_opt_in(patient_ids=ids, now=now)
        return "opt_in", _reply(patients, "opt_in_confirmation", now), None
    if keyword == "help":
        return "help", _reply(patients, "help", now), None
    tasks = [_staff_task(p, keyword, body) for p in patients]
    return keyword, None, tasks[0]


def _reply(patients: list[Patient], purpose: str, now: datetime) -> str | None:
    """Render the reply in the first patient's clinic; record it as a sent Message per patient."""
    first = patients[0]
    rules = rules_for_clinic(first.clinic)
    try:
        text = render_message(
            patient=first,
            clinic=first.clinic,
            purpose=purpose,
            templates=TemplateBook.load([first.clinic_id], [purpose]),
            max_chars=rules.sms_max_chars,
            extra_words=rules.privacy_extra,
        )
    except (ForbiddenContent, MessageTooLong, TemplateMissing, ValueError) as exc:
        logger.warning("no %s reply for patient %s: %s", purpose, first.pk, exc)
        return None
    Message.objects.bulk_create(
        Message(
            patient=p,
            purpose=purpose,
            body=text,
            to_number=p.phone,
            scheduled_for=now,
            status="sent",
            sent_at=now,
            status_reason="replied by TwiML",
        )
        for p in patients
    )
    return text


def _staff_task(patient: Patient, kind: str, body: str) -> StaffTask:
    visit = (
        Visit.objects.filter(patient=patient, status="scheduled", date__gte=timezone.now().date() - timedelta(days=1))
        .order_by("date", "start", "id")
        .first()
    )
    return StaffTask.objects.create(
        clinic_id=patient.clinic_id,
        patient=patient,
        visit=visit,
        kind=kind,
        detail=f"Text from the patient: {body.strip()[:500]}",
    )


def staff_task_done(*, task: StaffTask, user: Any) -> StaffTask:
    now = timezone.now()
    if StaffTask.objects.filter(id=task.pk, done_at__isnull=True).update(done_at=now, done_by=user) != 1:
        raise StateConflict("This task is already done.")
    task.refresh_from_db()
    log_closed(task, when_field="done_at", by_field="done_by", when=now, by=user)
    return task


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
            patient=patient, clinic=patient.clinic, purpose="callback",
            templates=TemplateBook.load([patient.clinic_id], ["callback"]), max_chars=rules.sms_max_chars,
            extra_words=rules.privacy_words,
        )
    except (ForbiddenContent, MessageTooLong, TemplateMissing, ValueError) as exc:
        logger.warning("call-back text for patient %s not planned: %s", patient.pk, exc)
        return None
    message, created = Message.objects.get_or_create(
        patient=patient, visit=visit, purpose="callback", slot=visit.date.isoformat(),
        defaults={"body": body, "to_number": patient.phone, "scheduled_for": when},
    )
    return message if created else None
