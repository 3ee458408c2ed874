"""The attendance report's closed months (issue #16, visits.models.AttendanceMonth): the report reads a closed month
from its cached counts, and whatever writes a visit — the ORM, a bulk update, raw SQL, COPY, a delete, moving a visit
to another month or clinic, TRUNCATE — leaves no stale count behind (the statement triggers of visits 0016). Every
figure stays equal to one ORM aggregate per figure, cold, cached and after any write; and a fill never runs while a
write of the clinic is in flight (the advisory lock), on PostgreSQL with two connections."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.db import close_old_connections, connection, connections, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import ClinicFactory, PatientFactory, PlanFactory
from tests.visits.test_report_one_pass import STATUSES, _expected, make_ledger
from visits.models import AttendanceMonth, Visit
from visits.reports import _closed_months, attendance_report

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
FIRST = date(2026, 6, 20)  # visits from 20 June to 15 November: June to October can be closed months
SPAN = 148


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def ledger(db, frozen):
    return make_ledger()


def _visits(plans, rows) -> list[Visit]:
    return Visit.objects.bulk_create(
        Visit(patient=plans[p][0], clinic=plans[p][0].clinic, plan=plans[p][1] if with_plan else None,
              kind="dose" if with_plan else "counselling", date=FIRST + timedelta(days=d), status=status,
              source="manual")
        for p, d, status, with_plan in rows
    )


def _report(clinic_ids, date_from, date_to, medication=""):
    return attendance_report(clinic_ids=clinic_ids, date_from=date_from, date_to=date_to, medication=medication)


def _months_cached(clinic_id: int) -> set[date]:
    return set(AttendanceMonth.objects.filter(clinic_id=clinic_id, patient_id=None, day=None)
               .values_list("month", flat=True))


def _write(kind: str, visit: Visit, other_clinic_patient) -> None:  # noqa: ANN001
    """One write of each path the report must survive."""
    if kind == "save":
        visit.status = "missed" if visit.status != "missed" else "completed"
        visit.save()
    elif kind == "update":  # a queryset UPDATE (the sweep's and the services' way)
        Visit.objects.filter(pk=visit.pk).update(status="excused")
    elif kind == "move_month":
        Visit.objects.filter(pk=visit.pk).update(date=visit.date - timedelta(days=31))
    elif kind == "move_clinic":
        patient = other_clinic_patient
        Visit.objects.filter(pk=visit.pk).update(clinic=patient.clinic, patient=patient)
    elif kind == "delete":
        visit.delete()
    elif kind == "raw":
        with connection.cursor() as cursor:
            cursor.execute("UPDATE visits_visit SET status = 'cancelled' WHERE id = %s", [visit.pk])
    elif kind == "copy":  # generation and seed_scale insert by COPY: a copy of the visit, missed
        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM visits_visit WHERE id = %s", [visit.pk])
            columns = [column.name for column in cursor.description if column.name != "id"]
            row = dict(zip([column.name for column in cursor.description], cursor.fetchone(), strict=True))
            row.update(status="missed", source="manual")
            quoted = ", ".join(f'"{name}"' for name in columns)
            with cursor.cursor.copy(f"COPY visits_visit ({quoted}) FROM STDIN") as copy:
                copy.write_row([row[name] for name in columns])
    elif kind == "truncate":
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the test's own pending foreign-key checks
            cursor.execute("TRUNCATE visits_visit CASCADE")
    else:  # pragma: no cover
        raise AssertionError(kind)


WRITES = ["save", "update", "move_month", "move_clinic", "delete", "raw", "copy", "truncate"]


def test_closed_months_are_the_whole_months_of_the_range_that_ended_three_days_ago(frozen):
    assert _closed_months(date(2026, 6, 20), date(2026, 11, 30)) == [
        date(2026, 7, 1), date(2026, 8, 1), date(2026, 9, 1), date(2026, 10, 1)
    ]
    assert _closed_months(date(2026, 7, 1), date(2026, 8, 30)) == [date(2026, 7, 1)]  # August not whole
    assert _closed_months(date(2026, 11, 1), date(2026, 11, 17)) == []  # November has not ended
    with time_machine.travel(datetime(2026, 11, 2, 23, 59, tzinfo=UTC), tick=False):
        assert _closed_months(date(2026, 10, 1), date(2026, 10, 31)) == []  # ended two days ago: not yet
    with time_machine.travel(datetime(2026, 11, 3, 0, 0, tzinfo=UTC), tick=False):
        assert _closed_months(date(2026, 10, 1), date(2026, 10, 31)) == [date(2026, 10, 1)]


@pytest.mark.django_db
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(st.tuples(st.integers(0, 3), st.integers(0, SPAN), st.sampled_from(STATUSES), st.booleans()),
                  min_size=1, max_size=40),
    span=st.tuples(st.integers(0, SPAN), st.integers(0, SPAN)),
    medication=st.sampled_from(["", "", "methadone", "naltrexone_xr"]),
    both_clinics=st.booleans(),
    write=st.sampled_from(WRITES),
    which=st.integers(0, 39),
)
def test_cold_cached_and_after_any_write_the_report_equals_one_aggregate_per_figure(
    ledger, rows, span, medication, both_clinics, write, which
):
    clinics, plans = ledger
    Visit.objects.all().delete()
    AttendanceMonth.objects.all().delete()
    visits = _visits(plans, rows)
    clinic_ids = [c.pk for c in (clinics if both_clinics else clinics[:1])]
    date_from, date_to = FIRST + timedelta(days=min(span)), FIRST + timedelta(days=max(span))
    args = (clinic_ids, date_from, date_to, medication)
    assert _report(*args) == _expected(*args)  # cold: fills the closed months
    assert _report(*args) == _expected(*args)  # from the cache
    visit = visits[which % len(visits)]
    _write(write, visit, plans[1][0] if visit.clinic_id == clinics[0].pk else plans[0][0])
    assert _report(*args) == _expected(*args)  # after the write
    assert _report(*args) == _expected(*args)


@pytest.mark.django_db
def test_a_cached_report_reads_the_cache_the_open_edges_and_the_names(ledger, django_assert_num_queries):
    clinics, plans = ledger
    _visits(plans, [(0, d, "completed", True) for d in range(0, SPAN, 3)])
    args = ([clinics[0].pk], FIRST, FIRST + timedelta(days=SPAN))
    cold = _report(*args)
    assert _months_cached(clinics[0].pk) == {date(2026, m, 1) for m in (7, 8, 9, 10)}
    with django_assert_num_queries(3):  # which months are cached; their counts and the edges (June, November); names
        cached = _report(*args)
    assert cached == cold == _expected(*args, "")
    AttendanceMonth.objects.filter(clinic_id=clinics[0].pk, month=date(2026, 8, 1), day=None,
                                   patient_id=None).delete()
    assert _report(*args) == cold  # a lost month is filled again
    assert _months_cached(clinics[0].pk) == {date(2026, m, 1) for m in (7, 8, 9, 10)}


@pytest.mark.django_db
def test_only_the_written_month_of_the_written_clinic_is_forgotten(ledger):
    clinics, plans = ledger
    visits = _visits(plans, [(p, d, "completed", True) for p in range(4) for d in range(0, SPAN, 5)])
    for clinic in clinics:
        _report([clinic.pk], FIRST, FIRST + timedelta(days=SPAN))
    august = next(v for v in visits if v.clinic_id == clinics[0].pk and v.date.month == 8)
    Visit.objects.filter(pk=august.pk).update(status="missed")
    assert _months_cached(clinics[0].pk) == {date(2026, m, 1) for m in (7, 9, 10)}
    assert _months_cached(clinics[1].pk) == {date(2026, m, 1) for m in (7, 8, 9, 10)}
    assert not AttendanceMonth.objects.filter(clinic_id=clinics[0].pk, month=date(2026, 8, 1)).exists()
    november = next(v for v in visits if v.clinic_id == clinics[0].pk and v.date.month == 11)
    Visit.objects.filter(pk=november.pk).update(status="missed")  # an open month: nothing cached to forget
    assert _months_cached(clinics[0].pk) == {date(2026, m, 1) for m in (7, 9, 10)}


@pytest.mark.django_db
def test_a_medication_filter_or_an_open_range_never_fills_the_cache(ledger):
    clinics, plans = ledger
    _visits(plans, [(0, d, "completed", True) for d in range(0, SPAN, 3)])
    args = ([clinics[0].pk], FIRST, FIRST + timedelta(days=SPAN))
    assert _report(*args, "methadone") == _expected(*args, "methadone")
    assert _report([clinics[0].pk], date(2026, 11, 1), date(2026, 11, 30)) == _expected(
        [clinics[0].pk], date(2026, 11, 1), date(2026, 11, 30), ""
    )
    assert not AttendanceMonth.objects.exists()


# --- two connections: a write in flight and a fill ------------------------------------------------------------


def _in_thread(work, started: threading.Event, release: threading.Event, errors: list) -> threading.Thread:  # noqa: ANN001
    def run() -> None:
        try:
            with transaction.atomic():
                work()
                started.set()
                assert release.wait(20)
        except Exception as exc:  # noqa: BLE001  # reported by the test
            errors.append(exc)
            started.set()
        finally:
            close_old_connections()
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _until_a_backend_waits_on_an_advisory_lock(errors: list) -> None:
    """Polls pg_locks (pg_stat_activity is a snapshot for the rest of the transaction) for a writer's ungranted
    advisory lock in this database."""
    for _ in range(400):
        assert not errors
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            )
            if cursor.fetchone()[0]:
                return
        threading.Event().wait(0.05)
    raise AssertionError("the writer never waited for the fill's lock")


def _an_august_dose() -> tuple:
    clinic = ClinicFactory()
    patient = PatientFactory(clinic=clinic)
    visit = Visit.objects.create(patient=patient, clinic=clinic, plan=PlanFactory(patient=patient), kind="dose",
                                 date=date(2026, 8, 3), status="completed", source="manual")
    return clinic, visit


@pytest.mark.django_db(transaction=True)
def test_a_write_in_flight_keeps_its_clinic_uncached_and_the_report_true(frozen):
    clinic, visit = _an_august_dose()
    args = ([clinic.pk], date(2026, 8, 1), date(2026, 8, 31))
    started, release, errors = threading.Event(), threading.Event(), []
    thread = _in_thread(lambda: Visit.objects.filter(pk=visit.pk).update(status="missed"), started, release, errors)
    try:
        assert started.wait(20)
        report = _report(*args)  # the writer holds the clinic's lock shared: no fill, the month read raw
        assert report["completed"] == 1 and report["missed"] == 0  # its write is not committed yet
        assert not AttendanceMonth.objects.exists()
    finally:
        release.set()
        thread.join(30)
    assert not errors
    report = _report(*args)
    assert report["completed"] == 0 and report["missed"] == 1
    assert _months_cached(clinic.pk) == {date(2026, 8, 1)}


@pytest.mark.django_db(transaction=True)
def test_a_write_during_a_fill_waits_for_it_and_then_forgets_the_month(frozen):
    clinic, visit = _an_august_dose()
    args = ([clinic.pk], date(2026, 8, 1), date(2026, 8, 31))
    written, errors = threading.Event(), []

    def write() -> None:
        try:
            Visit.objects.filter(pk=visit.pk).update(status="missed")  # blocks on the filler's lock
            written.set()
        except Exception as exc:  # noqa: BLE001  # reported by the test
            errors.append(exc)
        finally:
            connections.close_all()

    with transaction.atomic():  # the fill's lock lasts until this commits
        assert _report(*args)["completed"] == 1
        assert _months_cached(clinic.pk) == {date(2026, 8, 1)}
        writer = threading.Thread(target=write)
        writer.start()
        _until_a_backend_waits_on_an_advisory_lock(errors)
        assert not written.is_set()  # waiting for the fill's commit
    writer.join(30)
    assert not errors and written.is_set()
    assert not AttendanceMonth.objects.exists()  # the write forgot the month the fill had just cached
    report = _report(*args)
    assert report["completed"] == 0 and report["missed"] == 1
