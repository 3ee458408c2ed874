"""The dispatch sweep and the send path: claims, enqueue after commit, refusals, provider errors."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from kombu.exceptions import OperationalError

from notifications import dispatch, outbox, transports
from notifications.checkins import missed_checkin_create
from notifications.dispatch import messages_reclaim_stuck, reminders_dispatch_due
from notifications.models import Message
from notifications.reminders import reminders_sync
from notifications.sending import message_send
from notifications.tasks import send_message, send_messages
from notifications.transports import TransportError
from tests.factories import PlanFactory
from visits.models import StaffTask

from .conftest import make_visit

pytestmark = pytest.mark.django_db
PLANNED = datetime(2026, 10, 20, 16, 0, tzinfo=UTC)
DUE = datetime(2026, 11, 9, 15, 30, tzinfo=UTC)  # 10:30 New York, the day before the visit


@pytest.fixture
def enqueued(monkeypatch):
    calls: list[int] = []
    monkeypatch.setattr(send_messages, "apply_async", lambda args, **kw: calls.extend(args[0]))
    return calls


@pytest.fixture
def due_message(injection_plan):
    with time_machine.travel(PLANNED, tick=False):
        visit = make_visit(injection_plan, date(2026, 11, 10))
        reminders_sync(visit_ids=[visit.pk])
    Message.objects.filter(visit=visit, slot="7d").delete()  # these tests follow the 1-day reminder alone
    return Message.objects.get(visit=visit, slot="1d")


def dispatch_and_send(now=DUE, **kw):
    with time_machine.travel(now, tick=False):
        claimed = reminders_dispatch_due(now=now, **kw)
        for message in Message.objects.filter(status="queued"):
            message_send(message_id=message.pk)
    return claimed


def test_dispatch_claims_due_rows_and_enqueues_after_commit(due_message, enqueued, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert reminders_dispatch_due(now=DUE) == 1
    assert enqueued == []  # nothing leaves before the commit
    for callback in callbacks:
        callback()
    assert enqueued == [due_message.pk]
    due_message.refresh_from_db()
    assert (due_message.status, due_message.claimed_at) == ("queued", DUE)


def test_dispatch_leaves_rows_not_yet_due(due_message, enqueued, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        assert reminders_dispatch_due(now=DUE - timedelta(hours=1)) == 0
    assert enqueued == []


def test_a_second_dispatch_does_not_claim_again(due_message, enqueued, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        reminders_dispatch_due(now=DUE)
        reminders_dispatch_due(now=DUE)
    assert enqueued == [due_message.pk]


def test_broker_down_at_enqueue_puts_the_row_back_to_pending(
    due_message, monkeypatch, django_capture_on_commit_callbacks
):
    def refuse(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:1. Connection refused.")

    monkeypatch.setattr(send_messages, "apply_async", refuse)
    with django_capture_on_commit_callbacks(execute=True):
        reminders_dispatch_due(now=DUE)
    due_message.refresh_from_db()
    assert (due_message.status, due_message.claimed_at) == ("pending", None)


def test_a_due_reminder_is_sent_and_records_the_provider_id(
    due_message, memory_sms, enqueued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        dispatch_and_send()
    due_message.refresh_from_db()
    assert due_message.status == "sent"
    assert due_message.provider_id == memory_sms[0]["provider_id"]
    assert due_message.sent_at == DUE and due_message.attempts == 1
    assert memory_sms[0]["to"] == "+12125550123"


def test_send_is_a_no_op_unless_the_row_is_queued(due_message, memory_sms):
    message_send(message_id=due_message.pk)  # still pending
    Message.objects.filter(id=due_message.pk).update(status="sent")
    message_send(message_id=due_message.pk)
    assert memory_sms == []


def test_the_send_path_refuses_a_forbidden_word_and_records_it(
    due_message, memory_sms, enqueued, django_capture_on_commit_callbacks
):
    Message.objects.filter(id=due_message.pk).update(body="Hi Maria, your dose is ready at Riverside Health.")
    with django_capture_on_commit_callbacks(execute=True):
        dispatch_and_send()
    due_message.refresh_from_db()
    assert (due_message.status, due_message.status_reason) == ("skipped", "forbidden word: dose")
    assert memory_sms == []


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("sms_opted_out", True, "patient opted out"),
        ("sms_consent", False, "no SMS consent"),
        ("phone_invalid", True, "phone number rejected by the provider"),
    ],
)
def test_the_send_path_respects_consent_and_opt_out(
    due_message, memory_sms, enqueued, field, value, reason, django_capture_on_commit_callbacks
):
    patient = due_message.patient
    setattr(patient, field, value)
    patient.save()
    with django_capture_on_commit_callbacks(execute=True):
        dispatch_and_send()
    due_message.refresh_from_db()
    assert (due_message.status, due_message.status_reason) == ("skipped", reason)
    assert memory_sms == []


def test_a_cancelled_visit_is_not_reminded(due_message, memory_sms, enqueued, django_capture_on_commit_callbacks):
    due_message.visit.status = "cancelled"
    due_message.visit.save()
    with django_capture_on_commit_callbacks(execute=True):
        dispatch_and_send()
    due_message.refresh_from_db()
    assert (due_message.status, due_message.status_reason) == ("skipped", "visit cancelled")


def test_the_daily_cap_is_enforced_at_send_time(due_message, memory_sms, enqueued, django_capture_on_commit_callbacks):
    Message.objects.create(
        patient=due_message.patient,
        purpose="missed_checkin",
        body="x",
        status="sent",
        scheduled_for=DUE - timedelta(hours=1),
        sent_at=DUE - timedelta(hours=1),
    )
    with django_capture_on_commit_callbacks(execute=True):
        dispatch_and_send()
    due_message.refresh_from_db()
    assert due_message.status == "skipped" and due_message.status_reason.startswith("frequency cap: at most 1 a day")
    assert memory_sms == []


def test_21610_unsubscribed_opts_the_patient_out_and_is_never_retried(
    due_message, memory_sms, enqueued, django_capture_on_commit_callbacks
):
    transports.memory_failures.append(TransportError("unsubscribed", code="21610", permanent=True))
    with django_capture_on_commit_callbacks(execute=True):
        dispatch_and_send()
        assert dispatch_and_send(now=DUE + timedelta(hours=2)) == 0
    due_message.refresh_from_db()
    due_message.patient.refresh_from_db()
    assert (due_message.status, due_message.error_code) == ("failed", "21610")
    assert due_message.patient.sms_opted_out and due_message.patient.sms_opted_out_at is not None
    assert due_message.attempts == 1


@pytest.mark.parametrize("code", ["21211", "21614"])
def test_an_invalid_number_marks_the_phone_and_creates_a_front_desk_task(
    due_message, enqueued, code, django_capture_on_commit_callbacks
):
    transports.memory_failures.append(TransportError("invalid", code=code, permanent=True))
    with django_capture_on_commit_callbacks(execute=True):
        dispatch_and_send()
    due_message.refresh_from_db()
    assert (due_message.status, due_message.error_code) == ("failed", code)
    assert due_message.patient.__class__.objects.get(pk=due_message.patient_id).phone_invalid
    task = StaffTask.objects.get(kind="phone_invalid")
    assert (task.patient_id, task.clinic_id, task.visit_id) == (
        due_message.patient_id,
        due_message.patient.clinic_id,
        due_message.visit_id,
    )


def test_a_temporary_error_is_retried_with_backoff_then_sent(
    due_message, memory_sms, enqueued, django_capture_on_commit_callbacks
):
    transports.memory_failures.append(TransportError("HTTP 503", code="", permanent=False))
    with django_capture_on_commit_callbacks(execute=True):
        dispatch_and_send()
        due_message.refresh_from_db()
        assert (due_message.status, due_message.attempts) == ("pending", 1)
        assert DUE + timedelta(seconds=30) <= due_message.next_attempt_at <= DUE + timedelta(seconds=60)
        assert dispatch_and_send(now=DUE + timedelta(seconds=10)) == 0  # not before the backoff
        assert dispatch_and_send(now=DUE + timedelta(minutes=2)) == 1
    due_message.refresh_from_db()
    assert (due_message.status, due_message.attempts) == ("sent", 2)
    assert len(memory_sms) == 1


def test_temporary_errors_give_up_after_five_attempts(
    due_message, memory_sms, enqueued, django_capture_on_commit_callbacks
):
    transports.memory_failures.extend(TransportError("429", code="20429", permanent=False) for _ in range(6))
    now = DUE
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(6):
            dispatch_and_send(now=now)
            now += timedelta(hours=2)
    due_message.refresh_from_db()
    assert (due_message.status, due_message.attempts) == ("failed", 5)
    assert due_message.status_reason.startswith("gave up after 5 attempts")


def test_backoff_grows_and_has_jitter():
    delays = [outbox.backoff_delay(n).total_seconds() for n in (1, 2, 3, 4, 5)]
    assert 30 <= delays[0] <= 60 and 480 <= delays[4] <= 960
    assert len({outbox.backoff_delay(3) for _ in range(20)}) > 1


def test_reclaim_puts_a_sending_row_without_provider_id_back_but_not_one_with(due_message):
    other = Message.objects.create(
        patient=due_message.patient,
        purpose="missed_checkin",
        body="x",
        scheduled_for=DUE,
        status="sending",
        claimed_at=DUE,
        provider_id="SM1",
    )
    Message.objects.filter(id=due_message.pk).update(status="sending", claimed_at=DUE, attempts=1)
    later = DUE + outbox.reclaim_after() + timedelta(seconds=1)
    assert messages_reclaim_stuck(now=DUE + timedelta(minutes=5)) == 0  # a live send is left alone
    assert messages_reclaim_stuck(now=later) == 2
    due_message.refresh_from_db()
    other.refresh_from_db()
    assert (due_message.status, other.status) == ("pending", "sent")


def test_reclaim_waits_longer_than_a_task_may_run(settings):
    settings.SMS_RECLAIM_AFTER_SECONDS = 10
    assert outbox.reclaim_after() > timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT)


@time_machine.travel(datetime(2026, 11, 10, 12, 0, tzinfo=UTC), tick=False)
def test_a_missed_day_creates_one_check_in_text_for_methadone(patient):
    plan = PlanFactory(patient=patient, medication="methadone")
    visit = make_visit(plan, date(2026, 11, 9), status="missed")
    message = missed_checkin_create(patient=patient, visit=visit, today=date(2026, 11, 10))
    assert message is not None and message.purpose == "missed_checkin"
    assert message.body.startswith("Hi Maria, we missed you at Riverside Health.")
    assert message.scheduled_for == datetime(2026, 11, 10, 14, 0, tzinfo=UTC)  # 09:00 New York
    assert missed_checkin_create(patient=patient, visit=visit, today=date(2026, 11, 10)) is None


@time_machine.travel(datetime(2026, 11, 10, 15, 0, tzinfo=UTC), tick=False)
def test_no_check_in_text_for_injections_diamorphine_or_without_consent(patient):
    for medication in ("naltrexone_xr", "diamorphine"):
        visit = make_visit(PlanFactory(patient=patient, medication=medication), date(2026, 11, 9), status="missed")
        assert missed_checkin_create(patient=patient, visit=visit, today=date(2026, 11, 10)) is None
    patient.sms_consent = False
    patient.save()
    visit = make_visit(PlanFactory(patient=patient, medication="methadone"), date(2026, 11, 9), status="missed")
    assert missed_checkin_create(patient=patient, visit=visit, today=date(2026, 11, 10)) is None


def test_the_dispatch_command_runs_the_sweep(due_message, enqueued, django_capture_on_commit_callbacks):
    from django.core.management import call_command

    with time_machine.travel(DUE, tick=False), django_capture_on_commit_callbacks(execute=True):
        call_command("dispatch_reminders")
    assert enqueued == [due_message.pk]


@time_machine.travel(datetime(2026, 11, 10, 15, 0, tzinfo=UTC), tick=False)
def test_the_sweep_texts_the_first_missed_visit_of_a_streak_only(patient):
    from notifications.checkins import missed_checkins_sync

    plan = PlanFactory(patient=patient, medication="methadone")
    make_visit(plan, date(2026, 11, 7), status="completed")
    first = make_visit(plan, date(2026, 11, 8), status="missed")
    second = make_visit(plan, date(2026, 11, 9), status="missed")
    from visits.models import Visit

    Visit.objects.filter(pk__in=[first.pk, second.pk]).update(missed_at=datetime(2026, 11, 10, 12, tzinfo=UTC))
    assert missed_checkins_sync() == 1
    assert missed_checkins_sync() == 0
    assert list(Message.objects.values_list("visit_id", "purpose")) == [(first.pk, "missed_checkin")]


def test_a_check_in_from_the_missed_sweep_and_the_safety_net_is_created_once(patient):
    plan = PlanFactory(patient=patient, medication="buprenorphine")
    visit = make_visit(plan, date(2026, 11, 9), status="missed")
    with time_machine.travel(datetime(2026, 11, 10, 15, 0, tzinfo=UTC), tick=False):
        assert missed_checkin_create(patient=patient, visit=visit, today=date(2026, 11, 10)) is not None
        assert missed_checkin_create(patient=patient, visit=visit, today=date(2026, 11, 11)) is None


def test_the_dispatch_task_plans_check_ins_then_dispatches(due_message, enqueued, django_capture_on_commit_callbacks):
    from notifications.tasks import dispatch_reminders

    with time_machine.travel(DUE, tick=False), django_capture_on_commit_callbacks(execute=True):
        assert dispatch_reminders() == 1
    assert enqueued == [due_message.pk]


def test_send_message_retries_only_on_database_errors():
    from django.db import OperationalError as DatabaseOperationalError

    for task in (send_messages, send_message):
        assert DatabaseOperationalError in task.autoretry_for
        assert TransportError not in task.autoretry_for


def test_the_dispatch_task_keeps_claiming_full_batches(monkeypatch):
    """One batch per beat run capped the outbox at `limit` a minute: the task loops until a batch is short."""
    calls: list[int] = []
    remaining = [3]

    def fake_dispatch(*, limit):
        calls.append(limit)
        n = min(limit, remaining[0])
        remaining[0] -= n
        return n

    monkeypatch.setattr(dispatch, "reminders_dispatch_due", fake_dispatch)
    assert dispatch.reminders_dispatch_until_done(limit=1) == 3
    assert calls == [1, 1, 1, 1]  # the fourth came back empty
    remaining[0] = 5
    calls.clear()
    assert dispatch.reminders_dispatch_until_done(limit=1, budget_seconds=0) == 1  # the budget is spent
