"""Throttle history never carries over from one test to the next (tests/conftest.py, fresh_throttle_history).

It lives in the cache, outside each test's transaction: tests/api answered 429s when run together in one process,
depending on which tests ran first."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from config.throttling import AnonRateThrottle

URL = "/api/v1/auth/token/"


@pytest.mark.parametrize("run", ["first", "second"])
def test_each_test_starts_with_no_throttle_history_so_the_second_run_is_not_throttled(db, monkeypatch, run):
    monkeypatch.setattr(AnonRateThrottle, "THROTTLE_RATES", {"user": "1000/min", "anon": "2/min"})

    answers = [APIClient().post(URL, {}, format="json", REMOTE_ADDR="203.0.113.9").status_code for _ in range(2)]

    assert answers == [400, 400]
