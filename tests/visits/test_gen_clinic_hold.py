"""The rolling job writes a clinic's chunks in one transaction and keeps the windows' counts across them (issue #16):
the places are counted once a clinic, the rows are those a fresh count per chunk gives, and nothing can book into
the clinic's windows between its chunks."""

from __future__ import annotations

import threading
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from scheduler.errors import StateConflict
from scheduler.models import Patient, Plan
from tests.factories import ClinicFactory, PatientFactory, PlanFactory, WindowFactory, make_staff
from tests.visits.conftest import make_visit
from visits import generation, services
from visits.generation import visits_generate
from visits.models import Visit

NY = ZoneInfo("America/New_York")
MONDAY = date(2026, 11, 16)
NOW = datetime(2026, 11, 16, 5, 0, tzinfo=NY)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def _plan(clinic, medication="methadone", **kwargs):
    patient = PatientFactory(clinic=clinic)
    return PlanFactory(patient=patient, start_date=MONDAY, medication=medication, **kwargs)


def _rows() -> list[tuple]:
    fields = ("patient_id", "plan_id", "planned_date", "session", "window_id", "start", "end", "status")
    return sorted(Visit.objects.values_list(*fields), key=repr)


def _fresh_count_per_chunk(monkeypatch) -> None:
    """The old way: each chunk reads the windows' counts afresh (under the same locks)."""
    monkeypatch.setattr(
        generation._ClinicHold,
        "room_for",
        lambda self, works, date_from, date_to: generation._Room.load(works, date_from, date_to, lock_patients=False),
    )


@pytest.mark.django_db
def test_counts_kept_across_a_clinics_chunks_place_every_visit_where_a_fresh_count_per_chunk_does(
    clinic, monkeypatch
):
    monkeypatch.setattr("visits.generation.PLAN_CHUNK", 3)
    # Tight windows: the 07:00 oral window takes 4 a day (the rest go nowhere: left out), the diamorphine
    # windows share their booths across chunks.
    oral_window = clinic.windows.get(services__contains=["methadone"])
    oral_window.capacity = 4
    oral_window.save()
    clinic.windows.filter(services=["diamorphine"]).update(capacity=6, stations=2)
    oral = [_plan(clinic, attendance_weekdays=list(range(7))) for _ in range(6)]
    sessions = [
        _plan(clinic, medication="diamorphine", doses_per_day=2, min_interval_minutes=180) for _ in range(5)
    ]
    visits_generate(horizon_days=7)
    # A visit booked by hand takes a place, a generated one is cancelled (its place freed), another moved by
    # staff, and a plan changes its days: the next run keeps, moves and places across chunks.
    make_visit(PatientFactory(clinic=clinic), window=oral_window, day=MONDAY + timedelta(days=2), source="manual")
    first = Visit.objects.filter(plan=oral[0]).order_by("date").first()
    Visit.objects.filter(pk=first.pk).update(status="cancelled")
    moved = Visit.objects.filter(plan=sessions[1], session=0).order_by("date").first()
    Visit.objects.filter(pk=moved.pk).update(start=moved.start + timedelta(minutes=30), edited=True)
    oral[4].attendance_weekdays = [0, 2, 4]
    oral[4].save()
    Plan.objects.update(generated_fingerprint="")

    expected: list[tuple] = []
    with pytest.raises(_Undo), generation.transaction.atomic():
        with monkeypatch.context() as old:
            _fresh_count_per_chunk(old)
            before = visits_generate(horizon_days=7)
        expected = _rows()
        raise _Undo
    result = visits_generate(horizon_days=7)

    assert _rows() == expected
    assert (result.created, result.updated, result.deleted, result.unplaced) == (
        before.created,
        before.updated,
        before.deleted,
        before.unplaced,
    )
    assert result.unplaced > 0  # the windows were tight enough for counts to matter


class _Undo(Exception):
    pass


