"""Helpers for the missed-visit sweep tests: plans with generated visits, and a sweep at a local instant."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from scheduler.models import Plan
from tests.factories import PatientFactory, PlanFactory
from visits.generation import visits_generate
from visits.missed import SweepResult, visits_mark_missed
from visits.models import Escalation, Visit

NY = ZoneInfo("America/New_York")


def at(d: date, hour: int, minute: int = 0) -> datetime:
    """An instant at a New York wall time."""
    return datetime.combine(d, time(hour, minute), tzinfo=NY)


def sweep(when: datetime) -> SweepResult:
    with time_machine.travel(when, tick=False):
        return visits_mark_missed()


def generate(plan: Plan, first: date, days: int = 21) -> None:
    fresh = Plan.objects.select_related("patient__clinic__rule_set").get(pk=plan.pk)
    visits_generate(plans=[fresh], today=first, horizon_days=days)


def visit_on(plan: Plan, d: date, session: int = 0) -> Visit:
    return Visit.objects.get(plan=plan, planned_date=d, session=session)


def complete(visit: Visit, take_home_doses: int | None = None) -> Visit:
    """Arrange history: the visit was attended and `take_home_doses` handed out (default: as planned)."""
    doses = visit.expected_take_home_doses if take_home_doses is None else take_home_doses
    Visit.objects.filter(pk=visit.pk).update(
        status="completed",
        take_home_doses=doses,
        covered_through=visit.date + timedelta(days=doses),
        completed_at=visit.end,
    )
    visit.refresh_from_db()
    return visit


def kinds(plan: Plan) -> list[str]:
    return sorted(Escalation.objects.filter(plan=plan).values_list("kind", flat=True))


@pytest.fixture
def make_plan(clinic) -> Callable[..., Plan]:
    def make(**fields) -> Plan:
        plan = PlanFactory(patient=PatientFactory(clinic=clinic), **fields)
        return plan

    return make
