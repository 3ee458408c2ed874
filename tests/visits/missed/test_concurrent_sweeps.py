"""Two sweeps at once on PostgreSQL: each visit is marked once and each escalation created once."""

from __future__ import annotations

import threading
from datetime import date

import pytest
from django.db import connection

from tests.factories import PatientFactory, PlanFactory
from tests.visits.missed.conftest import at, complete, generate, visit_on
from visits.missed import SweepResult, visits_mark_missed
from visits.models import Escalation, Visit

MON, THU = date(2026, 11, 2), date(2026, 11, 5)


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_sweeps_mark_each_visit_once_and_create_each_escalation_once(clinic):
    plans = [PlanFactory(patient=PatientFactory(clinic=clinic), start_date=MON) for _ in range(25)]
    for plan in plans:
        generate(plan, MON)
        complete(visit_on(plan, MON))
    now = at(THU, 11, 30)
    barrier = threading.Barrier(2)
    results: list[SweepResult] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait(timeout=10)
            results.append(visits_mark_missed(now=now))
        except BaseException as exc:  # noqa: BLE001 — surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    first, second = results
    assert not set(first.missed_ids) & set(second.missed_ids)
    assert first.missed + second.missed == 75 == Visit.objects.filter(status="missed").count()
    assert Escalation.objects.count() == 50  # outreach and hold, once per plan
    assert set(Escalation.objects.values_list("kind", flat=True)) == {"hold", "outreach"}
