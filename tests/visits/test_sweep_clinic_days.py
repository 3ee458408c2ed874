"""Issue #16: the sweep's evaluation takes each clinic's local date and parsed rules from the sweep's own clinic read
(`_clinic_days`): it no longer reads the clinics of its plans again, nor a clinic's whole calendar (windows, three
years of closures) only to learn its rules. The escalations and decisions are the same as the evaluation reading
its own clinics; a calendar is still read for a plan the engine is asked about (never dosed, diamorphine, paused)."""

from __future__ import annotations

from datetime import date, datetime, time

from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from scheduler.models import Plan
from tests.factories import ClinicFactory, PatientFactory, PlanFactory, WindowFactory
from tests.visits.missed.conftest import at, complete, generate, sweep
from visits import missed
from visits.models import Escalation, Visit

MON, TUE, WED, THU, FRI = (date(2026, 11, d) for d in range(2, 7))
CALENDAR_TABLES = ('"scheduler_dosingwindow"', '"scheduler_closure"')


def _streak(plan: Plan, *, dosed: bool = True, since: date = TUE) -> None:
    """Dosed on Monday (or never; and up to `since`), then missed from `since` to Thursday."""
    generate(plan, MON, days=5)
    visits = list(Visit.objects.filter(plan=plan, date__lt=since).order_by("date", "session"))
    for visit in visits if dosed else []:
        complete(visit)
    Visit.objects.filter(plan=plan, date__range=(since, THU)).update(status="missed", missed_at=at(THU, 11))


def _chain(clinic) -> list[int]:  # noqa: ANN001
    others = [ClinicFactory(name=f"Chain clinic {n}", timezone="America/Los_Angeles") for n in range(3)]
    plans = []
    for n, where in enumerate([clinic, *others]):
        if where is not clinic:
            WindowFactory(clinic=where, weekdays=list(range(7)), start=time(7), end=time(10), services=["methadone"])
        # Never dosed: the engine is asked (its calendar read); one day missed: a check-in text.
        for dosed, since in ((True, TUE), (n % 2 == 1, TUE), (True, THU)):
            plan = PlanFactory(patient=PatientFactory(clinic=where), start_date=MON)
            _streak(plan, dosed=dosed, since=since)
            plans.append(plan.pk)
    return plans


def _outcome(now: datetime, plan_ids: list[int], *, clinic_days: bool) -> tuple[list[tuple], list[missed.Decision]]:
    """The escalations and decisions of one evaluation, rolled back."""
    with transaction.atomic():
        days = missed._clinic_days(now) if clinic_days else ()
        newly = {pk: Visit.objects.filter(plan_id=pk, status="missed").latest("date").pk for pk in plan_ids}
        result = missed.escalations_evaluate(now=now, plan_ids=plan_ids, newly_missed=newly, clinic_days=days)
        rows = sorted(
            Escalation.objects.filter(plan_id__in=plan_ids).values_list(
                "plan_id", "kind", "anchor_date", "reason", "consecutive_missed", "visit_id", "clinic_id"
            )
        )
        transaction.set_rollback(True)
    return rows, sorted(result.decisions, key=lambda d: d.plan_id)


def test_the_evaluation_with_the_sweeps_clinic_read_raises_the_same_escalations(clinic):
    plans = _chain(clinic)
    for now in (at(FRI, 6), at(FRI, 12), at(THU, 23, 30)):  # 03:00, 09:00 and 20:30 in Los Angeles
        with_days = _outcome(now, plans, clinic_days=True)
        assert with_days == _outcome(now, plans, clinic_days=False)
        assert with_days[0] and with_days[1]  # the ladder did climb: the comparison is not of two empty lists


def test_a_steady_sweep_reads_no_calendar_for_plans_the_engine_is_not_asked_about(clinic):
    others = [ClinicFactory(name=f"Chain clinic {n}", timezone="America/Chicago") for n in range(4)]
    plans = []
    for where in [clinic, *others]:
        WindowFactory(clinic=where, weekdays=list(range(7)), start=time(7), end=time(10), services=["methadone"])
        plan = PlanFactory(patient=PatientFactory(clinic=where), start_date=MON)
        _streak(plan)
        plans.append(plan)
    sweep(at(FRI, 6))  # the day's first sweep: every plan in a streak evaluated
    # A later sweep with one visit of each clinic newly overdue: five plans at five clinics evaluated.
    Visit.objects.filter(plan__in=plans, date=THU).update(status="scheduled", missed_at=None)
    with CaptureQueriesContext(connection) as ctx:
        result = sweep(at(FRI, 7))
    assert result.missed == len(plans) and result.plans_evaluated == len(plans)
    sql = [q["sql"] for q in ctx.captured_queries]
    assert not [q for q in sql if any(table in q for table in CALENDAR_TABLES)], sql
    # The clinics are read once, by the sweep's clinic read: not again, one by one or in bulk, by the evaluation.
    assert len([q for q in sql if "scheduler_clinic" in q]) == 1, sql
