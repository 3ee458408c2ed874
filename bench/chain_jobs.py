"""Jobs at a chain's scale (issue #16): generation's steady state and the missed sweep on the seeded chain.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/dw_chain_15m .venv/bin/python bench/chain_jobs.py \\
        [--size full] [--label 15m] [--repeat 3]

`full` reads the seed_scale data (`manage.py seed_scale --scale 1m|5m|15m`): every clinic of the database; `tiny`
seeds a small chain of its own and removes it afterwards. Jobs, each in a forked child process (so its peak RSS is
its own, as a worker's would be) inside one transaction that is rolled back (the data is unchanged; runs repeat):

  generation_first   visits_generate() for every active plan of every clinic, as the day's first run: every plan
                     simulated (no fingerprint matches a new day; seed_scale writes none), every row of the
                     horizon found there already (seed_scale wrote it).
  generation_steady  in the same transaction, the same call again: the hourly run on an unchanged calendar, which
                     skips every plan whose fingerprint still matches (issue #16).
  sweep_first        visits_mark_missed(now): the day's first sweep — every overdue visit the seed left, and every
                     plan in a missed streak evaluated against the ladder.
  sweep_steady       in a child of its own, the usual 5-minute sweep on a chain whose past is all decided, with
                     STEADY_OVERDUE (20) visits overdue, the same count at every size: the chain as the seed left it,
                     at the moment of seeding (`_steady_sweep`). Its cost should follow that count, not the table.
                     Timed STEADY_REPEAT (9) times on the same state (`_repeated`): the median, in 0.1 ms.

Per job: seconds (median of --repeat), queries, peak RSS of the child (MB, `ru_maxrss`), and what it did (rows
inserted, visits marked missed, plans evaluated). No baseline in the same run (the same jobs at 1M and 15M are the
comparison: `--label` stores the run as var/chain_jobs/<label>.json, and `--table` prints them side by side).
"""

from __future__ import annotations

import json
import multiprocessing
import resource
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import ROOT, Timer, count_queries, machine, median, parser, ratio, read_bench_clinic, run_script

SIZES = {"tiny": {"seed": (2, 40, 40), "repeat": 1}, "full": {"repeat": 3}}
TINY_PREFIX = "Bench chain jobs"
STORE = ROOT / "var" / "chain_jobs"
JOBS = ("generation_first", "generation_steady", "sweep_first", "sweep_steady")
STEADY_AFTER = timedelta(seconds=1)  # nothing new overdue but the STEADY_OVERDUE visits put back
STEADY_OVERDUE = 20
STEADY_REPEAT = 9  # timed runs of the steady sweep per child (`_repeated`): their median


