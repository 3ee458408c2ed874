"""_insert_new_rows: a plain INSERT first, ON CONFLICT DO NOTHING only when a row conflicts (issue #16)."""

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
    inserts = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("INSERT INTO")]
    # The plain INSERT met the conflict, its savepoint was rolled back, and the rows went in skipping the two.
    assert len(inserts) == 2
    assert "ON CONFLICT" not in inserts[0]
    assert "ON CONFLICT DO NOTHING" in inserts[1]


@pytest.mark.django_db
def test_no_conflict_is_one_plain_insert(clinic):
    from visits.generation import _insert_new_rows

    plan = make_plan(clinic)
    with CaptureQueriesContext(connection) as queries:
        ours = _insert_new_rows(_rows(plan, clinic, 3))
    assert [plan_id for _, plan_id in ours] == [plan.pk] * 3
    inserts = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("INSERT INTO")]
    assert len(inserts) == 1
    assert "ON CONFLICT" not in inserts[0]


@pytest.mark.django_db
def test_an_error_other_than_a_conflict_is_raised(clinic):
    from visits.generation import NEW_COLUMNS, _insert_new_rows

    plan = make_plan(clinic)
    row = list(_rows(plan, clinic, 1)[0])
    row[NEW_COLUMNS.index("kind")] = None  # NOT NULL
    with pytest.raises(IntegrityError):
        _insert_new_rows([tuple(row)])
