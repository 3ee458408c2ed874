"""_insert_new_rows: a COPY straight into the table first, INSERT … ON CONFLICT DO NOTHING only when a row conflicts
(issue #16)."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import IntegrityError, connection
from django.test.utils import CaptureQueriesContext

from tests.factories import PatientFactory, PlanFactory
from visits.models import Visit

MONDAY = date(2026, 11, 16)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(datetime(2026, 11, 16, 5, 0, tzinfo=ZoneInfo("America/New_York")), tick=False):
        yield


def make_plan(clinic):
    return PlanFactory(patient=PatientFactory(clinic=clinic), start_date=MONDAY, medication="methadone")


def _rows(plan, clinic, days):
    from visits.generation import NEW_COLUMNS

    start = datetime(2026, 11, 16, 12, 0, tzinfo=ZoneInfo("UTC"))
    rows = []
    for n in range(days):
        day = MONDAY + timedelta(days=n)
        values = {
            "patient_id": plan.patient_id,
            "clinic_id": clinic.pk,
            "plan_id": plan.pk,
            "planned_date": day,
            "session": 0,
            "kind": "dose",
            "date": day,
            "start": start + timedelta(days=n),
            "end": start + timedelta(days=n, hours=3),
            "window_id": None,
            "reason": "",
            "expected_take_home_doses": 0,
            "target_date": None,
            "earliest": None,
            "latest": None,
        }
        rows.append(tuple(values[name] for name in NEW_COLUMNS))
    return rows


@pytest.mark.django_db
def test_rows_another_writer_inserted_are_skipped_and_the_rest_inserted(clinic):
    from visits.generation import _insert_new_rows

    plan = make_plan(clinic)
    rows = _rows(plan, clinic, 4)
    # Another worker wrote two of the four slots meanwhile (same plan, planned date and session).
    theirs = _insert_new_rows(rows[1:3])
    with CaptureQueriesContext(connection) as queries:
        ours = _insert_new_rows(rows)
    assert len(ours) == 2
    assert {visit_id for visit_id, _ in ours}.isdisjoint(visit_id for visit_id, _ in theirs)
    assert sorted(Visit.objects.filter(id__in=[i for i, _ in ours]).values_list("planned_date", flat=True)) == [
        MONDAY,
        MONDAY + timedelta(days=3),
    ]
    assert Visit.objects.filter(plan=plan).count() == 4
    # The COPY met the conflict, its savepoint was rolled back, and the rows went in skipping the two.
    inserts = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("INSERT INTO")]
    assert len(inserts) == 1
    assert "ON CONFLICT DO NOTHING" in inserts[0]
    assert any(q["sql"].startswith("ROLLBACK TO SAVEPOINT") for q in queries.captured_queries)


@pytest.mark.django_db
def test_without_a_conflict_the_rows_are_copied_with_the_ids_drawn_for_them(clinic):
    from visits.generation import NEW_COLUMNS, _insert_new_rows

    plan = make_plan(clinic)
    rows = _rows(plan, clinic, 3)
    with CaptureQueriesContext(connection) as queries:
        ours = _insert_new_rows(rows)
    assert [plan_id for _, plan_id in ours] == [plan.pk] * 3
    assert not [q for q in queries.captured_queries if q["sql"].startswith(("INSERT", "CREATE", "ROLLBACK"))]
    # Each id names the row it was drawn for, every column as bulk_create would have written it.
    for (visit_id, _), row in zip(ours, rows, strict=True):
        stored = Visit.objects.get(pk=visit_id)
        expected = Visit(**dict(zip(NEW_COLUMNS, row, strict=True)), source="plan", status="scheduled")
        for field in Visit._meta.concrete_fields:
            if field.attname not in {"id", "created", "updated"}:
                assert getattr(stored, field.attname) == getattr(expected, field.attname), field.attname
        assert stored.created == stored.updated is not None
    # The sequence moved past the drawn ids: the next row inserted the ordinary way takes a new id.
    later = Visit.objects.create(
        patient_id=plan.patient_id, clinic=clinic, kind="dose", date=MONDAY, start=stored.start, end=stored.end
    )
    assert later.pk > max(visit_id for visit_id, _ in ours)


@pytest.mark.django_db
def test_an_error_other_than_a_conflict_is_raised(clinic):
    from visits.generation import NEW_COLUMNS, _insert_new_rows

    plan = make_plan(clinic)
    row = list(_rows(plan, clinic, 1)[0])
    row[NEW_COLUMNS.index("kind")] = None  # NOT NULL
    with pytest.raises(IntegrityError):
        _insert_new_rows([tuple(row)])


@pytest.mark.django_db
def test_the_ids_are_drawn_with_the_sequence_looked_up_once_not_once_an_id(clinic):
    from visits.generation import _insert_new_rows

    plan = make_plan(clinic)
    with CaptureQueriesContext(connection) as queries:
        ours = _insert_new_rows(_rows(plan, clinic, 5))
    draw = next(q["sql"] for q in queries.captured_queries if "nextval" in q["sql"])
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (VERBOSE, COSTS OFF) {draw}")
        plan_lines = [line for (line,) in cursor.fetchall()]
    # The look-up is an InitPlan's output (run once); the ids' scan calls nextval on its result ($n), not the look-up.
    looked_up = [n for n, line in enumerate(plan_lines) if "pg_get_serial_sequence" in line]
    assert len(looked_up) == 1, plan_lines
    assert "InitPlan" in plan_lines[looked_up[0] - 2], plan_lines
    assert any("nextval(($" in line for line in plan_lines), plan_lines
    ids = sorted(visit_id for visit_id, _ in ours)
    assert ids == list(range(ids[0], ids[0] + 5))
