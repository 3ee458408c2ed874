"""Accessibility (issue #13): axe-core on every staff page, for every role that may see it, at 1280 and 768 px.

axe-core comes inside the axe-playwright-python wheel (no download at run time). It is injected with Playwright's
`page.evaluate`, which runs through the DevTools protocol and so is not subject to the pages' strict
Content-Security-Policy (no inline script): the pages are checked as served, with no `bypass_csp` context.

Every page visited here is also saved as a full-page screenshot under `var/screenshots/` (git-ignored), at both
widths, so a reviewer can see what each role sees on a desktop and on a dosing-room tablet.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect

from scheduler.models import DoseOrder
from tests.e2e.conftest import PASSWORD, ROLES, local_today
from tests.factories import PatientFactory, PlanFactory
from visits.models import Assessment, Escalation, Visit

pytestmark = [pytest.mark.e2e]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
WIDTHS = {"desktop": (1280, 900), "tablet": (768, 1024)}
BLOCKING_IMPACTS = ("serious", "critical")
AXE_SOURCE = Axe().axe_script  # axe.min.js from inside the wheel

ALL = frozenset(ROLES)
FRONT_DESK = frozenset({"front_desk", "nurse", "clinician", "admin"})
REPORTS = frozenset({"clinician", "manager", "admin"})
DOSING = frozenset({"nurse", "clinician", "admin"})
ADMIN = frozenset({"admin"})
CLINICAL = frozenset({"clinician", "admin"})  # the setup page: clinicians get its rule-set section


def staff_pages(clinic_id: int, patient_id: int, visit_id: int = 0) -> list[tuple[str, str, frozenset[str]]]:
    """(name, path, roles that may see it): every staff page of web/urls.py that answers a GET with HTML."""
    return [
        ("today", f"/clinics/{clinic_id}/today/", ALL),
        ("patient-search", f"/clinics/{clinic_id}/patients/", ALL),
        ("patient", f"/patients/{patient_id}/", ALL),
        ("patient-register", f"/clinics/{clinic_id}/patients/new/", FRONT_DESK),
        ("patient-edit", f"/patients/{patient_id}/edit/", FRONT_DESK),
        ("booking", f"/patients/{patient_id}/book/", FRONT_DESK),
        ("escalations", f"/clinics/{clinic_id}/escalations/", ALL),
        ("dashboard", f"/clinics/{clinic_id}/dashboard/", REPORTS),
        ("setup", f"/clinics/{clinic_id}/setup/", CLINICAL),
        ("cows", f"/visits/{visit_id}/cows/", DOSING),
    ]


def serious_violations(page: Page) -> list[str]:
    """axe-core's serious and critical violations on the page as shown, one line per rule with its targets.

    axe is injected with `page.evaluate` (as axe-playwright-python does), once per loaded document."""
    if page.evaluate("typeof window.axe === 'undefined'"):
        page.evaluate(AXE_SOURCE)
    results: dict[str, Any] = page.evaluate("axe.run({resultTypes: ['violations']})")
    lines = []
    for violation in results["violations"]:
        if violation["impact"] in BLOCKING_IMPACTS:
            targets = "; ".join(" ".join(node["target"]) for node in violation["nodes"])
            lines.append(f"{violation['id']} ({violation['impact']}): {targets}")
    return lines


CSRF_VALUE = re.compile(r'name="csrfmiddlewaretoken" value="[^"]*"')


def check(page: Page, name: str, seen: set[str] | None = None) -> list[str]:
    """At each width: save a full-page screenshot under var/screenshots/ and collect the blocking violations.

    With `seen`, a page whose <main> has exactly the markup of one already checked by another role is not checked
    again: only the header (navigation, the signed-in role) differs, and that was checked on the role's first
    page (the board)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    main = CSRF_VALUE.sub("", page.evaluate("document.querySelector('main')?.outerHTML ?? ''"))
    repeat = seen is not None and main in seen
    if seen is not None:
        seen.add(main)
    found = []
    for label, (width, height) in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=True)
        if not repeat:
            found += [f"{name} @ {width} px ({label}): {line}" for line in serious_violations(page)]
    return found


def report(found: list[str]) -> str:
    return "serious or critical axe violations:\n" + "\n".join(found)


def sign_in(page: Page, base: str, role: str) -> None:
    page.goto(f"{base}/login/")
    page.get_by_label("Username").fill(f"{role}_user")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/today/")


