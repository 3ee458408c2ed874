"""The attendance report (web/selectors.py) for one clinic over 90 days against the raw SQL aggregates.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/dw_bench .venv/bin/python bench/report.py [--size full]

`full` reads the seed_scale data (≈1M visits: `manage.py seed_scale --clinics 5 --patients 21500 --days 90`)
and reports on its first clinic; `tiny` seeds a small clinic of its own and removes it afterwards.
The report is what the manager dashboard and the attendance CSV compute: attendance_summary,
attendance_by_week, attendance_by_medication and attendance_by_patient. The baseline is the same four
aggregates written by hand in SQL and run on the same cursor. Each side runs once to warm the cache,
then `repeat` times alternating; medians are compared. Target: report ≤ 1.5 × baseline.
Also measured (no target): the dashboard page and the CSV over HTTP through Django's test client.
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
    count_queries,
    machine,
    maybe_profile,
    median,
    parser,
    ratio,
    read_bench_clinic,
    run_script,
)

SIZES = {"tiny": (1, 120, 30), "full": None}
DAYS = 90
TARGET = 1.5
TINY_PREFIX = "Bench report"

_FILTERS = """
    count(*) FILTER (WHERE v.status <> 'cancelled') AS expected,
    count(*) FILTER (WHERE v.status = 'completed') AS completed,
    count(*) FILTER (WHERE v.status = 'missed') AS missed,
    count(*) FILTER (WHERE v.status = 'excused') AS excused,
    count(*) FILTER (WHERE v.status = 'cancelled') AS cancelled"""
RAW = {
    "summary": f"SELECT {_FILTERS} FROM visits_visit v WHERE v.clinic_id = %(c)s AND v.date BETWEEN %(a)s AND %(b)s",
    "by_week": f"""SELECT date_trunc('week', v.date)::date AS week, {_FILTERS} FROM visits_visit v
        WHERE v.clinic_id = %(c)s AND v.date BETWEEN %(a)s AND %(b)s GROUP BY 1 ORDER BY 1""",
    "by_medication": f"""SELECT coalesce(p.medication, v.kind) AS service, {_FILTERS} FROM visits_visit v
        LEFT JOIN scheduler_plan p ON p.id = v.plan_id
        WHERE v.clinic_id = %(c)s AND v.date BETWEEN %(a)s AND %(b)s GROUP BY 1 ORDER BY 1""",
    "by_patient": f"""SELECT v.patient_id, pt.mrn, pt.last_name, pt.first_name, {_FILTERS} FROM visits_visit v
        JOIN scheduler_patient pt ON pt.id = v.patient_id
        WHERE v.clinic_id = %(c)s AND v.date BETWEEN %(a)s AND %(b)s
        GROUP BY 1, 2, 3, 4 ORDER BY pt.last_name, pt.first_name, v.patient_id""",
}


def _report(clinic: Any, date_from: Any, date_to: Any) -> dict[str, Any]:
    from web import selectors

    span = {"clinic": clinic, "date_from": date_from, "date_to": date_to}
    return {
        "summary": selectors.attendance_summary(**span),
        "by_week": selectors.attendance_by_week(**span),
        "by_medication": selectors.attendance_by_medication(**span),
        "by_patient": selectors.attendance_by_patient(**span),
    }


def _raw(clinic: Any, date_from: Any, date_to: Any) -> dict[str, list[tuple[Any, ...]]]:
    from django.db import connection

    out = {}
    with connection.cursor() as cursor:
        for name, sql in RAW.items():
            cursor.execute(sql, {"c": clinic.pk, "a": date_from, "b": date_to})
            out[name] = cursor.fetchall()
    return out


def _same(report: dict[str, Any], raw: dict[str, list[tuple[Any, ...]]]) -> bool:
    """The two sides agree on every count (so the baseline does the same work)."""
    keys = ("expected", "completed", "missed", "excused", "cancelled")
    s = report["summary"]
    if tuple(s[k] for k in keys) != raw["summary"][0]:
        return False
    weeks = [(r["week"], *(r[k] for k in keys)) for r in report["by_week"]]
    meds = [(r["service"], *(r[k] for k in keys)) for r in report["by_medication"]]
    patients = [(r["patient_id"], *(r[k] for k in keys)) for r in report["by_patient"]]
    return (
        weeks == [tuple(r) for r in raw["by_week"]]
        and meds == [tuple(r) for r in raw["by_medication"]]
        and patients == [(r[0], *r[4:]) for r in raw["by_patient"]]
    )


def _pages(clinic: Any, date_from: Any, date_to: Any) -> dict[str, Any]:
    from django.contrib.auth import get_user_model
    from django.test import Client

    from scheduler.models import StaffProfile

    user_model = get_user_model()
    user, made = user_model.objects.get_or_create(username="bench_report_manager")
    if made:
        StaffProfile.objects.create(user=user, role="manager")
    user.staff.clinics.add(clinic)
    client = Client()
    client.force_login(user)
    query = f"?date_from={date_from.isoformat()}&date_to={date_to.isoformat()}"
    figures: dict[str, Any] = {}
    for name, url in (("dashboard", "dashboard/"), ("csv", "dashboard/attendance.csv")):
        client.get(f"/clinics/{clinic.pk}/{url}{query}")  # warm
        with count_queries() as queries, Timer() as t:
            response = client.get(f"/clinics/{clinic.pk}/{url}{query}")
        figures[f"{name}_status"] = response.status_code
        figures[f"{name}_seconds"] = round(t.seconds, 3)
        figures[f"{name}_queries"] = queries[0]
    return figures


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parser(__doc__.splitlines()[0], SIZES, "full").parse_args(argv or [])
    from django.utils import timezone

    from scheduler.management.commands.seed_scale import clinics_purge
    from scheduler.timeutil import local_date
    from visits.models import Visit

    repeat = args.repeat or (1 if args.size == "tiny" else 5)
    figures: dict[str, Any] = {"bench": "report", "size": args.size, "machine": machine()}
    clinic, own = read_bench_clinic(
        SIZES[args.size], prefix=TINY_PREFIX, future=3, rng_seed=3,
        hint="manage.py seed_scale --clinics 5 --patients 21500 --days 90",
    )
    try:
        date_to = local_date(timezone.now(), clinic.timezone)
        date_from = date_to - timedelta(days=DAYS - 1)
        figures.update(
            clinic_id=clinic.pk,
            date_from=date_from,
            date_to=date_to,
            visits_in_database=Visit.objects.count(),
            visits_in_report=Visit.objects.filter(clinic=clinic, date__range=(date_from, date_to)).count(),
        )
        report, raw = _report(clinic, date_from, date_to), _raw(clinic, date_from, date_to)  # warm the cache
        orm_times, raw_times = [], []
        for run in range(repeat):
            with maybe_profile(args.profile and run == 0, "report"), count_queries() as queries, Timer() as t:
                report = _report(clinic, date_from, date_to)
            orm_times.append(t.seconds)
            with Timer() as t:
                raw = _raw(clinic, date_from, date_to)
            raw_times.append(t.seconds)
        figures.update(
            report_queries=queries[0],
            baseline_queries=len(RAW),
            same_numbers=_same(report, raw),
            patients_in_report=len(report["by_patient"]),
            weeks=len(report["by_week"]),
            attendance_rate=report["summary"]["attendance_rate"],
            report_seconds=round(median(orm_times), 4),
            baseline_sql_seconds=round(median(raw_times), 4),
            report_runs=[round(x, 4) for x in orm_times],
            baseline_runs=[round(x, 4) for x in raw_times],
        )
        figures["ratio"] = ratio(median(orm_times), median(raw_times))
        figures["target"] = f"<= {TARGET}x"
        figures["met"] = figures["ratio"] <= TARGET
        figures["http"] = _pages(clinic, date_from, date_to)
        figures["loadavg_at_end"] = machine()["loadavg_at_start"]
    finally:
        clinics_purge(own)
    return figures


if __name__ == "__main__":
    run_script(main)
