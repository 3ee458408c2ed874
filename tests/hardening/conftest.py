"""Hardening tests: a frozen clinic morning, page clients per role, and a helper that times a request."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
import time_machine
from django.test import Client

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


def timed(call: Callable[[], Any]) -> tuple[Any, float]:
    """The response and the wall-clock seconds it took (time.perf_counter is not frozen by time-machine)."""
    started = time.perf_counter()
    response = call()
    return response, time.perf_counter() - started
