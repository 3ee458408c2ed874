"""The missed sweep (visits_mark_missed, escalations included) against one raw UPDATE of the same rows.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/dw_bench_jobs .venv/bin/python bench/missed_sweep.py [--size full]

The sweep looks at every clinic, so run it on a database without other overdue visits (not the seed_scale
one): it refuses otherwise. Data: daily methadone plans with a week of generated, attended history; half of
the overdue visits are one missed day each (a check-in decision), the other half are four-day streaks
(outreach, hold and clinician review escalations). Sides, each on the same rows reset to `scheduled`:
  sweep     visits_mark_missed(now=…): claim the overdue visits with one UPDATE … RETURNING a page of 5,000
            (picked in (end, id) order, SELECT … FOR UPDATE SKIP LOCKED, compare-and-swap), evaluate every
            affected plan's ladder, insert escalations, write the audit entry.
  baseline  UPDATE visits_visit SET status='missed' … WHERE status='scheduled' AND "end" <= now - grace.
Every timed sweep is the clinic's first of the day (its EscalationDay is reset with the rows): it also searches
every plan in a streak (issue #16). Target: sweep ≤ 2.5 × baseline.
Also reported: `steady_sweep`, a later sweep of the same day with nothing newly overdue or recently missed
(issue #16: it evaluates no plan, in a fixed number of queries).
"""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (
    Timer,
    bench_clinic,
    count_queries,
    in_transaction,
    machine,
    maybe_profile,
    median,
    parser,
    purge,
    ratio,
    run_script,
    vacuum,
)

SIZES = {"tiny": 200, "small": 5000, "full": 20000}
CLINIC = "Bench missed sweep"
HISTORY_DAYS = 8
STREAK = 4
GRACE_MINUTES = 60
TARGET = 2.5


def _layout(overdue: int) -> tuple[int, int]:
    """(single-day plans, streak plans) so that singles + STREAK × streaks == overdue, half each."""
    streaks = overdue // (2 * STREAK)
    return overdue - STREAK * streaks, streaks


def _setup(clinic: Any, overdue: int, today: Any) -> tuple[list[int], dict[str, int]]:
    """Plans with generated history; all past visits attended except each plan's last 1 or STREAK."""
    from scheduler.models import Closure, DosingWindow, Patient, Plan
    from visits.generation import visits_generate
    from visits.models import Visit

    singles, streaks = _layout(overdue)
    patients = Patient.objects.bulk_create(
        [
            Patient(clinic=clinic, mrn=f"MS{n:07d}", first_name="Sam", last_name=f"Sweep{n}", sms_consent=False)
            for n in range(singles + streaks)
        ],
        batch_size=5000,
    )
    start = today - timedelta(days=HISTORY_DAYS)
    # The layout counts STREAK missed days per streak plan. A holiday inside the history (Thanksgiving) would
    # add a closure day without medication to a streak and push it up the ladder (re-induction): the bench
    # clinic keeps its holidays everywhere else, but none in the days this bench lays out.
    Closure.objects.filter(clinic=clinic, date__range=(start - timedelta(days=1), today + timedelta(days=1))).delete()
    # Weekdays without a methadone window are closure days too (a Sunday): on a Monday the last missed Saturday
    # would leave Sunday uncovered and lengthen every streak. The bench's methadone windows run every day.
    for window in DosingWindow.objects.filter(clinic=clinic):
        if "methadone" in window.services and sorted(window.weekdays) != list(range(7)):
            window.weekdays = list(range(7))
            window.save(update_fields=["weekdays", "updated"])
    Plan.objects.bulk_create(
        [
            Plan(
                patient=p,
                medication="methadone",
                start_date=start,
                treatment_start=start - timedelta(days=200),
                attendance_weekdays=list(range(7)),
                status="active",
            )
            for p in patients
        ],
        batch_size=5000,
    )
    visits_generate(clinic_ids=[clinic.pk], today=start, horizon_days=HISTORY_DAYS)
    by_plan: dict[int, list[tuple[int, Any, int]]] = {}
    for pk, plan_id, day, doses in (
        Visit.objects.filter(clinic=clinic)
        .order_by("plan_id", "date")
        .values_list("id", "plan_id", "date", "expected_take_home_doses")
    ):
        by_plan.setdefault(plan_id, []).append((pk, day, doses))
    left: list[int] = []
    done: list[tuple[int, Any, int]] = []
    for n, rows in enumerate(by_plan.values()):
        keep = 1 if n < singles else STREAK
        left += [pk for pk, _, _ in rows[-keep:]]
        done += rows[:-keep]
    _complete(done)
    return sorted(left), {"plans": len(by_plan), "single_day_plans": singles, "streak_plans": streaks}


def _complete(rows: list[tuple[int, Any, int]]) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """UPDATE visits_visit v SET status = 'completed', take_home_doses = x.doses,
                      covered_through = v.date + x.doses, completed_at = v.start + interval '10 minutes'
               FROM unnest(%s::bigint[], %s::int[]) AS x(id, doses) WHERE v.id = x.id""",
            [[r[0] for r in rows], [r[2] for r in rows]],
        )


