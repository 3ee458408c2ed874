"""In a real browser the staff pages and the API docs work under the Content-Security-Policy: no violation.

Debian's Chromium (as tests/e2e); skipped on a laptop without it, never in CI.
"""

from __future__ import annotations

import os
from datetime import time
from pathlib import Path

import pytest

from tests.factories import ClinicFactory, PatientFactory, PlanFactory, WindowFactory, make_staff

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's sync API runs an event loop in this thread

CHROMIUM = Path("/usr/bin/chromium")
PASSWORD = "correct-horse-battery"
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not CHROMIUM.exists() and os.environ.get("CI", "").lower() != "true",
        reason="Debian's chromium is not installed (apt-get install chromium)",
    ),
]
# Collects what the browser reports, including violations the console would only show as text.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""


@pytest.fixture(scope="session")
def browser_type_launch_args() -> dict:
    return {"executable_path": str(CHROMIUM), "args": ["--headless=new", "--no-sandbox", "--disable-gpu"]}


@pytest.fixture(autouse=True)
def _static_from_the_apps(settings) -> None:
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def site(transactional_db) -> dict:
    clinic = ClinicFactory(name="Riverside Clinic", sms_name="Riverside Health", timezone="America/New_York")
    WindowFactory(clinic=clinic, weekdays=list(range(7)), start=time(0, 5), end=time(23, 50),
                  services=["methadone", "counselling"], capacity=40)
    patient = PatientFactory(clinic=clinic, first_name="Jordan", last_name="Okafor")
    PlanFactory(patient=patient)
    staff = {role: make_staff(role, [clinic], username=f"{role}_user") for role in ("front_desk", "admin")}
    return {"clinic": clinic, "patient": patient, "staff": staff}


@pytest.fixture
def browser_page(page, live_server):
    """A page that records CSP violations and console errors; it fails the test if any appear."""
    problems: list[str] = []
    page.add_init_script(RECORD_VIOLATIONS)
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    yield page, problems


def sign_in(page, live_server, role: str) -> None:
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(f"{role}_user")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/today/")


def visit(page, url: str) -> list[str]:
    page.goto(url)
    page.wait_for_load_state("networkidle")
    return page.evaluate("window.__cspViolations || []")


def test_the_staff_pages_load_without_a_csp_violation(browser_page, live_server, site):
    page, problems = browser_page
    clinic, patient = site["clinic"].pk, site["patient"].pk
    sign_in(page, live_server, "admin")
    paths = [
        f"/clinics/{clinic}/today/", f"/clinics/{clinic}/patients/", f"/patients/{patient}/",
        f"/patients/{patient}/book/", f"/clinics/{clinic}/escalations/", f"/clinics/{clinic}/dashboard/",
        f"/clinics/{clinic}/setup/", "/no-such-page/",
    ]

    violations = {path: visit(page, live_server.url + path) for path in paths}

    assert {path: found for path, found in violations.items() if found} == {}
    assert [p for p in problems if "Content Security Policy" in p or "Permissions-Policy" in p] == []


def test_the_forbidden_page_loads_without_a_csp_violation(browser_page, live_server, site):
    page, problems = browser_page
    sign_in(page, live_server, "front_desk")

    assert visit(page, f"{live_server.url}/clinics/{site['clinic'].pk}/setup/") == []
    assert [p for p in problems if "Content Security Policy" in p] == []


def test_the_api_docs_render_swagger_ui_without_a_csp_violation(browser_page, live_server, site):
    page, problems = browser_page
    sign_in(page, live_server, "front_desk")  # the docs are behind the staff login

    visit(page, f"{live_server.url}/api/docs/")
    page.locator(".opblock").first.wait_for(timeout=15_000)
    page.locator(".opblock-summary").first.click()  # an open operation draws its schemas and examples
    page.locator(".opblock-body").first.wait_for()

    assert page.evaluate("window.__cspViolations") == []
    assert page.locator(".opblock").count() > 30
    assert [p for p in problems if "Content Security Policy" in p] == []


def test_the_api_docs_render_redoc_from_the_app_under_the_csp(browser_page, live_server, site):
    """ReDoc draws the schema with its styles allowed by hash (config/urls.py) and its search worker off. The one
    thing the CSP refuses is ReDoc's "API docs by Redocly" logo from cdn.redoc.ly: blocked in the browser (nothing
    leaves it), and ReDoc then leaves the logo out."""
    page, problems = browser_page
    sign_in(page, live_server, "front_desk")

    visit(page, f"{live_server.url}/api/redoc/")
    page.get_by_role("heading", name="Dosewise API").first.wait_for(timeout=15_000)
    page.locator("[data-section-id^='operation/']").first.wait_for(timeout=15_000)

    violations = page.evaluate("window.__cspViolations")
    assert [v for v in violations if not v.startswith("img-src https://cdn.redoc.ly/")] == []
    assert page.locator("[data-section-id^='operation/']").count() > 30
    assert [p for p in problems if "Content Security Policy" in p and "cdn.redoc.ly" not in p] == []
