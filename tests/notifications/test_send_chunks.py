"""Chunked sending: one task claims a chunk of queued rows in one transaction and sends them one by one."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from kombu.exceptions import OperationalError

from notifications import callbacks, transports
from notifications.dispatch import reminders_dispatch_due
from notifications.models import Message
from notifications.sending import FLUSH_EVERY, SEND_CHUNK, messages_send
from notifications.tasks import send_messages
from notifications.transports import TransportError
from scheduler.models import Patient
from tests.factories import PatientFactory, PlanFactory

from .conftest import make_visit

NOW = datetime(2026, 11, 9, 15, 30, tzinfo=UTC)  # 10:30 New York, the day before the visits


def queued_reminders(clinic, n: int, *, status: str = "queued", patient=None) -> list[int]:
    """n queued reminders for visits tomorrow: one patient each, or all for `patient`."""
    ids = []
    for i in range(n):
        who = patient or PatientFactory(clinic=clinic, phone=f"+1212555{i:04d}")
        plan = PlanFactory(patient=who, medication="naltrexone_xr", interval_days=28, start_date=date(2026, 10, 1))
        visit = make_visit(plan, date(2026, 11, 10))
        message = Message.objects.create(
            patient=who,
            visit=visit,
            purpose="reminder",
            slot=f"1d-{i}",
            body="Hi, a reminder from the clinic about tomorrow. Reply C to confirm.",
            to_number=who.phone,
            scheduled_for=NOW - timedelta(minutes=1),
            status=status,
            claimed_at=NOW if status == "queued" else None,
        )
        ids.append(message.pk)
    return ids


def statuses(ids: list[int]) -> Counter[str]:
    return Counter(Message.objects.filter(id__in=ids).values_list("status", flat=True))


@pytest.mark.django_db
def test_dispatch_enqueues_one_task_per_chunk(clinic, monkeypatch, django_capture_on_commit_callbacks):
    ids = queued_reminders(clinic, SEND_CHUNK * 2 + 3, status="pending")
    tasks: list[list[int]] = []
    monkeypatch.setattr(send_messages, "apply_async", lambda args, **kw: tasks.append(args[0]))
    with django_capture_on_commit_callbacks(execute=True):
        assert reminders_dispatch_due(now=NOW) == len(ids)
    assert [len(t) for t in tasks] == [SEND_CHUNK, SEND_CHUNK, 3]
    assert sorted(i for t in tasks for i in t) == sorted(ids)


@pytest.mark.django_db
def test_broker_down_mid_enqueue_puts_back_only_the_chunks_not_enqueued(
    clinic, monkeypatch, django_capture_on_commit_callbacks
):
    ids = queued_reminders(clinic, SEND_CHUNK * 2 + 3, status="pending")
    tasks: list[list[int]] = []

    def flaky(args, **kw):
        if tasks:
            raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        tasks.append(args[0])

    monkeypatch.setattr(send_messages, "apply_async", flaky)
    with django_capture_on_commit_callbacks(execute=True):
        reminders_dispatch_due(now=NOW)
    assert statuses(tasks[0]) == {"queued": SEND_CHUNK}
    rest = sorted(set(ids) - set(tasks[0]))
    assert statuses(rest) == {"pending": SEND_CHUNK + 3}
    assert not Message.objects.filter(id__in=rest).exclude(claimed_at=None).exists()


@pytest.mark.django_db
def test_a_chunk_is_sent_once_each_with_its_own_provider_id(clinic, memory_sms):
    ids = queued_reminders(clinic, 5)
    with time_machine.travel(NOW, tick=False):
        assert messages_send(message_ids=ids) == 5
        assert messages_send(message_ids=ids) == 0  # a redelivered task finds nothing queued
    assert sorted(m["message_id"] for m in memory_sms) == sorted(ids)
    rows = Message.objects.filter(id__in=ids)
    assert {(m.status, m.attempts, m.sent_at) for m in rows} == {("sent", 1, NOW)}
    assert {m.provider_id for m in rows} == {m["provider_id"] for m in memory_sms}


@pytest.mark.django_db
def test_the_cap_holds_between_two_texts_for_one_patient_in_the_same_chunk(clinic, memory_sms):
    patient = PatientFactory(clinic=clinic, phone="+12125550199")
    ids = queued_reminders(clinic, 2, patient=patient)
    with time_machine.travel(NOW, tick=False):
        assert messages_send(message_ids=ids) == 1
    first, second = Message.objects.filter(id__in=ids).order_by("id")
    assert first.status == "sent"
    assert second.status == "skipped" and second.status_reason.startswith("frequency cap: at most 1 a day")
    assert len(memory_sms) == 1


@pytest.mark.django_db
def test_one_provider_error_stays_on_its_own_row(clinic, memory_sms):
    ids = queued_reminders(clinic, 4)
    transports.memory_failures.append(TransportError("HTTP 503", permanent=False))
    with time_machine.travel(NOW, tick=False):
        assert messages_send(message_ids=ids) == 3
    failed = Message.objects.get(id=min(ids))
    assert (failed.status, failed.attempts, failed.status_reason) == ("pending", 1, "retrying: HTTP 503")
    assert failed.next_attempt_at is not None and failed.next_attempt_at > NOW
    assert statuses(ids) == {"sent": 3, "pending": 1}


@pytest.mark.django_db
def test_refused_rows_are_skipped_and_the_rest_of_the_chunk_is_sent(clinic, memory_sms):
    ids = queued_reminders(clinic, 3)
    opted_out = Message.objects.get(id=ids[1]).patient
    opted_out.sms_opted_out = True
    opted_out.save()
    with time_machine.travel(NOW, tick=False):
        assert messages_send(message_ids=ids) == 2
    skipped = Message.objects.get(id=ids[1])
    assert (skipped.status, skipped.status_reason, skipped.attempts) == ("skipped", "patient opted out", 0)
    assert sorted(m["message_id"] for m in memory_sms) == [ids[0], ids[2]]


@pytest.mark.django_db
def test_a_task_out_of_time_puts_its_unsent_rows_back(clinic, memory_sms):
    ids = queued_reminders(clinic, 3)
    with time_machine.travel(NOW, tick=False):
        assert messages_send(message_ids=ids, budget_seconds=0) == 0
    assert memory_sms == []
    rows = Message.objects.filter(id__in=ids)
    assert {(m.status, m.attempts, m.claimed_at) for m in rows} == {("pending", 0, None)}
    with time_machine.travel(NOW, tick=False):
        assert reminders_dispatch_due(now=NOW) == 3  # due again at once


@pytest.mark.django_db
def test_an_early_delivery_callback_is_replayed_after_the_chunk(clinic, memory_sms, monkeypatch):
    ids = queued_reminders(clinic, 2)
    real_send = transports.MemoryTransport.send

    def send_then_callback(self, **kw):
        provider_id = real_send(self, **kw)
        callbacks.message_status_update(provider_id=provider_id, status="delivered")  # before our UPDATE
        return provider_id

    monkeypatch.setattr(transports.MemoryTransport, "send", send_then_callback)
    with time_machine.travel(NOW, tick=False):
        messages_send(message_ids=ids)
    assert statuses(ids) == {"delivered": 2}


@pytest.mark.django_db
def test_claiming_a_chunk_costs_the_same_queries_for_5_rows_or_25(clinic, memory_sms):
    """Per row: one UPDATE with the provider id. Everything else is per chunk."""
    from django.test.utils import CaptureQueriesContext

    counts = []
    for n in (5, SEND_CHUNK):
        ids = queued_reminders(clinic, n)
        with time_machine.travel(NOW, tick=False), CaptureQueriesContext(connection) as ctx:
            assert messages_send(message_ids=ids) == n
        counts.append(len(ctx.captured_queries))
    assert counts[1] - counts[0] == SEND_CHUNK - 5
    # savepoint, no flush for the claim, patients, their clinics, rows, caps, claim UPDATE, release; one per row
    assert counts[0] <= 8 + 5, counts


@pytest.mark.django_db
def test_the_claim_reads_no_names_and_no_column_it_does_not_use(clinic, memory_sms):
    """Only the columns the checks and the send read (no patient names or birth dates in a worker), and none
    loaded later one row at a time: a refused row, a provider error and an invalid number included."""
    from django.test.utils import CaptureQueriesContext

    ids = queued_reminders(clinic, 4)
    Patient.objects.filter(messages__id=ids[1]).update(sms_opted_out=True)
    transports.memory_failures.extend(
        [TransportError("HTTP 503", permanent=False), TransportError("bad number", code="21211", permanent=True)]
    )
    with time_machine.travel(NOW, tick=False), CaptureQueriesContext(connection) as ctx:
        assert messages_send(message_ids=ids) == 1
    selects = [q["sql"] for q in ctx.captured_queries if q["sql"].startswith("SELECT")]
    patients = [sql for sql in selects if sql.split(" FROM ")[1].startswith('"scheduler_patient"')]
    assert len(patients) == 1 and "FOR UPDATE" in patients[0]
    for column in ("first_name", "last_name", "date_of_birth", "mrn"):
        assert f'"scheduler_patient"."{column}"' not in patients[0]
    claimed = [
        sql for sql in selects if sql.split(" FROM ")[1].startswith('"notifications_message"') and "FOR UPDATE" in sql
    ]
    assert len(claimed) == 1
    for column in ('"notifications_message"."status_reason"', '"visits_visit"."created"', '"scheduler_plan"."created"'):
        assert column not in claimed[0]
    # No deferred column fetched afterwards (Django would read it with a one-row SELECT by id).
    assert not [
        sql
        for sql in selects
        if 'WHERE "scheduler_patient"."id" = ' in sql or 'WHERE "notifications_message"."id" = ' in sql
    ]
    assert statuses(ids) == {"skipped": 1, "pending": 1, "failed": 1, "sent": 1}


def _sent_updates(queries: list[dict[str, str]]) -> list[str]:
    return [q["sql"] for q in queries if q["sql"].startswith("UPDATE") and "provider_id" in q["sql"]]


@pytest.mark.django_db
def test_only_the_chunks_last_sent_update_waits_for_the_disk(clinic, memory_sms):
    """One WAL flush a chunk, not one a text: the claim and every "sent" UPDATE but the last commit with
    synchronous_commit off for their own transaction; the last one's flush takes them all to disk."""
    from django.test.utils import CaptureQueriesContext

    ids = queued_reminders(clinic, 4)
    with time_machine.travel(NOW, tick=False), CaptureQueriesContext(connection) as ctx:
        assert messages_send(message_ids=ids) == 4
    no_flush = "set_config('synchronous_commit', 'off', true)"
    updates = _sent_updates(ctx.captured_queries)
    assert [no_flush in sql for sql in updates] == [True, True, True, False]
    assert "SET LOCAL synchronous_commit TO off" in [q["sql"] for q in ctx.captured_queries]
    assert statuses(ids) == {"sent": 4}
    assert {m.provider_id for m in Message.objects.filter(id__in=ids)} == {m["provider_id"] for m in memory_sms}


