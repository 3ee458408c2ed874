"""The front desk's day in a real browser, at 1280 and 768 px: check-in by MRN scan, undo, a late arrival, an excuse."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import local_today
from tests.factories import PatientFactory, PlanFactory
from visits.generation import visits_generate
from visits.models import Visit

pytestmark = [pytest.mark.e2e]


@pytest.fixture
def late_patient(site):
    """A second methadone patient whose visit today was already marked missed."""
    today = local_today()
    patient = PatientFactory(clinic=site["clinic"], first_name="Rae", last_name="Late", mrn="MRN-5150")
    plan = PlanFactory(patient=patient, start_date=today, attendance_weekdays=list(range(7)))
    visits_generate(plans=[plan], today=today, horizon_days=1)
    Visit.objects.filter(patient=patient, date=today).update(status="missed")
    return patient


def _no_horizontal_scroll(page: Page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")


def _beside(page: Page, name: str, button: str) -> None:
    """The patient's name and the action on that patient are both on screen, in the same row."""
    row = page.locator("tr", has_text=name)
    name_box = row.get_by_role("link", name=name).bounding_box()
    button_box = row.get_by_role("button", name=button).bounding_box()
    width = page.viewport_size["width"]
    assert name_box and button_box
    assert name_box["x"] >= 0 and name_box["x"] + name_box["width"] <= width
    assert button_box["x"] >= 0 and button_box["x"] + button_box["width"] <= width
    row_box = row.bounding_box()
    assert row_box and row_box["y"] <= button_box["y"] <= row_box["y"] + row_box["height"]


@pytest.mark.parametrize("width", [1280, 768])
def test_the_front_desk_scans_undoes_reopens_a_late_arrival_and_excuses(
    page: Page, live_server, site, login, shot, dosing_patient, late_patient, width
):
    page.set_viewport_size({"width": width, "height": 1000})
    login("front_desk")
    _no_horizontal_scroll(page)
    row = page.locator("tr", has_text="Okafor, Jordan")
    expect(row).to_contain_text("MRN MRN-4711")
    expect(row).to_contain_text("Born ")
    _beside(page, "Okafor, Jordan", "Check in Jordan Okafor")
    shot(f"board-{width}")

    # A barcode scanner types the number and presses Enter; the focus comes back to the field for the next one.
    field = page.get_by_label("Check in by MRN")
    field.fill("MRN-4711")
    field.press("Enter")
    expect(page.get_by_role("status")).to_contain_text("Checked in: Jordan Okafor (MRN MRN-4711, dose).")
    expect(page.get_by_label("Check in by MRN")).to_be_focused()
    expect(page.get_by_label("Check in by MRN")).to_have_value("")
    row = page.locator("tr", has_text="Okafor, Jordan")
    expect(row.locator(".badge").first).to_have_text("Checked in")

    page.keyboard.type("NO-SUCH-MRN")
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert").first).to_contain_text("No patient with MRN NO-SUCH-MRN")
    expect(page.get_by_label("Check in by MRN")).to_be_focused()
    shot(f"board-scan-refused-{width}")

    # Undo: the wrong patient was checked in.
    _beside(page, "Okafor, Jordan", "Undo check-in for Jordan Okafor")
    page.get_by_role("button", name="Undo check-in for Jordan Okafor").click()
    expect(page.get_by_role("status")).to_contain_text("Check-in undone: Jordan Okafor is expected again.")
    expect(page.locator("tr", has_text="Okafor, Jordan").locator(".badge").first).to_have_text("Expected")

    # A late arrival after the visit was marked missed.
    _no_horizontal_scroll(page)
    _beside(page, "Late, Rae", "Re-open (late arrival) for Rae Late")
    page.get_by_role("button", name="Re-open (late arrival) for Rae Late").click()
    expect(page.get_by_role("status")).to_contain_text("Late arrival: Rae Late is checked in again.")
    expect(page.locator("tr", has_text="Late, Rae").locator(".badge").first).to_have_text("Checked in")

    # Excuse with a reason, from the row's small form.
    row = page.locator("tr", has_text="Okafor, Jordan")
    row.locator("summary", has_text="Excuse").click()
    row.get_by_label("Reason").fill("In hospital")
    row.get_by_role("button", name="Excuse the visit for Jordan Okafor").click()
    expect(page.get_by_role("status")).to_contain_text("Excused: Jordan Okafor (reason: In hospital).")
    expect(page.locator("tr", has_text="Okafor, Jordan").locator(".badge").first).to_have_text("Excused")
    shot(f"board-after-{width}")
    visit = Visit.objects.get(patient=dosing_patient, date=local_today())
    assert (visit.status, visit.status_reason) == ("excused", "In hospital")
