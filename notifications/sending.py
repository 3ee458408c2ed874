"""Sending: claim queued rows (queued→sending), hand them to the provider one by one and record what it answers.
Keyword-only; the outermost call is atomic.

Exactly-once, and its one gap: a row is claimed pending→queued (dispatch) and queued→sending (send)
with compare-and-swap, so no two workers send it. The provider's id is written in the same UPDATE
that marks the row sent, right after the provider answers. A row stuck in "sending" with no
provider id (the worker died) is put back to pending by the reclaim sweep and sent again. The
remaining window is the few milliseconds between the provider accepting the text and that UPDATE
committing (or a provider timeout after it accepted): a crash there means the patient gets the
text twice. Twilio has no idempotency key for outgoing messages, so that window cannot be closed
from our side; the reclaim waits longer than any task may run, so a slow send is never doubled.

Durability of a chunk's commits: waiting for the write-ahead log's flush to disk at every commit cost
more than everything else a text does (≈ 2.4 ms a commit on the bench machine), so the claim and the
"sent" UPDATEs commit with synchronous_commit off for that transaction alone, except every FLUSH_EVERY-th
and the chunk's last. Such a commit is visible to every session at once and survives the worker dying (the
window above stays one text wide); only a crash of PostgreSQL itself (or its machine) can lose it, and only
until the next commit that waits for the flush: a flushing "sent" UPDATE, a transport error's record or a
put-back, or PostgreSQL's WAL writer (≤ 3 × wal_writer_delay, 0.6 s by default). Rows whose "sending" or
"sent" was lost that way are `queued` or `sending` without a provider id again, and the reclaim sends them
again: a database crash may double at most FLUSH_EVERY texts per running task, as a worker crash may double one.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta
from time import monotonic

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.backends.utils import CursorWrapper
from django.db.models import F, OuterRef, Subquery
from django.utils import timezone

from notifications import planning
from notifications.callbacks import message_status_update
from notifications.models import Message
from notifications.optout import patient_phone_invalid, patients_opt_out
from notifications.outbox import BELOW_SENT, EARLY_STATUS_KEY, MAX_ATTEMPTS, backoff_delay, unreachable_reason
from notifications.privacy import find_forbidden
from notifications.selectors import CAPPED_PURPOSES, sent_capped_instants
from notifications.transports import INVALID_NUMBER_CODES, UNSUBSCRIBED, TransportError, get_transport
from scheduler.models import Clinic, Patient
from scheduler.rules import Rules
from scheduler.selectors import rules_for_clinic

logger = logging.getLogger(__name__)


# Rows per send task. A task claims its rows in one transaction (the same few queries for 1 row or 50)
# and then hands them to the provider one by one, writing each provider id the moment the provider
# answers, so the double-send window stays one text wide. Large enough to share the per-task and
# per-claim cost (broker, claim, disk flush: bench/dispatch.py's worker CPU for 10,000 texts fell from
# 10.5-12.0 s at 25 rows to 8.1-9.5 s at 50, same code); small enough that the chunk's last text waits
# seconds, not minutes, at Twilio's usual 0.1-0.3 s a text (a chunk out of time puts its unsent rows
# back, see SEND_BUDGET_SECONDS). The dispatch sweep claims up to 500 at a time: 10 tasks, and it keeps
# claiming while batches come back full.
SEND_CHUNK = 50

# At most this many "sent" commits in a row skip the WAL flush (module docstring): what a crash of
# PostgreSQL itself may make us send twice, whatever the chunk size.
FLUSH_EVERY = 25


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
    last = len(claimed) - 1
    # One cursor for the chunk's "sent" UPDATEs, not one a text (≈ 18 µs of Python each, measured in-process).
    with connection.cursor() as cursor:
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
            # A write that waits for the disk takes every earlier commit of the chunk with it.
            flush = i == last or (i + 1) % FLUSH_EVERY == 0
            _mark_sent(message.pk, provider_id, timezone.now(), flush=flush, cursor=cursor)
            accepted.append(provider_id)
    _replay_early_statuses(accepted, timezone.now())
    return len(accepted)


# The fields of a claimed row and of its patient that sending reads (_send_refusal, _visit_refusal, the send,
# the error records): the patient's name, birth date and MRN are not read to send a text.
_CLAIMED_PATIENT_FIELDS = ("clinic", "phone", "timezone", "sms_consent", "sms_opted_out", "phone_invalid")
_CLAIMED_FIELDS = (
    "patient",
    "visit",
    "purpose",
    "body",
    "attempts",
    "visit__status",
    "visit__start",
    "visit__plan",
    "visit__plan__status",
)


def _claim_for_sending(*, message_ids: list[int], now: datetime) -> list[Message]:
    """queued→sending for every row that passes the send-time checks, in one transaction."""
    ids = sorted(set(message_ids))
    with transaction.atomic():
        # Committed without waiting for the WAL flush: a later "sent" UPDATE flushes it (module docstring).
        _no_flush_for_this_transaction()
        # Lock the patients, in id order so two tasks never deadlock: two texts for one patient never pass
        # the cap check side by side. Then lock the rows, read after the patient locks: a row another task
        # claimed while we waited is no longer queued and is left out.
        queued_for = Message.objects.filter(id__in=ids, status="queued").values("patient_id")
        patients = Patient.objects.select_for_update(of=("self",)).only(*_CLAIMED_PATIENT_FIELDS)
        by_id = {p.pk: p for p in patients.filter(pk__in=Subquery(queued_for)).order_by("pk")}
        if not by_id:
            return []
        # The chunk's clinics (mostly one) with their rule sets, read once: joined to every patient row, each
        # row carried and JSON-decoded its clinic's whole rule set (≈ 4 KB).
        clinics = Clinic.objects.select_related("rule_set").in_bulk({p.clinic_id for p in by_id.values()})
        for locked in by_id.values():
            locked.clinic = clinics[locked.clinic_id]
        messages = list(
            Message.objects.select_for_update(of=("self",))
            .select_related("visit__plan")
            .filter(id__in=ids, status="queued")
            # What the send-time checks and the send read: the rows with their visits and plans were 79
            # columns a text (a dozen timestamps to parse), the largest Python cost of the claim (cProfile).
            .only(*_CLAIMED_FIELDS)
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


def _mark_sent(
    message_id: int, provider_id: str, now: datetime, *, flush: bool = True, cursor: CursorWrapper | None = None
) -> None:
    """One UPDATE writes the provider id and moves the status forward only: a fast "delivered"
    callback may already have arrived (and is replayed from the cache).

    Written as SQL once, not as an ORM update: it runs once per text, and compiling the ORM's
    Case/Coalesce expressions cost as much as executing the statement (bench/dispatch.py).

    With flush=False it commits without waiting for the write-ahead log to reach the disk (see the module
    docstring): committed and visible at once, kept if the worker dies, and on disk with the next commit
    that does wait (every FLUSH_EVERY-th text and the chunk's last)."""
    stamp = connection.ops.adapt_datetimefield_value(now)
    sql = _MARK_SENT_SQL if flush else _MARK_SENT_NO_FLUSH_SQL
    params = [provider_id, stamp, *BELOW_SENT, stamp, message_id]
    if cursor is not None:
        cursor.execute(sql, params)
        return
    with connection.cursor() as own:
        own.execute(sql, params)


# Only the table name and placeholders are interpolated; every value is a parameter.
_BELOW_SENT_PLACEHOLDERS = ", ".join(["%s"] * len(BELOW_SENT))
_MARK_SENT_SET = (
    "SET provider_id = %s, sent_at = COALESCE(sent_at, %s), "
    f"status = CASE WHEN status IN ({_BELOW_SENT_PLACEHOLDERS}) THEN 'sent' ELSE status END, "
    "next_attempt_at = NULL, updated = %s"
)
_MARK_SENT_SQL = f"UPDATE {Message._meta.db_table} {_MARK_SENT_SET} WHERE id = %s"  # noqa: S608
# The same UPDATE, its own transaction (autocommit) with synchronous_commit off for that transaction only
# (set_config(..., true) is SET LOCAL: nothing leaks to the session, safe behind a transaction pooler).
_MARK_SENT_NO_FLUSH_SQL = (
    f"UPDATE {Message._meta.db_table} {_MARK_SENT_SET} "  # noqa: S608
    "FROM (SELECT set_config('synchronous_commit', 'off', true)) AS no_flush WHERE id = %s"
)


def _no_flush_for_this_transaction() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit TO off")


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