@pytest.mark.django_db
def test_a_clinic_of_many_chunks_locks_and_counts_its_windows_once(clinic, other_clinic, monkeypatch):
    monkeypatch.setattr("visits.generation.PLAN_CHUNK", 2)
    for _ in range(5):
        _plan(clinic)
    for _ in range(3):
        _plan(other_clinic)
    with CaptureQueriesContext(connection) as queries:
        result = visits_generate(horizon_days=7)
    sql = [q["sql"] for q in queries.captured_queries]
    window_locks = [s for s in sql if 'FROM "scheduler_dosingwindow"' in s and "FOR UPDATE" in s]
    counts = [s for s in sql if 'FROM "visits_visit"' in s and "GROUP BY" in s and "COUNT(" in s]
    patient_locks = [s for s in sql if "FROM scheduler_patient" in s and "FOR KEY SHARE" in s]
    assert len(window_locks) == len(counts) == len(patient_locks) == 2  # one a clinic, not one a chunk (5 chunks)
    assert result.plans == 8
    assert result.created == Visit.objects.count() > 0


@pytest.mark.django_db(transaction=True)
def test_a_booking_between_a_clinics_chunks_waits_for_the_clinic_and_capacity_holds():
    """Without the clinic's locks held between chunks, the booking would take a place the next chunk counted as free."""
    clinic = ClinicFactory(timezone="America/New_York")
    window = WindowFactory(
        clinic=clinic, weekdays=[0], start=time(7, 0), end=time(10, 0), services=["methadone", "counselling"],
        capacity=3,
    )
    plans = [_plan(clinic, attendance_weekdays=[0]) for _ in range(3)]
    patient_id = PatientFactory(clinic=clinic).pk
    staff = make_staff("front_desk", [clinic])
    first_written, booking_started, booking_done = threading.Event(), threading.Event(), threading.Event()
    outcome: dict[str, object] = {}
    write_chunk = generation._write_chunk

    def written_then_let_the_booking_try(*args, **kwargs):
        result = write_chunk(*args, **kwargs)
        if not first_written.is_set():
            first_written.set()
            assert booking_started.wait(30)
            _until_blocked_or_done(booking_done)
        return result

    def generate() -> None:
        try:
            with time_machine.travel(NOW, tick=False):
                outcome["generated"] = visits_generate(horizon_days=1)
        except BaseException as exc:  # noqa: BLE001 - reported below
            outcome["generated"] = exc
        finally:
            connection.close()

    def book() -> None:
        try:
            assert first_written.wait(30)
            booking_started.set()
            with time_machine.travel(NOW, tick=False):
                patient = Patient.objects.select_related("clinic").get(pk=patient_id)
                outcome["booked"] = services.visit_book(patient=patient, kind="counselling", date=MONDAY, by=staff)
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            outcome["booked"] = exc
        finally:
            booking_done.set()
            connection.close()

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("visits.generation.PLAN_CHUNK", 1)
        mp.setattr("visits.generation._write_chunk", written_then_let_the_booking_try)
        threads = [threading.Thread(target=generate), threading.Thread(target=book)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)

    assert not isinstance(outcome["generated"], BaseException), repr(outcome)
    assert outcome["generated"].created == 3, outcome
    assert isinstance(outcome["booked"], StateConflict), outcome
    assert Visit.objects.filter(window=window, date=MONDAY).exclude(status="cancelled").count() == 3
    assert Visit.objects.filter(plan__in=plans).count() == 3


def _until_blocked_or_done(done: threading.Event) -> None:
    """Wait (at most a minute) until the booking has finished or its connection waits on a lock held by this one."""
    with connection.cursor() as cursor:
        for _ in range(6000):
            if done.wait(0.01):
                return
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE wait_event_type = 'Lock' AND %s = ANY(pg_blocking_pids(pid))",
                [connection.connection.info.backend_pid],
            )
            if cursor.fetchone()[0]:
                return
        cursor.execute("SELECT pid, state, wait_event_type, wait_event, left(query, 80) FROM pg_stat_activity")
        raise AssertionError(f"the booking neither finished nor waited: {cursor.fetchall()}")
