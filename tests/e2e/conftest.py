"""Browser tests: Debian's Chromium (never a downloaded browser) against pytest-django's live server.

Playwright's sync API runs an event loop in the test thread, so Django's async-safety guard is
relaxed for the ORM calls the tests make to arrange data.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from tests.factories import ClinicFactory, PatientFactory, PlanFactory, WindowFactory, make_staff

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

# Issue #13: a screenshot of every page at both widths, under var/ (gitignored, never committed).
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots" / "e2e"
ROLES = ("front_desk", "nurse", "clinician", "manager", "admin")
PASSWORD = "correct-horse-battery"
TZ = "America/New_York"


CHROMIUM = Path("/usr/bin/chromium")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Debian's Chromium is installed by .ci/run; on a laptop without it the browser tests skip (never in CI)."""
    if CHROMIUM.exists():
        return
    if os.environ.get("CI", "").lower() == "true":
        raise pytest.UsageError("CI needs Debian's chromium at /usr/bin/chromium for the browser tests")
    skip = pytest.mark.skip(reason="Debian's chromium is not installed (apt-get install chromium)")
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def browser_type_launch_args() -> dict:
    return {
        "executable_path": "/usr/bin/chromium",
        "args": [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict) -> dict:
    return {**browser_context_args, "viewport": {"width": 1280, "height": 900}, "accept_downloads": True}


@pytest.fixture(autouse=True)
def _e2e_settings(settings) -> None:
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def shot(page) -> Callable[[str], Path]:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


def local_today() -> date:
    return timezone.localtime(timezone.now(), ZoneInfo(TZ)).date()


def local_instant(day: date, at: time) -> datetime:
    return datetime.combine(day, at, tzinfo=ZoneInfo(TZ))


@pytest.fixture
def site(transactional_db):
    """A clinic whose windows run every day, so the tests pass at any hour the suite runs."""
    clinic = ClinicFactory(name="Riverside Clinic", sms_name="Riverside Health", timezone=TZ)
    WindowFactory(
        clinic=clinic,
        weekdays=list(range(7)),
        start=time(0, 5),
        end=time(12, 0),
        services=["methadone", "buprenorphine"],
        capacity=40,
    )
    WindowFactory(
        clinic=clinic,
        weekdays=list(range(7)),
        start=time(0, 5),
        end=time(23, 50),
        services=["counselling", "assessment", "callback"],
        capacity=3,
    )
    staff = {role: make_staff(role, [clinic], username=f"{role}_user") for role in ROLES}
    return {"clinic": clinic, "staff": staff}


@pytest.fixture
def dosing_patient(site):
    """A methadone patient on treatment day 5 today (at most 7 take-homes), with a visit today.

    The patient attends today's weekday and the weekday three days on (Mon/Thu when today is a Monday): the two
    days between are take-home days, so the plan's calendar expects 2 take-homes at today's visit (API.md v1.1:
    a nurse may hand out what the calendar expects, never more)."""
    from visits.generation import visits_generate

    today = local_today()
    patient = PatientFactory(clinic=site["clinic"], first_name="Jordan", last_name="Okafor", mrn="MRN-4711")
    attends = [today.weekday(), (today + timedelta(days=3)).weekday()]
    plan = PlanFactory(
        patient=patient, start_date=today, treatment_start=today - timedelta(days=4), attendance_weekdays=attends
    )
    visits_generate(plans=[plan], today=today, horizon_days=2)
    return patient


@pytest.fixture
def login(page, live_server) -> Callable[[str], None]:
    def sign_in(role: str) -> None:
        page.goto(f"{live_server.url}/login/")
        page.get_by_label("Username").fill(f"{role}_user")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/today/")

    return sign_in
