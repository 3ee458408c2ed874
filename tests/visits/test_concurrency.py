"""On PostgreSQL, capacity and status changes hold when many requests arrive at once."""

from __future__ import annotations

import threading
from datetime import date, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from scheduler.errors import StateConflict
from scheduler.models import Patient
from scheduler.timeutil import local_date
from tests.factories import PatientFactory, PlanFactory, make_staff
from tests.visits.conftest import make_visit
from visits import services
from visits.models import Visit

pytestmark = [pytest.mark.django_db(transaction=True)]
THREADS = 16


def run_at_once(work, n: int) -> list[object]:
    """Run work(i) in n threads released together; each thread uses (and closes) its own connection."""
    barrier = threading.Barrier(n)
    results: list[object] = [None] * n

    def target(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = work(i)
        except Exception as exc:  # noqa: BLE001 - the test inspects what each thread got
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def test_only_capacity_bookings_succeed_when_many_book_the_last_slots_at_once(clinic):
    window = clinic.windows.get(services__contains=["counselling"])
    window.capacity = 3
    window.save()
    day = date.today() + timedelta(days=7)
    while day.weekday() > 4:  # the counselling window runs Monday to Friday
        day += timedelta(days=1)
    user = make_staff("front_desk", [clinic])
    patient_ids = [PatientFactory(clinic=clinic).pk for _ in range(THREADS)]

    def book(i: int) -> Visit:
        patient = Patient.objects.select_related("clinic").get(pk=patient_ids[i])
        return services.visit_book(patient=patient, kind="counselling", date=day, by=user)

    results = run_at_once(book, THREADS)

    booked = [r for r in results if isinstance(r, Visit)]
    refused = [r for r in results if isinstance(r, StateConflict)]
    assert len(booked) == 3, results
    assert len(refused) == THREADS - 3, results
    assert all("full" in r.message for r in refused)
    assert Visit.objects.filter(window=window, date=day).exclude(status="cancelled").count() == 3


def test_one_patient_booked_from_two_desks_at_once_gets_one_visit(clinic):
    day = date.today() + timedelta(days=7)
    while day.weekday() > 4:
        day += timedelta(days=1)
    user = make_staff("front_desk", [clinic])
    patient = PatientFactory(clinic=clinic)

    def book(i: int) -> Visit:
        fresh = Patient.objects.select_related("clinic").get(pk=patient.pk)
        return services.visit_book(patient=fresh, kind="counselling", date=day, by=user)

    results = run_at_once(book, 4)
    assert sum(isinstance(r, Visit) for r in results) == 1, results
    assert sum(isinstance(r, StateConflict) for r in results) == 3, results


def test_two_nurses_completing_one_visit_at_once_complete_it_once(clinic):
    patient = PatientFactory(clinic=clinic)
    today = local_date(timezone.now(), clinic.timezone)
    plan = PlanFactory(patient=patient, start_date=today - timedelta(days=40))
    visit = make_visit(patient, window=clinic.windows.first(), day=today, plan=plan)
    nurses = [make_staff("nurse", [clinic]) for _ in range(2)]

    def complete(i: int) -> Visit:
        fresh = Visit.objects.select_related("clinic", "plan").get(pk=visit.pk)
        return services.visit_complete(visit=fresh, by=nurses[i], take_home_doses=i)

    results = run_at_once(complete, 2)
    winners = [r for r in results if isinstance(r, Visit)]
    assert len(winners) == 1, results
    assert isinstance(next(r for r in results if not isinstance(r, Visit)), StateConflict)
    visit.refresh_from_db()
    assert visit.status == "completed"
    assert visit.take_home_doses == winners[0].take_home_doses
    assert visit.completed_by_id == winners[0].completed_by.pk


def test_two_nurses_dosing_one_patient_under_two_plans_at_once_give_one_dose(clinic):
    """Legacy data with two active methadone plans: the dosing guard locks the patient row, so the second
    completion sees the first dose and is refused (API.md v1.1: one observed dose per medication and date)."""
    import time_machine

    from tests.visits.conftest import MONDAY, NOW

    with time_machine.travel(NOW, tick=True):
        window = clinic.windows.get(services__contains=["methadone"])
        patient = PatientFactory(clinic=clinic)
        plans = [PlanFactory(patient=patient, medication="methadone", start_date=MONDAY) for _ in range(2)]
        visit_ids = [make_visit(patient, window=window, plan=plan, day=MONDAY).pk for plan in plans]
        nurses = [make_staff("nurse", [clinic]) for _ in range(2)]

        def complete(i: int) -> Visit:
            visit = Visit.objects.select_related("plan", "clinic", "patient").get(pk=visit_ids[i])
            return services.visit_complete(visit=visit, by=nurses[i])

        results = run_at_once(complete, 2)

    done = [r for r in results if isinstance(r, Visit)]
    refused = [r for r in results if isinstance(r, StateConflict)]
    assert len(done) == 1 and len(refused) == 1, results
    assert "already given on Mon 2 Nov" in refused[0].message
    assert Visit.objects.filter(patient=patient, status="completed").count() == 1
