"""Reminder planning reads each part on first need and takes no savepoint inside a caller's transaction (issue #16):
a booking without a medication reads its visit and messages only, and every outcome is the one of reading it all."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
import time_machine
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from notifications import reminders as reminders_module
from notifications.models import Message
from notifications.reminders import reminders_sync
from tests.factories import PatientFactory, PlanFactory
from visits.models import Visit

from .conftest import NY, make_visit

pytestmark = pytest.mark.django_db
FROZEN = datetime(2026, 10, 20, 16, 0, tzinfo=UTC)
NOTIFICATION_TABLES = ("notifications_reminderpolicy", "notifications_messagetemplate")


def counselling(patient, day: date) -> Visit:
    start = datetime.combine(day, time(11, 0), tzinfo=NY)
    return Visit.objects.create(
        patient=patient,
        clinic=patient.clinic,
        kind="counselling",
        date=day,
        start=start,
        end=start + timedelta(minutes=30),
        status="scheduled",
        source="manual",
    )


def sqls_of(visit_ids: list[int]) -> list[str]:
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        reminders_sync(visit_ids=visit_ids)
    return [q["sql"] for q in queries.captured_queries]


@time_machine.travel(FROZEN, tick=False)
def test_a_visit_without_a_medication_reads_the_visit_and_its_messages_only(patient):
    visit = counselling(patient, date(2026, 11, 10))
    sqls = sqls_of([visit.pk])
    assert len(sqls) == 2, sqls
    assert not any(sql.startswith("SAVEPOINT") for sql in sqls)
    assert not any(table in sql for sql in sqls for table in NOTIFICATION_TABLES)
    assert "capped" not in " ".join(sqls) and not Message.objects.filter(visit=visit).exists()


@time_machine.travel(FROZEN, tick=False)
def test_a_pending_reminder_of_a_visit_without_a_medication_is_still_skipped(patient):
    visit = counselling(patient, date(2026, 11, 10))
    stale = Message.objects.create(
        patient=patient,
        visit=visit,
        purpose="reminder",
        slot="1d",
        body="x",
        to_number=patient.phone,
        scheduled_for=datetime(2026, 11, 9, 15, tzinfo=UTC),
    )
    assert reminders_sync(visit_ids=[visit.pk]) == 1
    stale.refresh_from_db()
    assert (stale.status, stale.status_reason) == ("skipped", "reminder no longer in the clinic's policy")


@time_machine.travel(FROZEN, tick=False)
def test_a_chunk_of_both_kinds_reads_each_part_once_and_plans_what_reading_it_all_planned(injection_plan, clinic):
    visits = [make_visit(injection_plan, date(2026, 11, 10))]
    for i in range(3):
        other = PlanFactory(patient=PatientFactory(clinic=clinic), medication="naltrexone_xr")
        visits.append(make_visit(other, date(2026, 11, 3 + i)))
        visits.append(counselling(other.patient, date(2026, 11, 12 + i)))
    sqls = sqls_of([v.pk for v in visits])
    for table in NOTIFICATION_TABLES:
        assert sum(table in sql for sql in sqls) == 1, table
    # The cap ledger's read: one for every patient of the chunk.
    assert sum("COALESCE" in sql and "notifications_message" in sql for sql in sqls) == 1
    planned = {(m.visit_id, m.slot) for m in Message.objects.filter(purpose="reminder")}
    assert planned == {(v.pk, slot) for v in visits if v.kind == "injection" for slot in ("7d", "1d")}


@time_machine.travel(FROZEN, tick=False)
def test_a_failing_sync_inside_a_callers_block_rolls_the_whole_block_back(injection_plan, monkeypatch):
    def fail(batch):
        raise RuntimeError("outbox down")

    monkeypatch.setattr(reminders_module, "_apply", fail)
    with pytest.raises(RuntimeError), transaction.atomic():
        visit = make_visit(injection_plan, date(2026, 11, 10))
        reminders_sync(visit_ids=[visit.pk])
    assert not Visit.objects.exists() and not Message.objects.exists()
    # The connection is usable afterwards (the caller's block, not a half-open savepoint, ended it).
    assert Visit.objects.count() == 0