@pytest.mark.django_db
def test_a_chunk_longer_than_flush_every_waits_for_the_disk_every_flush_every_texts(clinic, memory_sms):
    """Bigger chunks do not widen what a PostgreSQL crash may make us send twice: at most FLUSH_EVERY "sent"
    commits in a row skip the flush, whatever the chunk size."""
    from django.test.utils import CaptureQueriesContext

    n = FLUSH_EVERY + 3
    assert n <= SEND_CHUNK  # the case only arises because a chunk holds more than FLUSH_EVERY texts
    ids = queued_reminders(clinic, n)
    with time_machine.travel(NOW, tick=False), CaptureQueriesContext(connection) as ctx:
        assert messages_send(message_ids=ids) == n
    flushed = ["synchronous_commit" not in sql for sql in _sent_updates(ctx.captured_queries)]
    assert [i for i, f in enumerate(flushed) if f] == [FLUSH_EVERY - 1, n - 1]
    assert statuses(ids) == {"sent": n}


@pytest.mark.django_db
def test_a_chunk_whose_last_text_fails_still_ends_on_a_write_that_waits_for_the_disk(clinic, memory_sms, monkeypatch):
    ids = queued_reminders(clinic, 3)
    real_send = transports.MemoryTransport.send

    def last_fails(self, **kw):
        if kw["message_id"] == max(ids):
            raise TransportError("HTTP 503", permanent=False)
        return real_send(self, **kw)

    monkeypatch.setattr(transports.MemoryTransport, "send", last_fails)
    from django.test.utils import CaptureQueriesContext

    with time_machine.travel(NOW, tick=False), CaptureQueriesContext(connection) as ctx:
        assert messages_send(message_ids=ids) == 2
    last_write = [q["sql"] for q in ctx.captured_queries if q["sql"].startswith("UPDATE")][-1]
    assert "retrying: HTTP 503" in last_write and "synchronous_commit" not in last_write
    assert statuses(ids) == {"sent": 2, "pending": 1}


