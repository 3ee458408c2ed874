"""The as-you-type patient search is served by the expression indexes of migration scheduler 0003."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from scheduler.models import Patient
from tests.factories import PatientFactory
from web.selectors import patient_search

SYLLABLES = ["al", "be", "co", "da", "el", "fo", "ga", "hu", "ib", "jo", "ka", "lu", "ma", "no", "ol", "pe"]


@pytest.mark.django_db
def test_patient_search_uses_the_prefix_indexes_on_postgres(clinic):
    # A clinic with thousands of patients, as the front desk has: the planner sees real statistics.
    Patient.objects.bulk_create(
        Patient(clinic=clinic, mrn=f"S{n:05d}", first_name=SYLLABLES[n % 16] + SYLLABLES[n // 16 % 16],
                last_name=SYLLABLES[n // 7 % 16] + SYLLABLES[n % 13] + "son")
        for n in range(3000)
    )
    PatientFactory(clinic=clinic, last_name="Rivera")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE scheduler_patient")
    with CaptureQueriesContext(connection) as queries:
        found = patient_search(clinic=clinic, q="riv")
    assert [p.last_name for p in found] == ["Rivera"]
    sql = queries.captured_queries[-1]["sql"]
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    for column in ("last_name", "first_name", "mrn"):
        assert f"scheduler_patient_{column}_upper_prefix" in plan, plan
