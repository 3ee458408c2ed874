"""The rolling job's chunks follow the clinics (issue #16): a chain's plan ids interleave across clinics, and a chunk
locks and counts the windows of every clinic it holds a plan of."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import PatientFactory, PlanFactory
from visits.generation import visits_generate
from visits.models import Visit

MONDAY = date(2026, 11, 16)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(datetime(2026, 11, 16, 5, 0, tzinfo=ZoneInfo("America/New_York")), tick=False):
        yield


@pytest.mark.django_db
def test_each_chunk_locks_the_windows_of_one_clinic_when_plan_ids_interleave(clinic, other_clinic, monkeypatch):
    plans = []
    for _ in range(2):  # ids alternate between the clinics
        for where in (clinic, other_clinic):
            plans.append(PlanFactory(patient=PatientFactory(clinic=where), start_date=MONDAY, medication="methadone"))
    monkeypatch.setattr("visits.generation.PLAN_CHUNK", 2)
    with CaptureQueriesContext(connection) as queries:
        result = visits_generate(horizon_days=7)
    window_locks = [
        q["sql"]
        for q in queries.captured_queries
        if 'FROM "scheduler_dosingwindow"' in q["sql"] and "FOR UPDATE" in q["sql"]
    ]
    assert len(window_locks) == 2
    assert f"IN ({clinic.pk})" in window_locks[0]
    assert f"IN ({other_clinic.pk})" in window_locks[1]
    # Every plan generated as before.
    assert result.plans == 4
    assert result.created == Visit.objects.count() > 0
    assert all(Visit.objects.filter(plan=plan).exists() for plan in plans)