@pytest.mark.django_db(transaction=True)
def test_sending_a_chunk_leaves_the_sessions_synchronous_commit_as_it_was(clinic, memory_sms):
    """Only SET LOCAL / set_config(..., true): nothing may leak into the session, which a transaction
    pooler would hand to another client, or into the worker's next task on the same connection."""

    def setting() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            return str(cursor.fetchone()[0])

    before = setting()
    ids = queued_reminders(clinic, 3)
    with time_machine.travel(NOW, tick=False):
        assert messages_send(message_ids=ids) == 3
    assert setting() == before == "on"
    assert statuses(ids) == {"sent": 3}


@pytest.mark.django_db(transaction=True)
def test_overlapping_chunks_on_several_workers_send_each_row_once(clinic, memory_sms):
    """Four workers get overlapping chunks (a redelivered task, a reclaimed row enqueued twice): each
    row leaves once, and one patient's two texts are never both let through the 1-a-day cap."""
    ids = queued_reminders(clinic, 40)
    twice = PatientFactory(clinic=clinic, phone="+12125550777")
    pair = queued_reminders(clinic, 2, patient=twice)
    chunks = [ids[:25] + [pair[0]], ids[15:] + [pair[1]], ids[::2] + pair, list(reversed(ids)) + pair]
    barrier = threading.Barrier(len(chunks))
    errors: list[BaseException] = []

    def work(chunk: list[int]) -> None:
        try:
            barrier.wait(timeout=30)
            messages_send(message_ids=chunk)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    with time_machine.travel(NOW, tick=False):
        threads = [threading.Thread(target=work, args=(c,)) for c in chunks]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    assert errors == []
    sent = Counter(m["message_id"] for m in memory_sms)
    assert set(sent.values()) == {1}
    assert set(ids) <= set(sent)
    assert len(set(pair) & set(sent)) == 1
    assert statuses(ids) == {"sent": 40}
    assert statuses(pair) == {"sent": 1, "skipped": 1}
