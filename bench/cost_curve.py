"""Cost curves (issue #16): each path's service time at concurrency 1, beside the trivial endpoint's, per table size.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/dw_chain .venv/bin/python bench/cost_curve.py \\
        [--size full] [--requests 200] [--label 15m] [--saturation] [--seconds 60]
    .venv/bin/python bench/cost_curve.py --plot          # the PNG and the table from every stored run

`full` reads the seed_scale data (`manage.py seed_scale --scale 1m|5m|15m`) and its first clinic; `tiny` seeds a
small clinic of its own and removes it afterwards. Paths: the today board (one page of rows) and its live counts, the
visit list for a day, availability, booking, the patient page, patient search, the attendance report over 90 and 365
days, and issue #17's retention report (the clinic's whole history) and drift list (the escalations page); the
baseline is the trivial endpoint `GET /api/v1/clinics/<id>/` (token authentication, staff permission, clinic
scoping, throttle, serializer: what every request pays).

**Service time, not latency under load.** Requests are sent one at a time through Django's test client in this
process (DEBUG off, the full middleware stack, real PostgreSQL and Redis): no server, no queue, no network, so a
figure is what the request costs, and the queries of the very request timed can be counted. gunicorn would add a
constant HTTP parse and socket write to every path and the baseline alike, and its own process's CPU to the noise;
the saturation mix below is where gunicorn is measured. The paths are interleaved round-robin (one request of each
per round), so a change in the machine's load falls on every path and the baseline alike; p50 and p95 of
`--requests` rounds (≥ 200 for a figure), after a warm-up round and a round that counts each path's queries.

Also: the 365-day report's selectors against the same aggregates in raw SQL (bench/report.py's, same numbers
checked), and with `--saturation` requests per second at saturation with 2 gunicorn workers: the mixed front-desk and
dosing-room workload (bench/locustfile.py) against the trivial endpoint alone (bench/locustfile_trivial.py), same
users, same seconds, zero errors expected.

Each run is stored as var/cost_curve/<label>.json; `--plot` draws var/cost_curve.png (service time ÷ baseline and
p50 in ms against the visits in the table, one line a path) and prints the Markdown table for BENCHMARKS.md.
Targets (issue #16): growth 1M → 15M ≤ 1.2× for every path; each ≤ 5× the baseline at 15M; the 365-day report
≤ 1.5× its raw SQL; saturation rps ≥ 0.5× the trivial endpoint's, zero errors.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# Before Django starts: service time without DEBUG's query log, and no throttle turning a long run into 429s.
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("THROTTLE_USER", "1000000/min")

from bench._common import ROOT, Timer, count_queries, machine, median, parser, ratio, read_bench_clinic, run_script

SIZES = {"tiny": {"requests": 12, "seed": (1, 80, 40), "seconds": 4}, "full": {"requests": 200, "seconds": 60}}
TINY_PREFIX = "Bench curve"
STORE = ROOT / "var" / "cost_curve"
PNG = ROOT / "var" / "cost_curve.png"
BASELINE = "baseline"
PATHS = (
    "baseline",
    "today_board",
    "today_counts",
    "visit_list",
    "availability",
    "booking",
    "patient_page",
    "patient_search",
    "report_90",
    "report_365",
    "retention",
    "drift_list",
)
TARGETS = {"growth": 1.2, "vs_baseline": 5.0, "report_vs_sql": 1.5, "saturation": 0.5}


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


class _Paths:
    """One request of a path at a time; bookings are distinct (patient, weekday) pairs and removed afterwards."""

    def __init__(self, clinic: Any, today: Any) -> None:
        from django.test import Client

        from bench.api_load import _credentials, _weekdays, book_pairs
        from scheduler.models import Patient

        token, session, _ = _credentials(clinic)
        self.client = Client(HTTP_AUTHORIZATION=f"Token {token}")
        self.client.cookies["sessionid"] = session
        self.manager = Client()  # reports are a manager's
        self.manager.force_login(_manager(clinic))
        self.clinic, self.today = clinic, today
        self.patients = list(Patient.objects.filter(clinic=clinic).order_by("id").values_list("id", flat=True))
        self.names = sorted(set(Patient.objects.filter(clinic=clinic).values_list("last_name", flat=True)))
        self.book_pairs = book_pairs(clinic, _weekdays(today + timedelta(days=14), 40))
        self.n: dict[str, int] = dict.fromkeys(PATHS, 0)

    def request(self, name: str) -> int:
        n = self.n[name] = self.n[name] + 1
        c, pk, today = self.client, self.clinic.pk, self.today
        if name == "baseline":
            return c.get(f"/api/v1/clinics/{pk}/").status_code
        if name == "today_board":
            return c.get(f"/clinics/{pk}/today/").status_code
        if name == "today_counts":  # the board's live counts: asked for as the page loads, then every 15 s
            return c.get(f"/clinics/{pk}/today/counts/").status_code
        if name == "visit_list":
            return c.get(f"/api/v1/visits/?clinic={pk}&date={today}").status_code
        if name == "availability":
            return c.get(f"/api/v1/clinics/{pk}/availability/?date={today}&service=methadone").status_code
        if name == "booking":
            patient, day = self.book_pairs[n % len(self.book_pairs)]
            payload = {"patient": patient, "kind": "counselling", "date": day}
            return c.post("/api/v1/visits/", payload, content_type="application/json").status_code
        if name == "patient_page":
            return c.get(f"/patients/{self.patients[n % len(self.patients)]}/").status_code
        if name == "patient_search":  # POST: a name never goes in a URL
            return c.post(f"/clinics/{pk}/patients/search/", {"q": self.names[n % len(self.names)][:4]}).status_code
        if name == "retention":  # issue #17: episodes and Kaplan–Meier over the clinic's whole history
            return self.manager.get(f"/api/v1/reports/retention/?clinic={pk}").status_code
        if name == "drift_list":  # issue #17: the escalations page, whose list of drifting patients is the cost
            return self.manager.get(f"/clinics/{pk}/escalations/").status_code
        days = 90 if name == "report_90" else 365
        since = today - timedelta(days=days - 1)
        url = f"/api/v1/reports/attendance/?clinic={pk}&date_from={since}&date_to={today}"
        return self.manager.get(url).status_code


def _manager(clinic: Any) -> Any:
    from django.contrib.auth import get_user_model

    from scheduler.models import StaffProfile

    user, made = get_user_model().objects.get_or_create(username="bench_curve_manager")
    if made:
        StaffProfile.objects.create(user=user, role="manager")
    user.staff.clinics.add(clinic)
    return user


def _service_times(paths: _Paths, rounds: int, names: tuple[str, ...] = PATHS) -> dict[str, dict[str, Any]]:
    times: dict[str, list[float]] = {name: [] for name in names}
    queries: dict[str, int] = {}
    statuses: dict[str, set[int]] = {name: set() for name in names}
    for name in names:  # a warm-up round (first-request caches), then one with each path's queries counted
        statuses[name].add(paths.request(name))
    for name in names:
        with count_queries() as counted:
            statuses[name].add(paths.request(name))
        queries[name] = counted[0]
    for _ in range(rounds):
        for name in names:
            t0 = time.perf_counter()
            status = paths.request(name)
            times[name].append(time.perf_counter() - t0)
            statuses[name].add(status)
    bad = {name: sorted(codes) for name, codes in statuses.items() if not codes <= {200, 201}}
    if bad:
        raise RuntimeError(f"paths answered other than 200/201: {bad}")
    base_p50, base_p95 = median(times[BASELINE]), _pct(times[BASELINE], 0.95)
    out = {}
    for name in names:
        p50, p95 = median(times[name]), _pct(times[name], 0.95)
        out[name] = {
            "requests": len(times[name]),
            "p50_ms": round(p50 * 1000, 2),
            "p95_ms": round(p95 * 1000, 2),
            "p50_vs_baseline": ratio(p50, base_p50),
            "p95_vs_baseline": ratio(p95, base_p95),
            "queries": queries[name],
            "statuses": sorted(statuses[name]),
        }
    return out


def _report_cold(paths: _Paths, repeat: int) -> dict[str, Any]:
    """The 365-day report with none of the clinic's closed months cached (visits.models.AttendanceMonth): what the
    first report of a month costs, which fills the cache the timed rounds read. Each request after a delete of the
    clinic's cached months, beside a cached request timed in the same round."""
    from visits.models import AttendanceMonth

    cold, cached = [], []
    for _ in range(repeat):
        AttendanceMonth.objects.filter(clinic_id=paths.clinic.pk).delete()
        with Timer() as t:
            assert paths.request("report_365") == 200
        cold.append(t.seconds)
        with Timer() as t:
            assert paths.request("report_365") == 200
        cached.append(t.seconds)
    return {
        "requests": repeat,
        "cold_p50_ms": round(median(cold) * 1000, 2),
        "cached_p50_ms": round(median(cached) * 1000, 2),
        "months_cached": AttendanceMonth.objects.filter(clinic_id=paths.clinic.pk, patient_id=None, day=None).count(),
    }


