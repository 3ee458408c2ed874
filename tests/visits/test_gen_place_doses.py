"""Placing the visits of plans without a booth interval has its own loop (find() inlined, issue #16): it places every
visit where the general loop does, leaves out the same ones and tells staff the same reasons."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import transaction

from scheduler.errors import StateConflict
from tests.factories import PatientFactory, PlanFactory, WindowFactory
from visits import generation
from visits.generation import plan_visits_regenerate, visits_generate
from visits.models import StaffTask, Visit

pytestmark = pytest.mark.django_db

NY = ZoneInfo("America/New_York")
MONDAY = date(2026, 11, 16)
NOW = datetime(2026, 11, 16, 5, 0, tzinfo=NY)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


class _Undo(Exception):
    pass


def _outcome() -> tuple[list[tuple], list[str]]:
    fields = ("plan_id", "planned_date", "session", "window_id", "start", "end", "kind", "expected_take_home_doses")
    rows = sorted(Visit.objects.values_list(*fields), key=repr)
    return rows, sorted(StaffTask.objects.values_list("detail", flat=True))


def _each_visit_through_find(monkeypatch) -> None:
    monkeypatch.setattr(generation._Room, "_place_doses", generation._Room._place_each)


def _both_ways(monkeypatch, run) -> tuple[object, object]:
    """The outcome of `run` through the general loop (rolled back), then through the doses' loop."""
    with pytest.raises(_Undo), transaction.atomic():
        with monkeypatch.context() as general:
            _each_visit_through_find(general)
            run()
        old = _outcome()
        raise _Undo
    run()
    return old, _outcome()


def test_oral_doses_overflow_split_and_are_left_out_exactly_as_through_find(clinic, monkeypatch):
    morning = clinic.windows.get(start=time(7, 0))
    morning.capacity = 5
    morning.save()
    WindowFactory(clinic=clinic, weekdays=[0, 1, 2, 3, 4], start=time(13, 0), end=time(15, 0),
                  services=["methadone"], capacity=3)
    WindowFactory(clinic=clinic, weekdays=[2], start=time(5, 0), end=time(6, 30), services=["buprenorphine"],
                  capacity=1)
    for n in range(7):
        PlanFactory(patient=PatientFactory(clinic=clinic), medication="methadone", start_date=MONDAY,
                    attendance_weekdays=list(range(7)), doses_per_day=2 if n % 3 == 0 else 1)
    for _ in range(3):
        PlanFactory(patient=PatientFactory(clinic=clinic), medication="buprenorphine", start_date=MONDAY,
                    attendance_weekdays=[0, 2, 4])

    old, new = _both_ways(monkeypatch, lambda: visits_generate(horizon_days=10))

    assert new == old
    rows, tasks = new
    afternoon = clinic.windows.get(start=time(13, 0)).pk
    assert any(row[3] == afternoon for row in rows) and tasks  # some overflowed, some found no room anywhere


def test_a_plan_without_room_is_refused_with_the_same_message(clinic, monkeypatch):
    morning = clinic.windows.get(start=time(7, 0))
    morning.capacity = 1
    morning.save()
    PlanFactory(patient=PatientFactory(clinic=clinic), medication="methadone", start_date=MONDAY)
    plan = PlanFactory(patient=PatientFactory(clinic=clinic), medication="methadone", start_date=MONDAY)
    visits_generate(horizon_days=7)  # the first plan takes the only place; the second is left out
    messages = []
    for through_find in (True, False):
        with monkeypatch.context() as patched:
            if through_find:
                _each_visit_through_find(patched)
            with pytest.raises(StateConflict) as refused:
                plan_visits_regenerate(plan=plan, horizon_days=7)
        messages.append(refused.value.message)
    assert messages[0] == messages[1]
    assert "is full (1 of 1)" in messages[1]
    assert "Mon 16 Nov" in messages[1]
