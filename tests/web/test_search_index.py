"""The as-you-type patient search is served by the expression indexes of migration scheduler 0003."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import PatientFactory
from web.selectors import patient_search


@pytest.mark.django_db
def test_patient_search_uses_the_prefix_indexes_on_postgres(clinic, require_postgres):
    PatientFactory(clinic=clinic, last_name="Rivera")
    with CaptureQueriesContext(connection) as queries:
        found = patient_search(clinic=clinic, q="riv")
    assert [p.last_name for p in found] == ["Rivera"]
    sql = queries.captured_queries[-1]["sql"]
    with connection.cursor() as cursor:
        # A tiny table would be seq-scanned anyway; forbidding that shows the indexes match the query.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    for column in ("last_name", "first_name", "mrn"):
        assert f"scheduler_patient_{column}_upper_prefix" in plan, plan