def _report_vs_sql(clinic: Any, today: Any, repeat: int) -> dict[str, Any]:
    from bench.report import RAW, _raw, _report, _same

    since = today - timedelta(days=364)
    _report(clinic, since, today), _raw(clinic, since, today)  # warm
    orm, raw = [], []
    for _ in range(repeat):
        with Timer() as t:
            report = _report(clinic, since, today)
        orm.append(t.seconds)
        with Timer() as t:
            rows = _raw(clinic, since, today)
        raw.append(t.seconds)
    return {
        "days": 365,
        "same_numbers": _same(report, rows),
        "report_seconds": round(median(orm), 4),
        "raw_sql_seconds": round(median(raw), 4),
        "raw_queries": len(RAW),
        "ratio": ratio(median(orm), median(raw)),
    }


def _saturation(clinic: Any, today: Any, seconds: int, users: int) -> dict[str, Any]:
    """Requests per second with 2 gunicorn workers: the mixed workload against the trivial endpoint alone; and each
    side's CPU per request (gunicorn, its PostgreSQL backends, locust), which says where the requests' cost went."""
    import resource

    from bench.api_load import _credentials, _serve, locust_setup, run_locust
    from bench.dispatch import CpuMeter

    def run(name: str, locustfile: str) -> tuple[dict[str, Any], dict[str, float]]:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)  # locust runs as this process's reaped child
        with CpuMeter(server.pid) as cpu:
            stats = run_locust(env, port, users, seconds, str(workdir / name), locustfile)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        locust_s = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        n = stats.get("Aggregated", {}).get("requests") or 1
        sides = {"gunicorn": cpu.figures["worker_cpu_s"], "postgres": cpu.figures["postgres_cpu_s"], "locust": locust_s}
        return stats, {f"{k}_cpu_ms_per_request": round(v * 1000 / n, 2) for k, v in sides.items()}

    token, session, _ = _credentials(clinic)
    workdir, env, port = locust_setup(clinic, today, token, session, "dosewise-curve-")
    server = _serve(env, port)
    try:
        trivial, trivial_cpu = run("trivial", "locustfile_trivial.py")
        mixed, mixed_cpu = run("mixed", "locustfile.py")
    finally:
        server.stop()
    t, m = trivial.get("Aggregated", {}), mixed.get("Aggregated", {})
    return {
        "workers": 2,
        "users": users,
        "seconds": seconds,
        "trivial_rps": t.get("rps", 0.0),
        "mixed_rps": m.get("rps", 0.0),
        "ratio": ratio(m.get("rps", 0.0), t.get("rps", 0.0)),
        "failures": t.get("failures", -1) + m.get("failures", -1),
        "cpu": {"trivial": trivial_cpu, "mixed": mixed_cpu},
        "mixed_endpoints": {k: v for k, v in mixed.items() if k != "Aggregated"},
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = parser(__doc__.splitlines()[0], SIZES, "full")
    p.add_argument("--requests", type=int, default=None, help="Timed rounds (one request of every path a round).")
    p.add_argument("--label", default=None, help="Name of the stored run (default: the visits in the table).")
    p.add_argument("--saturation", action="store_true", help="Also the 2-worker gunicorn saturation mix (locust).")
    p.add_argument(
        "--saturation-only", action="store_true", help="Only the saturation mix (no service times; not stored)."
    )
    p.add_argument("--seconds", type=int, default=None, help="Each locust run's length with --saturation.")
    p.add_argument("--users", type=int, default=10)
    p.add_argument("--plot", action="store_true", help="Only draw the stored runs: PNG and Markdown table.")
    p.add_argument(
        "--paths", default="", help="Only these paths, comma-separated (the baseline always; such a run is not stored)."
    )
    args = p.parse_args(argv or [])
    if args.plot:
        return plot()
    names = PATHS
    if args.paths:
        asked = {name.strip() for name in args.paths.split(",") if name.strip()}
        if asked - set(PATHS):
            p.error(f"unknown paths: {sorted(asked - set(PATHS))}; known: {', '.join(PATHS)}")
        names = tuple(name for name in PATHS if name == BASELINE or name in asked)
    from django.utils import timezone

    from scheduler.management.commands.seed_scale import clinics_purge
    from scheduler.timeutil import local_date
    from visits.models import Visit

    size = SIZES[args.size]
    rounds = args.requests or int(size["requests"])
    figures: dict[str, Any] = {"bench": "cost_curve", "size": args.size, "machine": machine(), "rounds": rounds}
    clinic, own = read_bench_clinic(
        size.get("seed"), prefix=TINY_PREFIX, future=7, rng_seed=16, hint="manage.py seed_scale --scale 1m (or 5m, 15m)"
    )
    started = timezone.now()
    try:
        today = local_date(timezone.now(), clinic.timezone)
        figures.update(
            clinic_id=clinic.pk,
            visits_in_database=Visit.objects.count(),
            visits_in_clinic=Visit.objects.filter(clinic=clinic).count(),
            visits_today=Visit.objects.filter(clinic=clinic, date=today).count(),
        )
        if not args.saturation_only:
            paths = _Paths(clinic, today)
            figures["paths"] = _service_times(paths, rounds, names)
            if "report_365" in names:
                figures["report_365_vs_sql"] = _report_vs_sql(clinic, today, 1 if args.size == "tiny" else 5)
                figures["report_365_cold"] = _report_cold(paths, 1 if args.size == "tiny" else 11)
        if args.saturation or args.saturation_only:
            seconds = args.seconds or int(size["seconds"])
            # The locust users book the same (patient, weekday) pairs as the timed rounds did.
            Visit.objects.filter(clinic=clinic, source="manual", kind="counselling", created__gte=started).delete()
            figures["saturation"] = _saturation(clinic, today, seconds, args.users)
        figures["loadavg_at_end"] = machine()["loadavg_at_start"]
    finally:
        Visit.objects.filter(clinic=clinic, source="manual", kind="counselling", created__gte=started).delete()
        clinics_purge(own)
    if args.size != "tiny" and names == PATHS and not args.saturation_only:  # --plot draws whole runs only
        STORE.mkdir(parents=True, exist_ok=True)
        label = args.label or f"{figures['visits_in_database']}"
        (STORE / f"{label}.json").write_text(json.dumps(figures, indent=2, default=str))
        figures["stored"] = str(STORE / f"{label}.json")
    return figures


def table(runs: list[dict[str, Any]]) -> str:
    """The Markdown table: per path, p50 / p95 (ms), ÷ baseline and queries at each size; growth first → last."""
    sizes = [f"{run['visits_in_database'] / 1e6:.1f}M" for run in runs]
    head = "| path | " + " | ".join(f"{s}: p50 / p95 ms (÷ baseline p50), queries" for s in sizes)
    head += " | growth p50 |\n|---|" + "---|" * len(sizes) + "---|"
    lines = [head]
    for name in PATHS:
        cells = []
        for run in runs:
            f = run["paths"][name]
            cells.append(f"{f['p50_ms']} / {f['p95_ms']} ({f['p50_vs_baseline']}×), {f['queries']}")
        growth = ratio(runs[-1]["paths"][name]["p50_ms"], runs[0]["paths"][name]["p50_ms"])
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {growth}× |")
    reports = ", ".join(f"{s}: {run['report_365_vs_sql']['ratio']}×" for s, run in zip(sizes, runs, strict=True))
    lines.append(f"\n365-day report ÷ its raw SQL: {reports}")
    colds = [
        f"{s}: {run['report_365_cold']['cold_p50_ms']} ms cold vs {run['report_365_cold']['cached_p50_ms']} ms cached"
        for s, run in zip(sizes, runs, strict=True)
        if "report_365_cold" in run
    ]
    if colds:
        lines.append("365-day report with no month cached (the month's first): " + ", ".join(colds))
    saturated = [(s, run["saturation"]) for s, run in zip(sizes, runs, strict=True) if "saturation" in run]
    for s, sat in saturated:
        lines.append(
            f"Saturation at {s}: mixed {sat['mixed_rps']} rps vs trivial {sat['trivial_rps']} rps "
            f"({sat['ratio']}×), {sat['failures']} errors"
        )
    return "\n".join(lines)


def plot() -> dict[str, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = sorted(
        (json.loads(path.read_text()) for path in STORE.glob("*.json")), key=lambda r: r["visits_in_database"]
    )
    if not runs:
        raise SystemExit(f"No stored runs in {STORE}: run bench/cost_curve.py --size full first.")
    x = [run["visits_in_database"] / 1e6 for run in runs]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5))
    colours = plt.get_cmap("tab20")  # more paths than tab10 has colours
    for i, name in enumerate(PATHS):  # one colour a path in both panels; the baseline black
        colour = "black" if name == BASELINE else colours(i - 1)
        left.plot(x, [run["paths"][name]["p50_ms"] for run in runs], marker="o", label=name, color=colour)
        if name != BASELINE:
            ys = [run["paths"][name]["p50_vs_baseline"] for run in runs]
            right.plot(x, ys, marker="o", label=name, color=colour)
    left.set(xlabel="visits in the table (millions)", ylabel="p50 service time (ms)", title="Concurrency 1")
    left.set_yscale("log")
    right.axhline(TARGETS["vs_baseline"], color="red", linestyle="--", label="target ≤ 5× baseline")
    right.set(xlabel="visits in the table (millions)", ylabel="p50 ÷ trivial endpoint p50", title="Cost vs baseline")
    for ax in (left, right):
        ax.grid(True, alpha=0.3)
    left.legend(fontsize=7)
    right.legend(fontsize=7)
    fig.tight_layout()
    PNG.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(PNG, dpi=110)
    plt.close(fig)
    text = table(runs)
    print(text)  # noqa: T201
    return {"bench": "cost_curve", "plot": str(PNG), "runs": len(runs), "table": text}


if __name__ == "__main__":
    run_script(main)
