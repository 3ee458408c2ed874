"""Fixtures shared by the whole suite.

The suite always runs on PostgreSQL and Redis (scripts/test.sh starts embedded ones when DATABASE_URL/REDIS_URL
are not set): a missing service stops the run before the first test; nothing is skipped for want of one.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time

import pytest
import time_machine
from django.conf import settings
from django.core.cache.backends.locmem import LocMemCache
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from tests.factories import ClinicFactory, WindowFactory, make_staff

ROLES = ("front_desk", "nurse", "clinician", "manager", "admin")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--today",
        default=os.environ.get("DOSEWISE_TEST_TODAY", ""),
        metavar="YYYY-MM-DD",
        help="Run the whole suite as if today were this date (the clock ticks from 12:00 UTC that day). "
        "CI runs the suite a second time with a far-off date near a holiday: no test may depend on the real date.",
    )


@pytest.fixture(scope="session", autouse=True)
def shifted_today(request: pytest.FixtureRequest) -> Iterator[date | None]:
    """`--today` moves the clock of the whole run (and, through bench._clock, of the workers it starts)."""
    raw = request.config.getoption("--today")
    if not raw:
        yield None
        return
    day = date.fromisoformat(raw)
    with time_machine.travel(datetime.combine(day, time(12, 0), tzinfo=UTC), tick=True):
        yield day


def pytest_report_header(config: pytest.Config) -> str | None:
    raw = config.getoption("--today")
    return f"dosewise: the clock is shifted to {raw} (--today)" if raw else None


def pytest_sessionstart(session: pytest.Session) -> None:
    how = "run `bash scripts/test.sh` (it starts an embedded PostgreSQL and Redis) or set them"
    if "postgresql" not in settings.DATABASES["default"]["ENGINE"]:
        pytest.exit(f"the tests need PostgreSQL: DATABASE_URL is not set; {how}", returncode=3)
    if not settings.REDIS_URL:
        pytest.exit(f"the tests need Redis: REDIS_URL is not set; {how}", returncode=3)


@pytest.fixture(autouse=True)
def fresh_throttle_history(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test starts with no request history in DRF's throttles.

    That history lives in the cache (Redis in CI), outside the test's transaction, so requests of earlier tests
    (and of earlier runs, for a minute) counted towards later tests' rates: tests answered 429 depending on what
    ran before them. Each test gets an empty in-memory cache for the throttles instead of a flush of Redis,
    which is also the Celery broker of the integration tests."""
    throttles = LocMemCache("dosewise-test-throttles", {})
    throttles.clear()
    monkeypatch.setattr(SimpleRateThrottle, "cache", throttles)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings) -> None:
    """Every staff fixture user hashes a password; PBKDF2's real cost only slows the suite."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def clinic(db):
    c = ClinicFactory(name="Riverside Clinic", sms_name="Riverside Health")
    WindowFactory(clinic=c, weekdays=[0, 1, 2, 3, 4, 5], start=time(7, 0), end=time(10, 0),
                  services=["methadone", "buprenorphine"], capacity=50)
    WindowFactory(clinic=c, weekdays=[0, 1, 2, 3, 4, 5, 6], start=time(8, 0), end=time(10, 0),
                  services=["diamorphine"], capacity=4)
    WindowFactory(clinic=c, weekdays=[0, 1, 2, 3, 4, 5, 6], start=time(14, 0), end=time(16, 0),
                  services=["diamorphine"], capacity=4)
    WindowFactory(clinic=c, weekdays=[0, 1, 2, 3, 4], start=time(11, 0), end=time(13, 0),
                  services=["naltrexone_xr", "buprenorphine_xr_monthly", "buprenorphine_xr_weekly",
                            "counselling", "assessment", "callback"], capacity=6)
    return c


@pytest.fixture
def other_clinic(db):
    c = ClinicFactory(name="Hillside Clinic", sms_name="Hillside Health")
    WindowFactory(clinic=c)
    return c


@pytest.fixture
def staff(clinic) -> dict:
    """One user per role, all in `clinic`."""
    return {role: make_staff(role, [clinic], username=f"{role}_user") for role in ROLES}


@pytest.fixture
def api_as(staff) -> Callable[[str], APIClient]:
    def make(role: str) -> APIClient:
        client = APIClient()
        client.force_authenticate(staff[role])
        return client

    return make


@pytest.fixture
def anon() -> APIClient:
    return APIClient()


@pytest.fixture
def other_admin(other_clinic):
    return make_staff("admin", [other_clinic], username="other_admin")


@pytest.fixture
def other_api(other_admin) -> APIClient:
    client = APIClient()
    client.force_authenticate(other_admin)
    return client
