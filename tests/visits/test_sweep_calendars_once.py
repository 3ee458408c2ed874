"""Issue #16: the sweep reads the calendars of the clinics its plans span in two queries (their windows, their
closures), not two a clinic, and the engine takes the rules the sweep's clinic read parsed. The calendars are the
ones `calendar_for_clinic` reads clinic by clinic, so the ladder's answers cannot change."""

from __future__ import annotations

from datetime import date, time

from django.db import connection
from django.test.utils import CaptureQueriesContext

from scheduler.models import Plan
from scheduler.selectors import ClinicCalendars, calendar_for_clinic, rules_for_clinic
from tests.factories import ClinicFactory, ClosureFactory, PatientFactory, PlanFactory, WindowFactory
from tests.visits.missed.conftest import at, complete, generate, sweep
from visits.models import Escalation, Visit

MON, TUE, THU, FRI = date(2026, 11, 2), date(2026, 11, 3), date(2026, 11, 5), date(2026, 11, 6)
CALENDAR_TABLES = ('"scheduler_dosingwindow"', '"scheduler_closure"')


def _clinics(clinic):  # noqa: ANN001, ANN202
    """The fixture clinic and three more, each with windows and closures of its own (one with none of either)."""
    others = [
        ClinicFactory(name=f"Calendar clinic {n}", timezone=tz)
        for n, tz in enumerate(("America/Los_Angeles", "Europe/London", "America/Chicago"))
    ]
    for n, where in enumerate(others[:2]):
        WindowFactory(clinic=where, weekdays=[0, 2, 4], start=time(9 + n), end=time(11 + n), services=["methadone"])
        WindowFactory(clinic=where, weekdays=list(range(7)), start=time(7), end=time(8), services=["diamorphine"])
        ClosureFactory(clinic=where, date=date(2026, 12, 25 + n), services=["methadone"])
        ClosureFactory(clinic=where, date=date(2026, 1, 1), services=[])
    ClosureFactory(clinic=clinic, date=date(2026, 11, 26), reason="Thanksgiving")
    return [clinic, *others]


def test_load_reads_many_clinics_calendars_in_two_queries_equal_to_one_by_one(clinic):
    clinics = _clinics(clinic)
    calendars = ClinicCalendars()
    with CaptureQueriesContext(connection) as ctx:
        calendars.load(clinics)
    assert len(ctx.captured_queries) == 2, [q["sql"] for q in ctx.captured_queries]
    for where in clinics:
        loaded, rules = calendars.get(where)
        assert loaded == calendar_for_clinic(where)  # the same windows and closures, in the same order
        assert rules == rules_for_clinic(where)
    assert calendars.get(clinics[0])[0].windows and calendars.get(clinics[-1])[0].windows == ()
    with CaptureQueriesContext(connection) as ctx:
        calendars.load(clinics)  # every one cached: nothing read again
        calendars.get(clinics[1])
    assert ctx.captured_queries == []


def test_rules_given_to_the_calendars_are_the_ones_they_hand_out(clinic):
    given = rules_for_clinic(clinic)
    calendars = ClinicCalendars(rules={clinic.pk: given})
    assert calendars.get(clinic)[1] is given  # not a parse of its own
    other = ClinicFactory(name="Calendar clinic without given rules")
    assert calendars.get(other)[1] == rules_for_clinic(other)


def _diamorphine_streak(where) -> Plan:  # noqa: ANN001
    """A diamorphine plan (the engine is always asked about its days) dosed on Monday, missed Tuesday to Thursday."""
    plan = PlanFactory(patient=PatientFactory(clinic=where), medication="diamorphine", doses_per_day=1, start_date=MON)
    generate(plan, MON, days=5)
    for visit in Visit.objects.filter(plan=plan, date=MON):
        complete(visit)
    Visit.objects.filter(plan=plan, date__range=(TUE, THU)).update(status="missed", missed_at=at(THU, 11))
    return plan


def test_a_sweep_over_plans_at_many_clinics_reads_their_calendars_in_two_queries(clinic):
    clinics = _clinics(clinic)[:3]  # the three with diamorphine windows
    plans = [_diamorphine_streak(where) for where in clinics]
    sweep(at(FRI, 6))  # the day's first sweep: every plan in a streak evaluated
    escalations = sorted(Escalation.objects.filter(plan__in=plans).values_list("plan_id", "kind", "anchor_date"))
    assert {plan_id for plan_id, _, _ in escalations} == {plan.pk for plan in plans}  # the ladder did climb
    # A later sweep with each plan's Thursday visit newly overdue: three plans at three clinics, the engine asked.
    Visit.objects.filter(plan__in=plans, date=THU).update(status="scheduled", missed_at=None)
    with CaptureQueriesContext(connection) as ctx:
        result = sweep(at(FRI, 7))
    assert result.missed == len(plans) and result.plans_evaluated == len(plans)
    sql = [q["sql"] for q in ctx.captured_queries]
    assert len([q for q in sql if any(table in q for table in CALENDAR_TABLES)]) == 2, sql
    assert (
        sorted(Escalation.objects.filter(plan__in=plans).values_list("plan_id", "kind", "anchor_date")) == escalations
    )
