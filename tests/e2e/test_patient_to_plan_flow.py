"""From registration to a plan in a real browser, at 1280 and 768 px (issue #13): the front desk registers a patient
with text consent (who recorded it and the words read are shown), a clinician starts a methadone plan, sees the
engine's next four weeks before saving, saves, and the plan and its history show on the patient page. axe checks
each state on the way (the plan form with its preview is not among test_accessibility's pages)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from scheduler.models import Patient, Plan
from tests.e2e.conftest import local_today
from tests.e2e.test_accessibility import report, serious_violations
from web.forms import CONSENT_WORDS

pytestmark = [pytest.mark.e2e]


def _no_horizontal_scroll(page: Page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")


@pytest.mark.parametrize("width", [1280, 768])
def test_register_with_consent_then_a_clinician_previews_and_starts_a_methadone_plan(
    page: Page, live_server, site, login, shot, width
):
    page.set_viewport_size({"width": width, "height": 1000})
    found: list[str] = []

    # The front desk registers the patient and reads the consent words to them.
    login("front_desk")
    page.get_by_role("link", name="Patients").click()
    page.get_by_role("link", name="Register a patient").click()
    page.get_by_label("First name").fill("Mina")
    page.get_by_label("Last name").fill("Castillo")
    page.get_by_label("Date of birth").fill("1988-02-14")
    page.get_by_label("MRN").fill("MRN-7070")
    page.get_by_label("Mobile phone").fill("(212) 555-0177")
    expect(page.locator("#consent-words")).to_have_text(CONSENT_WORDS)
    page.get_by_label("The patient agreed to receive text reminders").check()
    shot(f"flow-register-{width}")
    page.get_by_role("button", name="Register the patient").click()

    expect(page.get_by_role("heading", name="Castillo, Mina")).to_be_visible()
    record = page.locator("#consent-record")
    expect(record).to_contain_text("Consent to texts: given ")
    expect(record).to_contain_text(" by front_desk_user")
    expect(record).to_contain_text("words read: " + CONSENT_WORDS[:40])
    _no_horizontal_scroll(page)
    shot(f"flow-registered-{width}")
    found += [f"patient page with consent @ {width}: {v}" for v in serious_violations(page)]
    patient = Patient.objects.get(clinic=site["clinic"], mrn="MRN-7070")
    assert (patient.sms_consent_by, patient.sms_consent_words) == (site["staff"]["front_desk"], CONSENT_WORDS)
    # The front desk may not start a plan: only clinicians and admins see the button.
    expect(page.get_by_role("link", name="Start a plan for Mina Castillo")).to_have_count(0)
    patient_url = page.url

    # A clinician starts a methadone plan and sees the next four weeks before saving.
    page.context.clear_cookies()
    login("clinician")
    page.goto(patient_url)
    page.get_by_role("link", name="Start a plan for Mina Castillo").click()
    expect(page.get_by_role("heading", name="Start a plan for Castillo, Mina")).to_be_visible()
    page.get_by_label("Medication").select_option(label="Methadone")
    page.get_by_role("button", name="Preview the next four weeks").click()
    preview = page.locator("#plan-preview")
    expect(preview.get_by_role("heading", name="Preview: the next four weeks (not saved yet)")).to_be_visible()
    expect(preview.locator("tbody tr")).to_have_count(28)
    today = local_today()
    expect(preview.locator("tbody tr").first).to_contain_text(f"{today:%Y-%m-%d}")
    expect(preview.locator("tbody tr").first).to_contain_text("Visit")
    _no_horizontal_scroll(page)
    shot(f"flow-plan-preview-{width}")
    found += [f"plan form with preview @ {width}: {v}" for v in serious_violations(page)]
    assert not Plan.objects.filter(patient=patient).exists()  # the preview saves nothing

    page.get_by_role("button", name="Start the plan for Mina Castillo").click()
    expect(page.get_by_role("status")).to_contain_text("Methadone plan started for Mina Castillo (MRN MRN-7070).")
    plans = page.locator("section", has=page.get_by_role("heading", name="Plans", exact=True))
    expect(plans.locator("tbody tr")).to_have_count(1)
    expect(plans.locator("tbody tr").first).to_contain_text("Methadone")
    expect(plans.locator("tbody tr").first).to_contain_text("Active")
    expect(plans.locator("tbody tr").first).to_contain_text(f"{today:%Y-%m-%d}")
    history = page.locator("section", has=page.get_by_role("heading", name="Change history"))
    created = history.locator("tbody tr", has_text="create Methadone plan")
    expect(created).to_have_count(1)
    expect(created).to_contain_text("clinician_user")
    expect(history.locator("tbody tr", has_text="create Patient")).to_contain_text("front_desk_user")
    _no_horizontal_scroll(page)
    shot(f"flow-plan-started-{width}")
    found += [f"patient page with plan and history @ {width}: {v}" for v in serious_violations(page)]
    assert not found, report(found)
    plan = Plan.objects.get(patient=patient)
    assert (plan.medication, plan.status, plan.start_date) == ("methadone", "active", today)
