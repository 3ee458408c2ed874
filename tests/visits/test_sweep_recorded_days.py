"""Issue #16: a later sweep of the day learns from its clinic read that each clinic's day is recorded, and sends no
escalation-day statement; a new local day, a rule-set edit or a day recorded for another stamp still does."""

from __future__ import annotations

from datetime import date, datetime, time

import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from scheduler.models import Plan
from tests.factories import ClinicFactory, PatientFactory, PlanFactory, WindowFactory
from tests.visits.missed.conftest import at, generate, sweep
from visits.missed import SweepResult
from visits.models import EscalationDay, Visit

MON, TUE, WED, THU = (date(2026, 11, d) for d in range(2, 6))
START_DAYS = "INSERT INTO visits_escalationday"


def _streak(plan: Plan) -> None:
    generate(plan, MON, days=2)
    Visit.objects.filter(plan=plan).update(status="missed", missed_at=at(TUE, 11))


def _sweep(when: datetime) -> tuple[int, int]:
    """(plans evaluated, escalation-day statements sent)."""
    with CaptureQueriesContext(connection) as ctx:
        result: SweepResult = sweep(when)
    return result.plans_evaluated, len([q for q in ctx.captured_queries if START_DAYS in q["sql"]])


def test_a_later_sweep_sends_no_escalation_day_statement_for_many_clinics(clinic):
    others = [ClinicFactory(name=f"Chain clinic {n}", timezone="America/Los_Angeles") for n in range(6)]
    for other in others:
        WindowFactory(clinic=other, weekdays=list(range(7)), start=time(7), end=time(10), services=["methadone"])
        _streak(PlanFactory(patient=PatientFactory(clinic=other), start_date=MON))
    _streak(PlanFactory(patient=PatientFactory(clinic=clinic), start_date=MON))
    assert _sweep(at(WED, 6)) == (7, 1)  # 03:00 in Los Angeles: every clinic's Wednesday
    assert EscalationDay.objects.filter(date=WED).count() == 7
    assert _sweep(at(WED, 7)) == (0, 0)


def test_a_rule_set_edit_another_stamp_or_a_new_day_still_starts_an_evaluation(clinic):
    _streak(PlanFactory(patient=PatientFactory(clinic=clinic), start_date=MON))
    assert _sweep(at(WED, 6)) == (1, 1)
    assert _sweep(at(WED, 7)) == (0, 0)
    with time_machine.travel(at(WED, 8), tick=False):
        clinic.rule_set.save()  # a new `updated`: the recorded day no longer matches
    assert _sweep(at(WED, 9)) == (1, 1)
    assert _sweep(at(WED, 10)) == (0, 0)
    # The day recorded for a stamp that is not the clinic's (another process, an older edit): not taken as recorded.
    EscalationDay.objects.filter(clinic=clinic, date=WED).update(rules_updated=at(MON, 1))
    assert _sweep(at(WED, 11)) == (1, 1)
    # Thursday's row is not Wednesday's, though both are within a day of the UTC date.
    assert _sweep(at(THU, 0, 5)) == (1, 1)
    assert _sweep(at(THU, 0, 10)) == (0, 0)
