"""Staff pages in a real browser: roles, booking, dosing, the missed sweep, the dashboard."""

from __future__ import annotations

import csv
import io
from datetime import time, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import local_instant, local_today
from tests.factories import PatientFactory, PlanFactory
from visits.models import Escalation, Visit

pytestmark = [pytest.mark.e2e]

NAV_BY_ROLE = {
    "front_desk": {"Today", "Patients", "Escalations"},
    "nurse": {"Today", "Patients", "Escalations"},
    "clinician": {"Today", "Patients", "Escalations", "Dashboard", "Setup"},
    "manager": {"Today", "Patients", "Escalations", "Dashboard"},
    "admin": {"Today", "Patients", "Escalations", "Dashboard", "Setup"},
}


@pytest.mark.parametrize("role", list(NAV_BY_ROLE))
def test_each_role_sees_only_what_it_may(page: Page, live_server, site, login, shot, role):
    login(role)
    nav = page.get_by_role("navigation", name="Main")
    links = set(nav.get_by_role("link").all_inner_texts())
    assert links == NAV_BY_ROLE[role]
    shot(f"role-{role}-today")
    clinic = site["clinic"]
    response = page.goto(f"{live_server.url}/clinics/{clinic.pk}/dashboard/")
    assert response.status == (200 if "Dashboard" in NAV_BY_ROLE[role] else 403)
    response = page.goto(f"{live_server.url}/clinics/{clinic.pk}/setup/")
    assert response.status == (200 if "Setup" in NAV_BY_ROLE[role] else 403)
    if "Setup" not in NAV_BY_ROLE[role]:
        expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    shot(f"role-{role}-setup")


