"""Hardening tests: a frozen clinic morning, page clients per role, and a count of the days the engine simulates."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
import time_machine
from django.test import Client

from scheduler import engine

# Monday 16 November 2026, 08:00 in New York (the clinic fixture's zone): plans, pauses, closures and query dates
# run 2021-01-01 … 2029-12-31, birth dates 1900-01-01 … 2026-11-16.
NOW = datetime(2026, 11, 16, 13, 0, tzinfo=UTC)
TODAY = date(2026, 11, 16)


@pytest.fixture(autouse=True)
def frozen_now() -> Iterator[time_machine.Coordinates]:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture(autouse=True)
def _plain_static_files(settings) -> None:
    # The manifest storage needs collectstatic; page tests only need {% static %} to resolve.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def client_as(staff) -> Callable[[str], Client]:
    def make(role: str) -> Client:
        client = Client()
        client.force_login(staff[role])
        return client

    return make


@pytest.fixture
def simulated_days(monkeypatch) -> list[date]:
    """Every date the plan engine simulates (oral plans day by day, diamorphine days) during the test.

    A refusal must come before the engine's work, and that work must be bounded by the range asked: both are
    asserted on this count, never on wall-clock time (which depends on the machine and its load)."""
    days: list[date] = []
    oral_mark, diamorphine_day = engine._Oral.mark, engine._diamorphine_day

    def counting_mark(self: Any, d: date) -> Any:
        days.append(d)
        return oral_mark(self, d)

    def counting_diamorphine_day(plan: Any, calendar: Any, rules: Any, d: date) -> Any:
        days.append(d)
        return diamorphine_day(plan, calendar, rules, d)

    monkeypatch.setattr(engine._Oral, "mark", counting_mark)
    monkeypatch.setattr(engine, "_diamorphine_day", counting_diamorphine_day)
    return days
