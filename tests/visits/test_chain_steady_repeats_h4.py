"""bench/chain_jobs.py times the steady sweep STEADY_REPEAT times on the same state (issue #16): each run inside a
savepoint rolled back afterwards, so every run claims the same visits and evaluates the same plans, and the data is
as it was. Times are never asserted: only that the runs did the same work, and the median is of the runs."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import count
from types import SimpleNamespace
from typing import cast

import pytest
import time_machine

from bench import chain_jobs
from bench._common import median
from scheduler.models import Patient
from tests.factories import PatientFactory
from visits import missed
from visits.missed import visits_mark_missed
from visits.models import Visit

NOW = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_every_run_claims_the_same_visits_and_leaves_them_as_they_were():
    patient = cast(Patient, PatientFactory())
    ended = NOW - timedelta(hours=3)
    ids = [
        Visit.objects.create(
            patient=patient,
            clinic=patient.clinic,
            kind="counselling",
            date=date(2026, 11, 30),
            start=ended - timedelta(minutes=30),
            end=ended,
            status="scheduled",
        ).pk
        for _ in range(3)
    ]
    missed._clinic_days(NOW)  # the process's rule-set cache filled, as the bench's untimed first sweep fills it
    runs = chain_jobs._repeated(lambda: visits_mark_missed(now=NOW), chain_jobs.SWEEP_FIELDS)
    assert runs["missed"] == 3 and runs["queries"] > 0
    assert len(runs["runs"]) == chain_jobs.STEADY_REPEAT > 1
    assert runs["seconds"] == median(runs["runs"])
    # Rolled back after every run: still overdue, so a real sweep now claims them (once).
    assert set(Visit.objects.filter(id__in=ids).values_list("status", flat=True)) == {"scheduled"}
    assert visits_mark_missed(now=NOW).missed == 3


@pytest.mark.django_db
def test_runs_that_did_different_work_are_refused():
    calls = count()

    def sweep() -> SimpleNamespace:
        return SimpleNamespace(missed=next(calls), plans_evaluated=0, escalations_created=0)

    with pytest.raises(RuntimeError, match="different work"):
        chain_jobs._repeated(sweep, chain_jobs.SWEEP_FIELDS)
