"""Today board, visit list, availability and booking under load: locust (headless) against gunicorn on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/dw_bench REDIS_URL=redis://127.0.0.1:6379/9 \\
        .venv/bin/python bench/api_load.py [--size full] [--users 10] [--seconds 60]

`full` uses the seed_scale data (≈1M visits) and its first clinic (≈4,300 patients, ≈1,800 visits today);
`tiny` seeds a small clinic of its own. gunicorn runs `config.wsgi` with 2 sync workers (one per core),
DEBUG off, throttling raised out of the way (THROTTLE_USER) so it cannot turn load into 429s.
One locust run mixes all endpoints, closed loop, no think time. Baseline, measured in the same run under
the same load: GET /api/v1/clinics/<id>/ — the smallest DRF endpoint behind the same token authentication,
staff permission, clinic scoping, throttle and serializer. (/health/ is not DRF and pings Redis; adding a
no-op endpoint to the app was ruled out.) Target: every endpoint's p95 ≤ 3 × the baseline's p95, zero errors.
Locust and gunicorn share the 2 cores; that load is in both sides of the ratio.
"""

from __future__ import annotations

import csv
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import date, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._clock import offset_env
from bench._common import ROOT, count_queries, machine, parser, run_script

SIZES = {"tiny": {"users": 4, "seconds": 6}, "full": {"users": 10, "seconds": 60}}
TARGET = 3.0
TINY_PREFIX = "Bench api"
BASELINE = "baseline: GET /api/v1/clinics/<id>/"


def _credentials(clinic: Any) -> tuple[str, str, Any]:
    """A front-desk user of the clinic with an API token and a logged-in session."""
    from django.contrib.auth import get_user_model
    from django.contrib.sessions.backends.db import SessionStore
    from rest_framework.authtoken.models import Token

    from scheduler.models import StaffProfile

    user, made = get_user_model().objects.get_or_create(username="bench_api_front_desk")
    if made:
        StaffProfile.objects.create(user=user, role="front_desk")
    user.staff.clinics.add(clinic)
    token, _ = Token.objects.get_or_create(user=user)
    session = SessionStore()
    session["_auth_user_id"] = str(user.pk)
    session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
    session["_auth_user_hash"] = user.get_session_auth_hash()
    session.set_expiry(3600)
    session.create()
    return token.key, session.session_key or "", user


def _weekdays(start: Any, count: int) -> list[str]:
    days, d = [], start
    while len(days) < count:
        if d.weekday() < 5:
            days.append(d.isoformat())
        d += timedelta(days=1)
    return days


def _query_counts(clinic: Any, today: Any, token: str, session: str) -> dict[str, int]:
    """Queries per request for each read endpoint (in-process test client)."""
    from django.test import Client

    client = Client(HTTP_AUTHORIZATION=f"Token {token}")
    client.cookies["sessionid"] = session
    urls = {
        "baseline": f"/api/v1/clinics/{clinic.pk}/",
        "today_board": f"/clinics/{clinic.pk}/today/",
        "visit_list": f"/api/v1/visits/?clinic={clinic.pk}&date={today}",
        "availability": f"/api/v1/clinics/{clinic.pk}/availability/?date={today}&service=methadone",
    }
    out = {}
    for name, url in urls.items():
        client.get(url)
        with count_queries() as queries:
            status = client.get(url).status_code
        out[name] = queries[0] if status == 200 else -status
    return out


def _serve(env: dict[str, str], port: int) -> Any:
    from bench._worker import Proc

    args = [
        str(ROOT / ".venv/bin/python"),
        "-m",
        "bench._clock",
        "gunicorn",
        "config.wsgi",
        "-w",
        "2",
        "-b",
        f"127.0.0.1:{port}",
        "--access-logfile",
        "-",
        "--log-level",
        "warning",
        "--timeout",
        "60",
    ]
    proc = Proc(args, env, "gunicorn")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=2)  # noqa: S310 - local
            return proc
        except OSError:
            time.sleep(0.3)
    log = proc.log()[-3000:]
    proc.stop()
    raise RuntimeError(f"gunicorn did not start:\n{log}")


BOOK_PAIRS = 20_000  # far more than a run books (≈ 250 in 30 s at saturation)


def book_pairs(clinic: Any, dates: list[str]) -> list[tuple[int, str]]:
    """(patient, date) pairs for the mix's counselling bookings, the date varying fastest: only the days on which
    the patient has no visit at all. The chain's patients have doses and injections in the booking weeks, and a
    counselling visit that falls on one of their times is refused (409, "already booked at that time"): a bench
    error that grew with the throughput (more bookings a run reach further down the list)."""
    from scheduler.models import Patient
    from visits.models import Visit

    patients = list(Patient.objects.filter(clinic=clinic).order_by("id").values_list("id", flat=True))
    taken = set(
        Visit.objects.filter(patient__clinic=clinic, date__in=dates)
        .exclude(status="cancelled")
        .values_list("patient_id", "date")
    )
    pairs = [(p, d) for p in patients for d in dates if (p, date.fromisoformat(d)) not in taken]
    return pairs[:BOOK_PAIRS]