@pytest.fixture
def ward(site, dosing_patient) -> dict[str, Any]:
    """Something on every page: an expected dose on the board, a checked-in patient (the take-home field and
    "Undo check-in"), and a patient on hold with an open escalation (a blocked row on the board, a card in the
    inbox)."""
    from visits.generation import visits_generate
    from visits.services import visit_check_in

    today = local_today()
    held = PatientFactory(clinic=site["clinic"], first_name="Rae", last_name="Held", mrn="MRN-0007")
    plan = PlanFactory(patient=held, start_date=today - timedelta(days=3))
    visits_generate(plans=[plan], today=today, horizon_days=1)
    Escalation.objects.create(
        patient=held,
        plan=plan,
        clinic=site["clinic"],
        kind="hold",
        reason="3 days without medication",
        consecutive_missed=3,
        anchor_date=today - timedelta(days=4),
    )
    arrived = PatientFactory(clinic=site["clinic"], first_name="Ada", last_name="Arrived", mrn="MRN-0042")
    arrived_plan = PlanFactory(patient=arrived, start_date=today - timedelta(days=3))
    visits_generate(plans=[arrived_plan], today=today, horizon_days=1)
    visit_check_in(visit=Visit.objects.get(plan=arrived_plan, date=today), by=site["staff"]["front_desk"])
    # Issue #14: the patient's doses section with an order, a dose given and a COWS chart; the COWS page.
    dosing_plan = dosing_patient.plans.get()
    DoseOrder.objects.create(plan=dosing_plan, dose_mg=Decimal(30), effective_date=today, note="induction")
    given = Visit.objects.create(
        patient=dosing_patient, clinic=site["clinic"], plan=dosing_plan, kind="dose", status="completed",
        date=today - timedelta(days=1), source="manual", dose_mg=Decimal(25), dose_reason="patient declined part",
    )
    Assessment.objects.create(visit=given, patient=dosing_patient, items={}, total=9)
    visit = Visit.objects.get(plan=dosing_plan, date=today)
    # Issue #15: Ada's visit is drawn for a drug screen, so the board shows "Screen" and its result form; a
    # checked-in call-back shows the bottle count form.
    Visit.objects.filter(plan=arrived_plan, date=today).update(drug_screen=True)
    called = PatientFactory(clinic=site["clinic"], first_name="Cal", last_name="Called", mrn="MRN-0015")
    Visit.objects.create(patient=called, clinic=site["clinic"], kind="callback", date=today, status="checked_in")
    return {"clinic": site["clinic"], "patient": dosing_patient, "visit": visit}