def _reset(clinic: Any, ids: list[int]) -> None:
    """The rows as `_setup` left them: every timed sweep meets the same worst case. Its holds suspend the streak
    patients' take-homes (`takehome_approved` false): approved again here, else a later run had none to suspend."""
    from scheduler.models import Plan
    from visits.models import Escalation, EscalationDay, Visit

    Visit.objects.filter(id__in=ids).update(status="scheduled", missed_at=None)
    Plan.objects.filter(patient__clinic=clinic, takehome_approved=False).update(
        takehome_approved=True, takehome_suspended_on=None
    )
    Escalation.objects.filter(clinic=clinic)._raw_delete("default")
    EscalationDay.objects.filter(clinic=clinic).delete()
    vacuum("visits_visit", "visits_escalation", "scheduler_plan")


def _baseline(clinic: Any, now: Any) -> tuple[float, int]:
    from django.db import connection, transaction

    with Timer() as t, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """UPDATE visits_visit SET status = 'missed', missed_at = %s, updated = %s
               WHERE clinic_id = %s AND status = 'scheduled' AND "end" <= %s""",
            [now, now, clinic.pk, now - timedelta(minutes=GRACE_MINUTES)],
        )
        changed = cursor.rowcount
    return t.seconds, changed


def _foreign_overdue(clinic: Any, now: Any) -> int:
    from visits.models import Visit

    cutoff = now - timedelta(minutes=GRACE_MINUTES)
    return Visit.objects.filter(status="scheduled", end__lte=cutoff).exclude(clinic=clinic).count()


def _steady(now: Any) -> dict[str, Any]:
    from visits.missed import visits_mark_missed

    with count_queries() as queries, Timer() as t:
        result = visits_mark_missed(now=now)
    return {"seconds": round(t.seconds, 3), "queries": queries[0], "plans_evaluated": result.plans_evaluated}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parser(__doc__.splitlines()[0], SIZES, "full").parse_args(argv or [])
    from django.db.models import Count
    from django.utils import timezone

    from scheduler.timeutil import local_date
    from visits.missed import RECHECK, visits_mark_missed
    from visits.models import Escalation, Visit

    overdue = SIZES[args.size]
    repeat = args.repeat or (1 if args.size == "tiny" or in_transaction() else 3)
    figures: dict[str, Any] = {"bench": "missed_sweep", "size": args.size, "overdue": overdue, "machine": machine()}
    clinic = bench_clinic(CLINIC, overdue)
    try:
        now = timezone.now()
        foreign = _foreign_overdue(clinic, now)
        if foreign:
            raise SystemExit(f"{foreign} overdue visits in other clinics: use a database of its own (dw_bench_jobs).")
        ids, layout = _setup(clinic, overdue, local_date(now, clinic.timezone))
        figures.update(layout)
        vacuum("visits_visit", "scheduler_plan")
        sweep_times, base_times, suspended = [], [], []
        for run in range(repeat):
            seconds, changed = _baseline(clinic, now)
            base_times.append(seconds)
            _reset(clinic, ids)
            with maybe_profile(args.profile and run == 0, "missed_sweep"), count_queries() as queries, Timer() as t:
                result = visits_mark_missed(now=now)
            sweep_times.append(t.seconds)
            suspended.append(len(result.suspended_plan_ids))
            escalations = dict(Escalation.objects.filter(clinic=clinic).values_list("kind").annotate(n=Count("id")))
            missed_rows = Visit.objects.filter(id__in=ids, status="missed").count()
            if run == 0:
                again = visits_mark_missed(now=now)
                figures["second_sweep"] = {"missed": again.missed, "escalations_created": again.escalations_created}
                figures["steady_sweep"] = _steady(now + RECHECK + timedelta(minutes=5))
            _reset(clinic, ids)
        figures.update(
            baseline_rows=changed,
            missed=result.missed,
            missed_rows=missed_rows,
            plans_evaluated=result.plans_evaluated,
            escalations_created=result.escalations_created,
            escalations_by_kind=escalations,
            checkin_decisions=len(result.decisions),
            failed_plans=len(result.failed_plan_ids),
            takehomes_suspended_runs=suspended,
            sweep_queries=queries[0],
            sweep_seconds=round(median(sweep_times), 3),
            baseline_update_seconds=round(median(base_times), 3),
            sweep_runs=[round(x, 3) for x in sweep_times],
            baseline_runs=[round(x, 3) for x in base_times],
        )
        figures["ratio"] = ratio(median(sweep_times), median(base_times))
        figures["target"] = f"<= {TARGET}x"
        figures["met"] = figures["ratio"] <= TARGET
        figures["loadavg_at_end"] = machine()["loadavg_at_start"]
    finally:
        purge(clinic)
    return figures


if __name__ == "__main__":
    run_script(main)
