"""A withdrawal-to-naltrexone pathway in a real browser (issue #14), on a desktop and on a dosing-room tablet: a
clinician creates a methadone taper from the patient page, a nurse records a COWS and gives the day's taper dose on
the board, then the clinician starts a naltrexone plan, whose preview and patient page say from when its first
injection may be given (the rule set's 7 opioid-free days after today's dose)."""

from __future__ import annotations

from datetime import time, timedelta
from decimal import Decimal

import pytest
from playwright.sync_api import Page, expect

from scheduler.models import DoseOrder, Plan
from tests.e2e.conftest import local_today
from tests.factories import PatientFactory, PlanFactory, WindowFactory
from visits.generation import visits_generate
from visits.models import Assessment, Visit

pytestmark = [pytest.mark.e2e]

# A moderate withdrawal, scored item by item on the COWS page: 1 × 9 + gooseflesh 3 = 12.
COWS = {
    "Resting pulse rate": "1", "Sweating": "1", "Restlessness": "1", "Pupil size": "1", "Bone or joint aches": "1",
    "Runny nose or tearing": "1", "Stomach upset": "1", "Tremor": "1", "Yawning": "1", "Anxiety or irritability": "0",
    "Gooseflesh skin": "3",
}


@pytest.mark.parametrize("width,height", [(1280, 900), (768, 1024)])
def test_taper_cows_and_dose_then_naltrexone_first_injection_from(
    page: Page, live_server, site, login, shot, width, height
):
    page.set_viewport_size({"width": width, "height": height})
    today = local_today()
    WindowFactory(clinic=site["clinic"], weekdays=list(range(7)), start=time(0, 5), end=time(23, 50),
                  services=["naltrexone_xr"], capacity=4)
    patient = PatientFactory(clinic=site["clinic"], first_name="Kai", last_name="Taper", mrn="MRN-5150")
    methadone = PlanFactory(patient=patient, start_date=today - timedelta(days=60),
                            treatment_start=today - timedelta(days=60))
    visits_generate(plans=[methadone], today=today, horizon_days=1)
    visit = Visit.objects.get(plan=methadone, date=today)

    # The clinician creates a taper from the patient page: 30 mg today, 10 mg less each day.
    login("clinician")
    page.goto(f"{live_server.url}/patients/{patient.pk}/")
    doses = page.locator(f"#doses-{methadone.pk}")
    doses.get_by_text("Withdrawal taper").click()
    doses.get_by_label("Start dose (mg)").fill("30")
    doses.get_by_label("Step down by (mg)").fill("10")
    doses.get_by_label("Days between steps").fill("1")
    expect(doses.get_by_label("First day (clinic date)")).to_have_value(today.isoformat())
    doses.get_by_role("button", name="Create taper for Kai Taper").click()
    expect(page.get_by_role("status")).to_contain_text("Taper ordered for Kai Taper: 3 steps from 30 mg down to 10 mg")
    assert [o.dose_mg for o in DoseOrder.objects.filter(plan=methadone).order_by("effective_date")] == [
        Decimal("30.00"), Decimal("20.00"), Decimal("10.00")
    ]
    shot(f"withdrawal-taper-{width}")
    page.get_by_role("button", name="Log out").click()

    # The nurse records a COWS from the board, then gives the day's taper dose (30 mg).
    login("nurse")
    row = page.locator(f"#visit-{visit.pk}")
    expect(row.locator(".dose-due")).to_have_text("Due: 30 mg")
    row.get_by_role("link", name="Record COWS for Kai Taper").click()
    for label, score in COWS.items():
        page.get_by_label(label, exact=False).select_option(score)
    page.get_by_role("button", name="Save COWS for Kai Taper").click()
    expect(page.get_by_role("status")).to_contain_text("COWS recorded for Kai Taper: 12 of 48")
    assert Assessment.objects.get(visit=visit).total == 12
    row = page.locator(f"#visit-{visit.pk}")
    expect(row.locator(".cows-today")).to_contain_text("COWS today: 12")
    row.get_by_role("button", name="Check in Kai Taper").click()
    row = page.locator(f"#visit-{visit.pk}")
    expect(row.get_by_label("Dose given (mg)")).to_have_value("30")
    row.get_by_role("button", name="Complete visit for Kai Taper").click()
    expect(page.get_by_role("status")).to_contain_text("Completed: Kai Taper, 30 mg given.")
    expect(page.locator(f"#given-{visit.pk}")).to_contain_text("Given: 30 mg")
    shot(f"withdrawal-dose-given-{width}")
    page.get_by_role("button", name="Log out").click()

    # The clinician starts a naltrexone plan: the preview and the patient page say "first injection from".
    first = today + timedelta(days=7)
    words = f"First injection from {first:%a %Y-%m-%d}"
    login("clinician")
    page.goto(f"{live_server.url}/patients/{patient.pk}/plans/new/")
    page.get_by_label("Medication").select_option("naltrexone_xr")
    page.get_by_label("Plan starts on").fill(today.isoformat())
    page.get_by_label("Days between doses").fill("28")
    page.get_by_role("button", name="Preview the next four weeks").click()
    expect(page.locator("#preview-first-injection")).to_contain_text(words)
    shot(f"withdrawal-naltrexone-preview-{width}")
    page.get_by_role("button", name="Start the plan for Kai Taper").click()
    expect(page.get_by_role("status")).to_contain_text("plan started for Kai Taper")
    naltrexone = Plan.objects.get(patient=patient, medication="naltrexone_xr")
    expect(page.locator(f"#first-injection-{naltrexone.pk}")).to_contain_text(f"{words} for Kai Taper")
    assert not Visit.objects.filter(plan=naltrexone, kind="injection", date__lt=first).exists()
    shot(f"withdrawal-naltrexone-patient-{width}")