def test_no_staff_page_has_a_serious_accessibility_violation_for_any_role_at_either_width(
    browser: Browser, browser_context_args: dict, live_server, ward
):
    """The login page (signed out, then after a refused sign-in), then, in one browser context per role, every
    page that role may open, and the styled "Not allowed" page for the roles that may not open the setup page;
    for the front desk also search results, a form sent back with errors, the "Not found" page and the escalations
    inbox filtered and refusing a filter value; for the clinician the rule set's preview. A page whose
    main content is the same markup as one another role already had checked is screenshotted but not checked
    again (see `check`), which keeps the test near a minute. All findings are collected and reported together."""
    base = live_server.url
    clinic_id, patient_id, visit_id = ward["clinic"].pk, ward["patient"].pk, ward["visit"].pk
    found: list[str] = []
    # A periodic job whose last run failed: the admin's jobs table shows the error.
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    from notifications.jobruns import record_failure

    every = IntervalSchedule.objects.create(every=5, period=IntervalSchedule.MINUTES)
    job = PeriodicTask.objects.create(name="Missed-visit sweep", task="visits.tasks.mark_missed_visits", interval=every)
    record_failure(name=job.name, task=job.task, exc=TimeoutError("the database did not answer"))

    context = browser.new_context(**browser_context_args)
    page = context.new_page()
    page.goto(f"{base}/login/")
    found += check(page, "anonymous-login")
    page.get_by_label("Username").fill("nobody")
    page.get_by_label("Password").fill("wrong-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    found += check(page, "anonymous-login-refused")
    context.close()

    visited, seen = 0, set[str]()
    for role in ROLES:
        context = browser.new_context(**browser_context_args)
        page = context.new_page()
        sign_in(page, base, role)
        for name, path, roles in staff_pages(clinic_id, patient_id, visit_id):
            if role not in roles:
                continue
            response = page.goto(f"{base}{path}")
            assert response is not None and response.status == 200, f"{role} {name}: {response and response.status}"
            # The board, each role's first page, is always checked in full: the header as that role sees it.
            found += check(page, f"{role}-{name}", None if name == "today" else seen)
            visited += 1
        if role == "front_desk":  # search results, a form sent back with its errors, the styled "Not found" page
            page.goto(f"{base}/clinics/{clinic_id}/patients/")
            page.get_by_label("Name, MRN or date of birth").press_sequentially("okaf", delay=30)
            expect(page.get_by_role("link", name="Okafor, Jordan")).to_be_visible()
            found += check(page, f"{role}-patient-search-results")
            page.goto(f"{base}/clinics/{clinic_id}/patients/new/")
            page.get_by_role("button", name="Register the patient").click()
            expect(page.locator("[aria-invalid=true]").first).to_be_visible()
            found += check(page, f"{role}-patient-register-refused")
            response = page.goto(f"{base}/patients/999999999/")
            assert response is not None and response.status == 404
            found += check(page, f"{role}-not-found")
            # The escalations inbox filtered, and a filter value it does not offer (the page with a message).
            page.goto(f"{base}/clinics/{clinic_id}/escalations/?kind=hold&age=0")
            found += check(page, f"{role}-escalations-filtered")
            page.goto(f"{base}/clinics/{clinic_id}/escalations/?age=soon")
            expect(page.locator("#filter-error")).to_be_visible()
            found += check(page, f"{role}-escalations-filter-refused")
        if role == "clinician":  # the rule-set section of setup with a preview of the change
            page.goto(f"{base}/clinics/{clinic_id}/setup/")
            page.get_by_role("button", name="Preview").click()
            expect(page.locator("#rules-preview")).to_be_visible()
            found += check(page, f"{role}-setup-rules-preview")
            # Issue #14: a re-induction schedule refused beside its field on the escalations page, a take-home
            # bottle refused on the board, and a split dose the windows cannot hold refused beside its field.
            page.goto(f"{base}/clinics/{clinic_id}/escalations/")
            card = page.locator("li.patient-card", has_text="Held, Rae")
            card.get_by_label("a re-induction schedule").check()
            card.get_by_label("Resolution note").fill("re-induce")
            card.get_by_label("Start on (mg)").fill("40")
            card.get_by_label("Raise by (mg)").fill("5")
            card.get_by_label("Every N days").fill("3")
            card.get_by_label("Up to (mg)").fill("60")
            card.get_by_role("button", name="Resolve").click()
            expect(page.locator("[id^=reind-start_mg-err-]")).to_be_visible()
            found += check(page, f"{role}-escalations-reinduction-refused")
            page.goto(f"{base}/clinics/{clinic_id}/today/")
            row = page.locator(f"#visit-{visit_id}")
            row.get_by_label("Bottle 1", exact=False).fill("10")
            row.get_by_role("button", name="Complete visit for Jordan Okafor").click()
            expect(page.locator(f"#bottle-err-{visit_id}")).to_be_visible()
            found += check(page, f"{role}-today-bottle-refused")
            page.goto(f"{base}/patients/{patient_id}/plans/new/")
            page.get_by_label("Medication").select_option("methadone")
            page.get_by_label("Sessions a day", exact=False).fill("2")
            page.get_by_label("First dose's share", exact=False).fill("60")
            page.get_by_role("button", name="Preview the next four weeks").click()
            expect(page.locator("#id_doses_per_day-error")).to_contain_text("split dose needs two windows")
            found += check(page, f"{role}-plan-form-split-refused")
        if role not in CLINICAL:
            response = page.goto(f"{base}/clinics/{clinic_id}/setup/")
            assert response is not None and response.status == 403
            expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
            found += check(page, f"{role}-forbidden", seen)
        context.close()
    assert visited == 5 + 5 + 5 + 4 + 4 + 4 + 5 + 3 + 2 + 3  # every (role, page) pair of staff_pages
    assert not found, report(found)


def test_the_front_desk_checks_a_patient_in_from_the_keyboard_alone(page: Page, live_server, ward):
    """On a 768 px tablet, from the top of the board, Tab reaches the row's "Check in" button and Enter presses
    it: no mouse. The board after the check-in (with its status message) is checked by axe too."""
    page.set_viewport_size({"width": 768, "height": 1024})
    sign_in(page, live_server.url, "front_desk")
    target = "Check in Jordan Okafor"
    for _ in range(80):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement && document.activeElement.getAttribute('aria-label')") == target:
            break
    else:
        pytest.fail(f"Tab never reached the {target!r} button")
    button = page.get_by_role("button", name=target)
    expect(button).to_be_focused()
    expect(button).to_be_in_viewport()
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_contain_text("Checked in: Jordan Okafor")
    expect(page.locator("tr", has_text="Okafor, Jordan").locator(".badge").first).to_have_text("Checked in")
    found = check(page, "front_desk-today-after-keyboard-check-in")
    assert not found, report(found)
