"""Helpers for the scheduler API tests: a frozen clock and URL builders."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import time_machine

# Monday 2 November 2026, 05:00 in New York: the clinic fixture's day has not started yet.
NOW = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
FORBIDDEN_FOR_ADMIN_ONLY = ("front_desk", "nurse", "clinician", "manager")


@pytest.fixture(autouse=True)
def frozen_now() -> Iterator[time_machine.Coordinates]:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller

