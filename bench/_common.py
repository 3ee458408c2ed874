"""Shared helpers for the bench scripts: Django setup, timers, the machine, query counts, bench clinics.

Every script measures its baseline in the same run on the same rows and reports the ratio: the
machine is shared (other test suites run beside it), so absolute seconds move, ratios much less.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def setup_django() -> None:
    """For running a script directly; under pytest Django is already set up."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django
    from django.apps import apps

    from bench._clock import travel_from_env

    travel_from_env()  # a drill's helper process shares the clock of the test that started it
    if not apps.ready:
        django.setup()


def run_script(main: Callable[[list[str]], dict[str, Any]]) -> None:
    setup_django()
    figures = main(sys.argv[1:])
    print(json.dumps(figures, indent=2, default=str))  # noqa: T201


def parser(description: str, sizes: dict[str, Any], default: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--size", choices=sorted(sizes), default=default)
    p.add_argument("--profile", action="store_true", help="Profile the measured code with pyinstrument.")
    p.add_argument("--repeat", type=int, default=None, help="Timed runs of each side (median is reported).")
    return p


def loadavg() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def machine() -> dict[str, Any]:
    from django.db import connection

    mem_gb = None
    try:
        with open("/proc/meminfo") as f:
            mem_gb = round(int(f.readline().split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        pg = cursor.fetchone()[0]
    return {
        "nproc": os.cpu_count(),
        "memory_gb": mem_gb,
        "postgres": pg,
        "python": platform.python_version(),
        "loadavg_at_start": loadavg(),
        "when": datetime.now().isoformat(timespec="seconds"),
    }


class Timer:
    def __init__(self) -> None:
        self.seconds = 0.0

    def __enter__(self) -> Timer:
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._t0


@contextmanager
def maybe_profile(enabled: bool, name: str) -> Iterator[None]:
    if not enabled:
        yield
        return
    from pyinstrument import Profiler

    profiler = Profiler()
    profiler.start()
    try:
        yield
    finally:
        profiler.stop()
        out = ROOT / "var" / f"profile-{name}.html"
        out.parent.mkdir(exist_ok=True)
        out.write_text(profiler.output_html())
        print(profiler.output_text(unicode=False, color=False, show_all=False)[:6000])  # noqa: T201
        print(f"pyinstrument report: {out}")  # noqa: T201


@contextmanager
def count_queries() -> Iterator[list[int]]:
    """Counts queries on the default connection (also when DEBUG is off); yields a one-item list."""
    from django.db import connection

    box = [0]

    def counter(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        box[0] += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(counter):
        yield box


def median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def in_transaction() -> bool:
    """True under a pytest `db` test (everything is one transaction): no VACUUM, no commits to wait for."""
    from django.db import connection

    return connection.in_atomic_block


def vacuum(*tables: str) -> None:
    """Clear dead rows between runs so each side meets the same table; skipped inside a transaction."""
    from django.db import connection

    if in_transaction():
        return
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"VACUUM ANALYZE {table}")


def bench_clinic(name: str, size: int) -> Any:
    """A fresh clinic for one bench (seed_scale's windows and holidays), replacing one left by a crash."""
    from django.utils import timezone

    from scheduler.management.commands.seed_scale import clinic_create, clinics_purge
    from scheduler.models import Clinic

    clinics_purge(list(Clinic.objects.filter(name=name).values_list("id", flat=True)))
    return clinic_create(name=name, index=0, size=size, now=timezone.now())


def purge(clinic: Any) -> None:
    from scheduler.management.commands.seed_scale import clinics_purge

    clinics_purge([clinic.pk])


def ratio(measured: float, baseline: float) -> float:
    return round(measured / baseline, 2) if baseline > 0 else float("inf")


def read_bench_clinic(
    seed_size: tuple[int, int, int] | None, *, prefix: str, future: int, rng_seed: int, hint: str
) -> tuple[Any, list[int]]:
    """The clinic a read bench measures, and the ids of the clinics it seeded (to purge at the end): with a
    `seed_size` (clinics, patients, days) a fresh small chain under `prefix` (an earlier one purged first);
    without, the first clinic of `manage.py seed_scale`'s data (`hint` says how to make it)."""
    import random

    from django.utils import timezone

    from scheduler.management.commands.seed_scale import SCALE_PREFIX, clinics_purge, seed
    from scheduler.models import Clinic

    if seed_size is None:
        clinic = Clinic.objects.filter(name__startswith=SCALE_PREFIX).order_by("id").first()
        if clinic is None:
            raise SystemExit(f"No scale data: run {hint} first.")
        return clinic, []
    clinics, patients, days = seed_size
    clinics_purge(list(Clinic.objects.filter(name__startswith=prefix).values_list("id", flat=True)))
    seed(clinics=clinics, patients=patients, days=days, future=future, rng=random.Random(rng_seed),
         now=timezone.now(), prefix=prefix)
    own = list(Clinic.objects.filter(name__startswith=prefix).values_list("id", flat=True))
    return Clinic.objects.get(pk=own[0]), own
