"""visits_generate for N daily patients × 28 days against a raw COPY of the same rows.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/dw_bench .venv/bin/python bench/generate.py [--size full]

Sides, each into the same table with the same indexes, emptied of these rows (and vacuumed) before each run:
  generate  visits_generate(clinic_ids=[bench clinic], today=…, horizon_days=28): the engine for every plan,
            reconciliation against existing rows, bulk insert, the id look-up and the audit entry.
  baseline  the rows generate made, written back with psycopg 3 `cursor.copy` (COPY … FROM STDIN),
            one write_row per row — the floor for getting these rows into PostgreSQL from Python.
Target: generate ≤ 1.3 × baseline (issue #16). Also reported, without a baseline, two steady states, runs that find
every row already there: the hourly job on an unchanged calendar (every plan's fingerprint matches: skipped), and
the day's first run (fingerprints cleared, as a new day changes them: every plan simulated and reconciled).
"""

from __future__ import annotations

import sys
import time
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

SIZES = {"tiny": 50, "small": 1000, "full": 5000}
HORIZON = 28
CLINIC = "Bench generate"
TARGET = 1.3


def _daily_plans(clinic: Any, patients: int, today: Any, *, distinct: bool = False) -> list[Any]:
    """Daily methadone patients in treatment for two months: a visit every open day, Sunday a take-home.

    All of them alike, so generation simulates one plan shape for the clinic (visits.generation._Shapes). With
    `distinct`, each patient started treatment on a day of their own (60 days ago and earlier, one day apart): no two
    plans share a shape, the take-home days differ with time in treatment, and no engine answer is reused."""
    from scheduler.models import Patient, Plan

    rows = Patient.objects.bulk_create(
        [
            Patient(
                clinic=clinic,
                mrn=f"GEN{n:07d}",
                first_name="Alex",
                last_name=f"Daily{n}",
                phone=f"+1212556{n % 10000:04d}",
                sms_consent=True,
            )
            for n in range(patients)
        ],
        batch_size=5000,
    )
    return Plan.objects.bulk_create(
        [
            Plan(
                patient=p,
                medication="methadone",
                start_date=today,
                treatment_start=today - timedelta(days=60 + (n if distinct else 0)),
                attendance_weekdays=list(range(7)),
                status="active",
            )
            for n, p in enumerate(rows)
        ],
        batch_size=5000,
    )


def _generate(clinic: Any, today: Any, cpu: list[float] | None = None) -> tuple[float, int, int]:
    """`cpu`: the run's process CPU is appended (every thread's: the engine thread works while PostgreSQL writes)."""
    from visits.generation import visits_generate

    started = time.process_time()
    with count_queries() as queries, Timer() as t:
        result = visits_generate(clinic_ids=[clinic.pk], today=today, horizon_days=HORIZON)
    if cpu is not None:
        cpu.append(time.process_time() - started)
    return t.seconds, result.created, queries[0]


def _copy(rows: list[tuple[Any, ...]], columns: tuple[str, ...]) -> float:
    from django.db import connection, transaction

    sql = "COPY visits_visit ({}) FROM STDIN".format(", ".join(f'"{c}"' for c in columns))
    with Timer() as t, transaction.atomic(), connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row(row)
    return t.seconds


def _clear(clinic: Any) -> int:
    from visits.models import Visit

    deleted = Visit.objects.filter(clinic=clinic)._raw_delete("default")  # no cascade to collect: fresh rows
    _forget_fingerprints(clinic)
    vacuum("visits_visit")
    return deleted


def _forget_fingerprints(clinic: Any) -> None:
    """As a new day does: every plan is generated again (the rows' summary would make it so anyway)."""
    from scheduler.models import Plan

    Plan.objects.filter(patient__clinic=clinic).update(generated_fingerprint="")


def _run_figures(name: str, run: tuple[float, int, int], patients: int) -> dict[str, Any]:
    """A reported run without a baseline: seconds, visits created, queries and milliseconds a plan."""
    seconds, created, queries = run
    return {
        f"{name}_seconds": round(seconds, 3),
        f"{name}_created": created,
        f"{name}_queries": queries,
        f"{name}_ms_per_plan": round(seconds * 1000 / patients, 4),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = parser(__doc__.splitlines()[0], SIZES, "full")
    p.add_argument(
        "--distinct", action="store_true", help="Every plan a shape of its own (no engine answer reused: _daily_plans)."
    )
    args = p.parse_args(argv or [])
    from django.utils import timezone

    from scheduler.management.commands.seed_scale import VISIT_COLUMNS
    from scheduler.timeutil import local_date
    from visits.models import Visit

    patients = SIZES[args.size]
    repeat = args.repeat or (1 if args.size == "tiny" or in_transaction() else 3)
    figures: dict[str, Any] = {
        "bench": "generate",
        "size": args.size,
        "patients": patients,
        "horizon_days": HORIZON,
        "plan_shapes": "distinct" if args.distinct else "same",
        "machine": machine(),
    }
    clinic = bench_clinic(CLINIC, patients)
    try:
        today = local_date(timezone.now(), clinic.timezone)
        _daily_plans(clinic, patients, today, distinct=args.distinct)
        vacuum("scheduler_patient", "scheduler_plan")
        gen_times, copy_times, gen_cpu = [], [], []
        # First run makes the rows the baseline copies; later runs alternate copy/generate on an emptied table.
        with maybe_profile(args.profile, "generate"):
            seconds, created, queries = _generate(clinic, today, gen_cpu)
        gen_times.append(seconds)
        rows = list(Visit.objects.filter(clinic=clinic).order_by("id").values_list(*VISIT_COLUMNS))
        for _ in range(repeat):
            _clear(clinic)
            copy_times.append(_copy(rows, VISIT_COLUMNS))
            copied = Visit.objects.filter(clinic=clinic).count()
            _clear(clinic)
            if len(gen_times) < repeat:
                seconds, again, _ = _generate(clinic, today, gen_cpu)
                assert again == created, (again, created)
                gen_times.append(seconds)
        # Steady states (no baseline, reported only): every visit already there.
        _generate(clinic, today)
        figures.update(_run_figures("steady_state", _generate(clinic, today), patients))
        _forget_fingerprints(clinic)
        figures.update(_run_figures("day_first_run", _generate(clinic, today), patients))
        figures.update(
            rows=created,
            copied_rows=copied,
            generate_queries=queries,
            generate_seconds=round(median(gen_times), 3),
            baseline_copy_seconds=round(median(copy_times), 3),
            generate_runs=[round(x, 3) for x in gen_times],
            generate_cpu_runs=[round(x, 3) for x in gen_cpu],
            copy_runs=[round(x, 3) for x in copy_times],
            rows_per_second=round(created / median(gen_times)) if gen_times[0] else None,
        )
        figures["ratio"] = ratio(median(gen_times), median(copy_times))
        figures["target"] = f"<= {TARGET}x"
        figures["met"] = figures["ratio"] <= TARGET
        figures["loadavg_at_end"] = machine()["loadavg_at_start"]
    finally:
        purge(clinic)
    return figures


if __name__ == "__main__":
    run_script(main)