def test_search_then_book_a_visit_and_see_availability_drop(page: Page, live_server, site, login, shot):
    PatientFactory(clinic=site["clinic"], first_name="Jordan", last_name="Okafor", mrn="MRN-4711")
    login("front_desk")
    page.get_by_role("link", name="Patients").click()
    page.get_by_label("Name, MRN or date of birth").press_sequentially("okaf", delay=30)
    result = page.get_by_role("link", name="Okafor, Jordan")
    expect(result).to_be_visible()
    assert "okaf" not in page.url.lower()
    shot("search-results")
    page.get_by_role("link", name="Book").click()
    tomorrow = (local_today() + timedelta(days=1)).isoformat()
    page.get_by_label("Visit for").select_option("counselling")
    page.get_by_label("Date", exact=True).fill(tomorrow)
    page.get_by_label("Date", exact=True).dispatch_event("change")
    slot = page.locator("[data-availability] label.slot").first
    expect(slot).to_contain_text("3 of 3 free")
    shot("book-before")
    page.get_by_role("button", name="Book", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text(f"Booked counselling on {tomorrow}")
    page.get_by_label("Visit for").select_option("counselling")
    page.get_by_label("Date", exact=True).fill(tomorrow)
    page.get_by_label("Date", exact=True).dispatch_event("change")
    expect(page.locator("[data-availability] label.slot").first).to_contain_text("2 of 3 free")
    expect(page.get_by_role("heading", name="Upcoming visits")).to_be_visible()
    shot("book-after")


@pytest.mark.parametrize("width", [1280, 768])
def test_check_in_and_complete_a_dose_with_take_homes(
    page: Page, live_server, site, login, shot, dosing_patient, width
):
    page.set_viewport_size({"width": width, "height": 1000})
    login("nurse")
    row = page.locator("tr", has_text="Okafor, Jordan")
    expect(row.locator(".badge")).to_have_text("Expected")
    row.get_by_role("button", name="Check in").click()
    row = page.locator("tr", has_text="Okafor, Jordan")
    expect(row.locator(".badge").first).to_have_text("Checked in")
    # The plan's calendar (today, then two take-home days) is shown next to the field before anyone clicks.
    expect(row.locator(".planned")).to_have_text("Planned take-homes: 2")
    row.get_by_label("Take-homes").fill("9")
    row.get_by_role("button", name="Complete").click()
    row = page.locator("tr", has_text="Okafor, Jordan")
    expect(row.get_by_role("alert")).to_contain_text("take-home")
    expect(row.get_by_label("Take-homes")).to_have_value("9")  # the refusal keeps what the nurse typed
    shot(f"complete-limit-error-{width}")
    row.get_by_label("Take-homes").fill("2")
    row.get_by_role("button", name="Complete").click()
    row = page.locator("tr", has_text="Okafor, Jordan")
    expect(row.locator(".badge").first).to_have_text("Completed")
    expect(row).to_contain_text("+2 take-home")
    expect(page.locator('[data-count="completed"]')).to_have_text("1")
    visit = Visit.objects.get(patient=dosing_patient, date=local_today())
    assert visit.status == "completed" and visit.take_home_doses == 2
    shot(f"complete-done-{width}")


def test_the_board_says_why_a_dose_is_blocked_before_anyone_clicks(page: Page, live_server, site, login, shot):
    """A hold on the patient's injection plan blocks today's methadone dose: the reason stands beside the name,
    the button is marked and described by it, and pressing it from the keyboard gets the server's refusal."""
    from visits.generation import visits_generate

    today = local_today()
    patient = PatientFactory(clinic=site["clinic"], first_name="Rae", last_name="Held", mrn="MRN-0007")
    plan = PlanFactory(patient=patient, start_date=today - timedelta(days=3))
    visits_generate(plans=[plan], today=today, horizon_days=1)
    injection = PlanFactory(patient=patient, medication="naltrexone_xr", interval_days=28, start_date=today)
    Escalation.objects.create(
        patient=patient, plan=injection, clinic=site["clinic"], kind="hold", reason="3 days without medication",
        consecutive_missed=3, anchor_date=today - timedelta(days=4),
    )
    login("nurse")
    row = page.locator("tr", has_text="Held, Rae")
    expect(row.locator(".badge").first).to_have_text("On hold")
    expect(row.locator(".blocker")).to_contain_text("plan on hold: hold since")
    button = row.get_by_role("button", name="Complete visit for Rae Held (blocked)")
    expect(button).to_be_enabled()
    shot("board-blocked-row")
    button.focus()
    page.keyboard.press("Enter")
    row = page.locator("tr", has_text="Held, Rae")
    expect(row.get_by_role("alert")).to_contain_text("plan on hold")
    assert Visit.objects.get(plan=plan, date=today).status == "scheduled"


def test_a_clinician_hands_out_more_take_homes_than_planned_with_a_reason(
    page: Page, live_server, site, login, shot
):
    from visits.generation import visits_generate

    today = local_today()
    patient = PatientFactory(clinic=site["clinic"], first_name="Lee", last_name="Travels", mrn="MRN-0008")
    plan = PlanFactory(patient=patient, start_date=today - timedelta(days=3))
    visits_generate(plans=[plan], today=today, horizon_days=3)
    login("clinician")
    row = page.locator("tr", has_text="Travels, Lee")
    expect(row.locator(".planned")).to_have_text("Planned take-homes: 0")
    row.get_by_label("Take-homes", exact=True).fill("2")
    row.get_by_label("Reason (if more take-homes than planned)").fill("Family funeral out of state")
    row.get_by_role("button", name="Complete").click()
    expect(page.get_by_text("Completed: Lee Travels with 2 take-home doses (reason: Family funeral")).to_be_visible()
    visit = Visit.objects.get(plan=plan, date=today)
    assert (visit.status, visit.take_home_doses) == ("completed", 2)
    shot("complete-with-reason")


def test_the_missed_sweep_shows_missed_visits_and_the_hold_on_the_board(page: Page, live_server, site, login, shot):
    from visits.generation import visits_generate
    from visits.missed import visits_mark_missed

    today = local_today()
    patient = PatientFactory(clinic=site["clinic"], first_name="Sam", last_name="Missing", mrn="MRN-0003")
    plan = PlanFactory(patient=patient, start_date=today - timedelta(days=2))
    visits_generate(plans=[plan], today=today - timedelta(days=2), horizon_days=3)
    assert Visit.objects.filter(plan=plan).count() == 3
    login("clinician")
    expect(page.locator("tr", has_text="Missing, Sam").locator(".badge").first).to_have_text("Expected")
    # The sweep runs at 23:00 clinic time: every one of the three windows (until 12:00) is over.
    visits_mark_missed(now=local_instant(today, time(23, 0)))
    assert Escalation.objects.filter(plan=plan, kind="hold", resolved_at__isnull=True).exists()
    expect(page.locator('[data-count="missed"]')).to_have_text("1", timeout=20_000)  # the 15 s poll
    page.reload()
    row = page.locator("tr", has_text="Missing, Sam")
    expect(row.locator(".badge").first).to_have_text("Missed")
    expect(row).to_contain_text("Hold")
    shot("missed-sweep-board")
    page.get_by_role("link", name="Escalations").click()
    expect(page.locator(".escalations").first).to_contain_text("Missing, Sam")  # the holds group
    shot("escalations-inbox")
    page.get_by_role("link", name="Missing, Sam").first.click()
    expect(page.get_by_role("heading", name="Open escalations")).to_be_visible()
    assert page.locator("ol.strip li.cell-missed").count() == 3
    shot("patient-page")
    page.set_viewport_size({"width": 768, "height": 1000})
    shot("patient-page-768")


def test_the_dashboard_draws_charts_and_downloads_the_csv(page: Page, live_server, site, login, shot):
    today = local_today()
    patient = PatientFactory(clinic=site["clinic"], first_name="Ann", last_name="Attends", mrn="MRN-0100")
    plan = PlanFactory(patient=patient, start_date=today - timedelta(days=20))
    for i, status in enumerate(["completed", "completed", "missed", "completed", "excused", "missed"]):
        day = today - timedelta(days=3 * i + 1)
        Visit.objects.create(
            patient=patient,
            clinic=site["clinic"],
            plan=plan,
            kind="dose",
            date=day,
            status=status,
            start=local_instant(day, time(8, 0)),
            end=local_instant(day, time(12, 0)),
        )
    login("manager")
    page.get_by_role("link", name="Dashboard").click()
    assert page.locator("svg.chart").count() == 4  # weeks, medications, injections, retention
    assert page.locator("svg.chart .bar rect").count() >= 2
    assert page.locator("svg.heatmap rect.heat").count() >= 7 * 18
    expect(page.locator(".kpis")).to_contain_text("60.0%")
    shot("dashboard")
    with page.expect_download() as info:
        page.get_by_role("link", name="Download attendance CSV").click()
    download = info.value
    assert download.suggested_filename.startswith("attendance-clinic")
    rows = list(csv.reader(io.StringIO(Path(download.path()).read_text(encoding="utf-8"))))
    assert rows[0][0] == "patient_id"
    assert rows[1][1:4] == ["MRN-0100", "Attends", "Ann"]
    assert rows[1][5:7] == ["3", "2"]
    page.set_viewport_size({"width": 768, "height": 1000})
    shot("dashboard-768")
