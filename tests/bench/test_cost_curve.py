"""bench/cost_curve.py at tiny size: every path answers, is timed as often as the baseline, and its queries are
counted; the 365-day report's raw SQL gives the same numbers; the plot and table come from stored runs. Times
are never asserted."""

from __future__ import annotations

import json

import pytest

from bench import cost_curve


@pytest.mark.django_db(transaction=True)  # as served: no test savepoints among the counted queries
def test_the_cost_curve_bench_times_every_path_beside_the_baseline_and_counts_its_queries():
    figures = cost_curve.main(["--size", "tiny", "--requests", "3"])
    paths = figures["paths"]
    assert set(paths) == set(cost_curve.PATHS)
    for name, path in paths.items():
        assert path["requests"] == 3, name
        assert path["statuses"] == ([201] if name == "booking" else [200]), name
        assert path["p95_ms"] >= path["p50_ms"] > 0
    assert paths["baseline"]["p50_vs_baseline"] == 1.0
    # Fixed query counts, whatever the rows (the board: 12, and 4 more with a patient checked in; issue #14's
    # orders in force, bottles' orders and COWS scores: 3 more — as in tests/bench/test_bench_scripts.py).
    assert paths["baseline"]["queries"] <= 8 and paths["visit_list"]["queries"] <= 10
    assert paths["today_board"]["queries"] <= 20 and paths["availability"]["queries"] <= 12
    assert paths["report_90"]["queries"] == paths["report_365"]["queries"]
    report = figures["report_365_vs_sql"]
    assert report["same_numbers"] is True and report["raw_queries"] == 4
    cold = figures["report_365_cold"]  # the year's closed months filled by the first report: 10 or 11 of them
    assert cold["requests"] == 1 and cold["months_cached"] in (10, 11) and cold["cold_p50_ms"] > 0
    assert "saturation" not in figures and "stored" not in figures  # tiny runs are not stored


def test_the_plot_and_table_come_from_the_stored_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(cost_curve, "STORE", tmp_path / "runs")
    monkeypatch.setattr(cost_curve, "PNG", tmp_path / "curve.png")
    (tmp_path / "runs").mkdir()
    for label, visits, p50 in (("1m", 1_000_000, 10.0), ("15m", 15_000_000, 12.0)):
        path = dict.fromkeys(("p95_ms", "queries"), 1) | {"p50_ms": p50, "p50_vs_baseline": 2.0}
        run = {
            "visits_in_database": visits,
            "paths": dict.fromkeys(cost_curve.PATHS, path),
            "report_365_vs_sql": {"ratio": 1.1},
        }
        (tmp_path / "runs" / f"{label}.json").write_text(json.dumps(run))
    out = cost_curve.main(["--plot"])
    assert out["runs"] == 2
    assert (tmp_path / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    lines = out["table"].splitlines()
    assert lines[0].startswith("| path | 1.0M") and "15.0M" in lines[0]
    assert any(line.startswith("| today_board |") and line.endswith("| 1.2× |") for line in lines)  # 12 ÷ 10
    assert "365-day report ÷ its raw SQL: 1.0M: 1.1×, 15.0M: 1.1×" in out["table"]


def test_the_saturation_mix_alone_serves_both_sides_without_errors_and_splits_their_cpu(live_worker_db):
    figures = cost_curve.main(["--size", "tiny", "--saturation-only", "--seconds", "4", "--users", "2"])
    assert "paths" not in figures and "stored" not in figures  # no service times, nothing stored
    sat = figures["saturation"]
    assert sat["failures"] == 0 and sat["trivial_rps"] > 0 and sat["mixed_rps"] > 0
    assert len(sat["mixed_endpoints"]) == 5 and all(e["requests"] > 0 for e in sat["mixed_endpoints"].values())
    for side in ("trivial", "mixed"):  # every side of the pipeline was measured
        assert set(sat["cpu"][side]) == {f"{k}_cpu_ms_per_request" for k in ("gunicorn", "postgres", "locust")}
        assert sat["cpu"][side]["gunicorn_cpu_ms_per_request"] > 0 and sat["cpu"][side]["locust_cpu_ms_per_request"] > 0


@pytest.mark.django_db
def test_the_mix_books_each_patient_only_on_days_without_a_visit_of_theirs():
    """A counselling booking on a day the patient has a dose or an injection can meet its time (409): the bench's
    error, not the server's. Cancelled visits free the day."""
    from datetime import date, time

    from bench.api_load import book_pairs
    from scheduler.timeutil import local_instant
    from tests.factories import ClinicFactory, PatientFactory
    from visits.models import Visit

    clinic = ClinicFactory()
    first, second = PatientFactory(clinic=clinic), PatientFactory(clinic=clinic)
    days = ["2031-03-03", "2031-03-04", "2031-03-05"]

    def visit(patient, day: str, **fields) -> None:
        d = date.fromisoformat(day)
        Visit.objects.create(
            patient=patient, clinic=clinic, kind="dose", date=d,
            start=local_instant(d, time(9), clinic.timezone), end=local_instant(d, time(10), clinic.timezone),
            **fields,
        )

    visit(first, "2031-03-04")
    visit(second, "2031-03-03", status="cancelled")
    visit(second, "2031-03-05")
    assert book_pairs(clinic, days) == [
        (first.pk, "2031-03-03"), (first.pk, "2031-03-05"), (second.pk, "2031-03-03"), (second.pk, "2031-03-04"),
    ]