def _in_child(job: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run `job` in a forked child inside a rolled-back transaction; its figures plus the child's peak RSS."""
    from django.db import connections

    connections.close_all()  # the child opens its own connection; the parent's is not shared across the fork
    reader, writer = multiprocessing.get_context("fork").Pipe(duplex=False)
    process = multiprocessing.get_context("fork").Process(target=_child, args=(job, writer))
    process.start()
    writer.close()
    figures: dict[str, Any] = reader.recv()
    process.join()
    if process.exitcode != 0 or "error" in figures:
        raise RuntimeError(f"job failed in the child process: {figures.get('error', process.exitcode)}")
    return figures


# Database connections this child inherited from the parent: kept referenced and never used, so neither a query
# nor a close from here (the Terminate message, or garbage collection) reaches the parent's session through the
# shared socket; the child leaves with os._exit (multiprocessing), which closes nothing.
_INHERITED: list[Any] = []


def _forget_inherited_connections() -> None:
    from django.db import connections

    for conn in connections.all(initialized_only=True):
        if conn.connection is not None:
            _INHERITED.append(conn.connection)
        conn.connection = None
        conn.in_atomic_block, conn.savepoint_ids, conn.atomic_blocks = False, [], []
        conn.needs_rollback = conn.closed_in_transaction = False


def _child(job: Callable[[], dict[str, Any]], writer: Any) -> None:
    from django.db import connections, transaction

    _forget_inherited_connections()  # the parent's may still be open (close() inside a transaction only marks it)
    try:
        with transaction.atomic():
            figures = job()
            transaction.set_rollback(True)
        figures["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    except Exception as exc:  # noqa: BLE001 - any failure goes to the parent, which raises it
        figures = {"error": repr(exc)}
    connections.close_all()
    writer.send(figures)
    writer.close()


def _timed(call: Callable[[], Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """One run of a job: seconds, queries and the named figures of what it returned."""
    with count_queries() as queries, Timer() as timer:
        result = call()
    return {"seconds": timer.seconds, "queries": queries[0], **{k: getattr(result, k) for k in fields}}


GENERATION_FIELDS = ("plans", "created", "updated", "deleted", "unplaced", "skipped")
SWEEP_FIELDS = ("missed", "plans_evaluated", "escalations_created")


def _generations(clinic_ids: list[int]) -> Callable[[], dict[str, Any]]:
    def job() -> dict[str, Any]:
        from visits.generation import visits_generate

        def generate() -> Any:
            return visits_generate(clinic_ids=clinic_ids)

        return {name: _timed(generate, GENERATION_FIELDS) for name in ("generation_first", "generation_steady")}

    return job


def _first_sweep() -> dict[str, Any]:
    from django.utils import timezone

    from visits.missed import visits_mark_missed

    now = timezone.now()
    return {"sweep_first": _timed(lambda: visits_mark_missed(now=now), SWEEP_FIELDS)}


# The moment the chain was seeded: seed_scale writes every row with its one `now` (`created`); the lowest visit id of
# the chain's clinics is one of its rows (a primary-key read, not an aggregate over the table).
_SEEDED_AT_SQL = "SELECT created FROM visits_visit WHERE clinic_id = ANY(%s) ORDER BY id LIMIT 1"
# The STEADY_OVERDUE misses of the seed that ended last (past every clinic's grace), back to scheduled.
_PUT_BACK_SQL = """
    UPDATE visits_visit SET status = 'scheduled', missed_at = NULL
    WHERE id = ANY(ARRAY(
        SELECT id FROM visits_visit
        WHERE status = 'missed' AND clinic_id = ANY(%s) AND "end" <= %s
        ORDER BY "end" DESC, id DESC
        LIMIT %s
    ))
"""


def _steady_sweep(clinic_ids: list[int]) -> Callable[[], dict[str, Any]]:
    """The 5-minute sweep of a chain whose past is all decided, with STEADY_OVERDUE visits overdue (issue #16).

    The chain as seed_scale left it is that state at the moment of seeding (`_SEEDED_AT_SQL`): every visit whose
    window ended a grace period before is completed, missed, excused or cancelled. So the sweeps run at that moment,
    not at the wall clock: the day's first sweep (untimed: it records each clinic's day and evaluates the seed's
    streaks, claiming nothing or a few visits), then, outside the timing, the seed's last RECHECK of misses aged past
    it (left recent, every sweep re-evaluates their plans: a count that grows with the chain) and its STEADY_OVERDUE
    latest misses put back as scheduled; the timed sweep then meets those, the same count at every size.
    Before, the steady sweep followed a catch-up of every visit overdue since the seed (hours of the chain's
    windows: 15,701 at 15M) in the same uncommitted transaction, and its claim walked each of those visits' old
    `scheduled` index entries, which a committed sweep leaves dead (skipped): a cost of the bench, not of the sweep.
    """

    def job() -> dict[str, Any]:
        from django.db import connection

        from visits.missed import RECHECK, _clinic_days, visits_mark_missed

        with connection.cursor() as cursor:
            cursor.execute(_SEEDED_AT_SQL, [clinic_ids])
            seeded_at = cursor.fetchone()[0]
        visits_mark_missed(now=seeded_at)
        grace = max(day.grace for day in _clinic_days(seeded_at))
        aged: list[Any] = [RECHECK, seeded_at - RECHECK - STEADY_AFTER]
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE visits_visit SET missed_at = missed_at - %s"
                " WHERE status = 'missed' AND plan_id IS NOT NULL AND missed_at >= %s",
                aged,
            )
            cursor.execute(_PUT_BACK_SQL, [clinic_ids, seeded_at - timedelta(minutes=grace), STEADY_OVERDUE])
        return {"sweep_steady": _repeated(lambda: visits_mark_missed(now=seeded_at + STEADY_AFTER), SWEEP_FIELDS)}

    return job


def _repeated(call: Callable[[], Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """STEADY_REPEAT timed runs of the same sweep on the same state: each inside a savepoint rolled back afterwards
    (untimed), so every run claims the same STEADY_OVERDUE visits and evaluates the same plans. A run takes a
    millisecond or so: one run in whole milliseconds could not tell 1.0× from 1.2× (issue #16). The median, in
    0.1 ms; every run listed. A rolled-back run leaves its STEADY_OVERDUE dead row versions (and their index
    entries) for the later runs to pass: a few dozen, against the chain's tables. Runs that did different work
    (queries, visits claimed, plans evaluated, escalations) are refused."""
    from django.db import transaction

    runs = []
    for _ in range(STEADY_REPEAT):
        with transaction.atomic():
            runs.append(_timed(call, fields))
            transaction.set_rollback(True)
    if len({tuple(run[k] for k in ("queries", *fields)) for run in runs}) != 1:
        raise RuntimeError(f"the steady sweep's runs did different work: {runs}")
    return {**runs[-1], "seconds": median([run["seconds"] for run in runs]), "runs": [run["seconds"] for run in runs]}


def measure(clinic_ids: list[int], repeat: int, *, sweeps_only: bool = False) -> dict[str, Any]:
    children: list[tuple[Callable[[], dict[str, Any]], tuple[str, ...]]] = [
        (_generations(clinic_ids), ("generation_first", "generation_steady")),
        (_first_sweep, ("sweep_first",)),
        (_steady_sweep(clinic_ids), ("sweep_steady",)),
    ]
    if sweeps_only:
        children = children[1:]
    runs: dict[str, list[dict[str, Any]]] = {name: [] for _, names in children for name in names}
    for _ in range(repeat):
        for pair, names in children:
            both = _in_child(pair)
            for name in names:
                runs[name].append({**both[name], "peak_rss_mb": both["peak_rss_mb"]})
    jobs: dict[str, Any] = {}
    for name, results in runs.items():
        last = results[-1]
        digits = 4 if name == "sweep_steady" else 3  # 0.1 ms: a steady sweep takes a few milliseconds
        jobs[name] = {
            **{k: v for k, v in last.items() if k not in ("seconds", "peak_rss_mb", "runs")},
            "seconds": round(median([r["seconds"] for r in results]), digits),
            "seconds_all": [round(r["seconds"], digits) for r in results],
            "peak_rss_mb": max(r["peak_rss_mb"] for r in results),
        }
        if name == "sweep_steady":
            jobs[name]["runs_ms"] = [[round(s * 1000, 1) for s in r["runs"]] for r in results]
    first, steady = jobs["sweep_first"]["seconds"], jobs["sweep_steady"]["seconds"]
    jobs["sweep_steady"]["vs_first"] = ratio(steady, first)
    return jobs


def table(runs: list[dict[str, Any]]) -> str:
    """Markdown: per job, seconds, queries and peak RSS at each size; growth first → last."""
    sizes = [f"{run['visits_in_database'] / 1e6:.1f}M" for run in runs]
    head = "| job | " + " | ".join(f"{s}: s, queries, peak RSS MB" for s in sizes)
    lines = [head + " | growth |", "|---|" + "---|" * len(sizes) + "---|"]
    for name in JOBS:
        cells = [
            f"{r['jobs'][name]['seconds']}, {r['jobs'][name]['queries']}, {r['jobs'][name]['peak_rss_mb']}"
            for r in runs
        ]
        growth = ratio(runs[-1]["jobs"][name]["seconds"], runs[0]["jobs"][name]["seconds"])
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {growth}× |")
    return "\n".join(lines)


def main(argv: list[str]) -> dict[str, Any]:
    p = parser(__doc__.splitlines()[0], SIZES, "full")
    p.add_argument("--label", default="", help="Store the run as var/chain_jobs/<label>.json.")
    p.add_argument("--table", action="store_true", help="Print the stored runs as a Markdown table.")
    p.add_argument("--sweeps-only", action="store_true", help="Only the two sweeps (not stored with --label).")
    args = p.parse_args(argv)
    if args.table:
        runs = sorted((json.loads(f.read_text()) for f in STORE.glob("*.json")), key=lambda r: r["visits_in_database"])
        return {"runs": len(runs), "table": table(runs) if runs else ""}

    from scheduler.management.commands.seed_scale import SCALE_PREFIX, clinics_purge
    from scheduler.models import Clinic, Plan
    from visits.models import Visit

    size = SIZES[args.size]
    figures: dict[str, Any] = {"bench": "chain_jobs", "size": args.size, "machine": machine()}
    from django.conf import settings

    _, own = read_bench_clinic(  # tiny: the horizon ahead, as seed_scale's presets write it
        size.get("seed"),
        prefix=TINY_PREFIX,
        future=settings.GENERATION_HORIZON_DAYS,
        rng_seed=16,
        hint="manage.py seed_scale --scale 1m (or 5m, 15m)",
    )
    try:
        prefix = TINY_PREFIX if own else SCALE_PREFIX
        clinic_ids = list(Clinic.objects.filter(name__startswith=prefix).values_list("id", flat=True))
        figures.update(
            clinics=len(clinic_ids),
            active_plans=Plan.objects.filter(patient__clinic_id__in=clinic_ids, status="active").count(),
            visits_in_database=Visit.objects.count(),
        )
        figures["jobs"] = measure(clinic_ids, args.repeat or int(size["repeat"]), sweeps_only=args.sweeps_only)
        figures["loadavg_at_end"] = machine()["loadavg_at_start"]
    finally:
        clinics_purge(own)
    if args.label and not args.sweeps_only:  # the table wants every job
        STORE.mkdir(parents=True, exist_ok=True)
        (STORE / f"{args.label}.json").write_text(json.dumps(figures, indent=2, default=str))
        figures["stored"] = str(STORE / f"{args.label}.json")
    return figures


if __name__ == "__main__":
    run_script(main)
