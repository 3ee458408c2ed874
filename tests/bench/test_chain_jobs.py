"""bench/chain_jobs.py at tiny size: each job runs in its own child process inside a rolled-back transaction, so
the data is unchanged afterwards; queries and peak RSS are reported. Times are never asserted."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import time_machine

from bench import chain_jobs
from visits.models import Escalation, Visit


@pytest.mark.django_db(transaction=True)  # the jobs run in forked children, on their own connections
@time_machine.travel(datetime(2026, 6, 10, 19, 0, tzinfo=UTC), tick=True)  # afternoon in every US zone
def test_the_chain_jobs_run_in_children_and_leave_the_data_as_it_was():
    figures = chain_jobs.main(["--size", "tiny"])
    jobs = figures["jobs"]
    assert set(jobs) == set(chain_jobs.JOBS) and figures["clinics"] == 2 and figures["active_plans"] > 0
    first, steady = jobs["generation_first"], jobs["generation_steady"]
    assert first["plans"] == steady["plans"] == figures["active_plans"]
    assert first["created"] == first["deleted"] == 0  # the seed wrote the horizon: nothing to add
    assert first["skipped"] == 0  # the day's first run simulates every plan (no fingerprint yet) ...
    assert steady["skipped"] == figures["active_plans"]  # ... and the hourly run after it skips every one
    assert steady["created"] == steady["deleted"] == steady["updated"] == 0
    assert jobs["sweep_first"]["plans_evaluated"] > 0  # the seed leaves running missed streaks to the sweep
    # The steady sweep (at the moment of seeding, in a child of its own) claims the few misses put back as overdue
    # (the same count at every size), nothing else ...
    assert jobs["sweep_steady"]["missed"] == chain_jobs.STEADY_OVERDUE
    # ... and evaluates only their plans: those in a streak were evaluated once today already (EscalationDay)
    assert 0 < jobs["sweep_steady"]["plans_evaluated"] <= chain_jobs.STEADY_OVERDUE
    for name, job in jobs.items():
        assert job["queries"] > 0 and job["peak_rss_mb"] > 10, name
    # Rolled back: no visit was marked missed and no escalation kept, and the tiny chain is purged.
    assert not Visit.objects.exists() and not Escalation.objects.exists()
    assert "stored" not in figures


def test_the_table_comes_from_the_stored_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(chain_jobs, "STORE", tmp_path)
    for label, visits, seconds in (("1m", 1_000_000, 0.5), ("15m", 15_000_000, 0.6)):
        job = {"seconds": seconds, "queries": 9, "peak_rss_mb": 120.0}
        run = {"visits_in_database": visits, "jobs": dict.fromkeys(chain_jobs.JOBS, job)}
        (tmp_path / f"{label}.json").write_text(json.dumps(run))
    out = chain_jobs.main(["--table"])
    lines = out["table"].splitlines()
    assert out["runs"] == 2 and lines[0].startswith("| job | 1.0M") and "15.0M" in lines[0]
    assert "| sweep_steady | 0.5, 9, 120.0 | 0.6, 9, 120.0 | 1.2× |" in lines