def locust_setup(clinic: Any, today: Any, token: str, session: str, prefix: str) -> tuple[Path, dict[str, str], int]:
    """The locust users' config (the clinic, its patients, booking dates, a token and a session) in a new folder,
    a free port and gunicorn's environment (the bench clock travels with it): shared by this bench and
    bench/cost_curve.py's saturation mix."""
    from django.conf import settings

    from bench._worker import database_url, free_port

    config = {
        "token": token,
        "session": session,
        "clinic": clinic.pk,
        "today": today.isoformat(),
        "book_pairs": book_pairs(clinic, _weekdays(today + timedelta(days=14), 40)),
    }
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    (workdir / "config.json").write_text(json.dumps(config))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "DEBUG": "0",
        "THROTTLE_USER": "1000000/min",
        "LOG_LEVEL": "WARNING",
        "BENCH_LOCUST_CONFIG": str(workdir / "config.json"),
        **offset_env(),
    }
    return workdir, env, free_port()


def run_locust(
    env: dict[str, str], port: int, users: int, seconds: int, prefix: str, locustfile: str = "locustfile.py"
) -> dict[str, Any]:
    """One headless locust run of `bench/<locustfile>` against the server on `port` (closed loop, `users` at
    once, no think time); its per-endpoint stats."""
    cmd = [
        str(ROOT / ".venv/bin/locust"),
        "-f",
        str(ROOT / "bench" / locustfile),
        "--headless",
        "-u",
        str(users),
        "-r",
        str(users),
        "-t",
        f"{seconds}s",
        "--host",
        f"http://127.0.0.1:{port}",
        "--csv",
        prefix,
        "--only-summary",
        "--loglevel",
        "WARNING",
    ]
    subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, timeout=seconds + 120, check=False)  # noqa: S603
    return _stats(prefix)


def _stats(prefix: str) -> dict[str, dict[str, Any]]:
    rows = {}
    with open(f"{prefix}_stats.csv") as f:
        for row in csv.DictReader(f):
            rows[row["Name"]] = {
                "requests": int(row["Request Count"]),
                "failures": int(row["Failure Count"]),
                "p50_ms": float(row["50%"] or 0),
                "p95_ms": float(row["95%"] or 0),
                "rps": round(float(row["Requests/s"]), 1),
            }
    return rows


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = parser(__doc__.splitlines()[0], SIZES, "full")
    p.add_argument("--users", type=int, default=None)
    p.add_argument("--seconds", type=int, default=None)
    args = p.parse_args(argv or [])
    from django.utils import timezone

    from scheduler.management.commands.seed_scale import SCALE_PREFIX, clinics_purge, seed
    from scheduler.models import Clinic
    from scheduler.timeutil import local_date
    from visits.models import Visit

    users = args.users or SIZES[args.size]["users"]
    seconds = args.seconds or SIZES[args.size]["seconds"]
    figures: dict[str, Any] = {
        "bench": "api_load",
        "size": args.size,
        "users": users,
        "seconds": seconds,
        "machine": machine(),
    }
    own: list[int] = []
    if args.size == "tiny":
        clinics_purge(list(Clinic.objects.filter(name__startswith=TINY_PREFIX).values_list("id", flat=True)))
        seed(clinics=1, patients=80, days=14, future=3, rng=random.Random(5), now=timezone.now(), prefix=TINY_PREFIX)
        own = list(Clinic.objects.filter(name__startswith=TINY_PREFIX).values_list("id", flat=True))
        clinic = Clinic.objects.get(pk=own[0])
    else:
        clinic = Clinic.objects.filter(name__startswith=SCALE_PREFIX).order_by("id").first()
        if clinic is None:
            raise SystemExit("No scale data: run manage.py seed_scale --clinics 5 --patients 21500 --days 90 first.")
    started = timezone.now()
    gunicorn = None
    try:
        today = local_date(timezone.now(), clinic.timezone)
        token, session, _ = _credentials(clinic)
        figures["queries_per_request"] = _query_counts(clinic, today.isoformat(), token, session)
        figures["visits_today"] = Visit.objects.filter(clinic=clinic, date=today).count()
        figures["visits_in_database"] = Visit.objects.count()
        workdir, env, port = locust_setup(clinic, today, token, session, "dosewise-locust-")
        gunicorn = _serve(env, port)
        stats = run_locust(env, port, users, seconds, str(workdir / "api"))
        figures["endpoints"] = {k: v for k, v in stats.items() if k != "Aggregated"}
        base = stats[BASELINE]["p95_ms"] or 1.0
        figures["p95_ratio"] = {
            k: round(v["p95_ms"] / base, 2) for k, v in figures["endpoints"].items() if k != BASELINE
        }
        figures["failures"] = stats.get("Aggregated", {}).get("failures", -1)
        figures["bookings_made"] = Visit.objects.filter(
            clinic=clinic, source="manual", kind="counselling", created__gte=started
        ).count()
        figures["target"] = f"p95 <= {TARGET}x baseline p95, zero errors"
        figures["met"] = figures["failures"] == 0 and all(r <= TARGET for r in figures["p95_ratio"].values())
        figures["loadavg_at_end"] = machine()["loadavg_at_start"]
    finally:
        if gunicorn is not None:
            gunicorn.stop()
        Visit.objects.filter(clinic=clinic, source="manual", kind="counselling", created__gte=started).delete()
        clinics_purge(own)
    return figures


if __name__ == "__main__":
    run_script(main)
