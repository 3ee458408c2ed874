"""Issue #16: the sweep pauses CPython's cyclic garbage collector while it runs (its many short-lived rows have no
cycles; the collector's passes over the worker's objects were a third of the sweep's client CPU) and resumes it as it
was: after a sweep, after a failed one, and never for a caller that had paused it."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from visits import missed

NOW = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)


@pytest.fixture
def collector() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.enable()
    yield
    if enabled:
        gc.enable()
    else:
        gc.disable()


def _record(monkeypatch: pytest.MonkeyPatch, name: str, seen: list[bool]) -> None:
    real = getattr(missed, name)

    def recording(*args: Any, **kwargs: Any) -> Any:
        seen.append(gc.isenabled())
        return real(*args, **kwargs)

    monkeypatch.setattr(missed, name, recording)


@pytest.mark.django_db
def test_the_collector_is_paused_while_the_sweep_runs_and_resumed_after(collector, monkeypatch):
    seen: list[bool] = []
    _record(monkeypatch, "_claim_overdue", seen)
    _record(monkeypatch, "_audit", seen)
    missed.visits_mark_missed(now=NOW)
    assert seen == [False, False]
    assert gc.isenabled()


@pytest.mark.django_db
def test_an_evaluation_called_alone_pauses_it_too(collector, monkeypatch):
    seen: list[bool] = []
    _record(monkeypatch, "_chunked", seen)
    missed.escalations_evaluate(now=NOW, plan_ids=[])
    assert seen == [False]
    assert gc.isenabled()


@pytest.mark.django_db
def test_a_failed_sweep_resumes_the_collector(collector, monkeypatch):
    def fail(*args: Any) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(missed, "_claim_overdue", fail)
    with pytest.raises(RuntimeError):
        missed.visits_mark_missed(now=NOW)
    assert gc.isenabled()


@pytest.mark.django_db
def test_a_caller_that_paused_the_collector_finds_it_paused(collector):
    gc.disable()
    missed.visits_mark_missed(now=NOW)
    assert not gc.isenabled()
