"""Registering a patient with text consent and editing them, in a real browser at 1280 and 768 px."""

from __future__ import annotations

from datetime import date

import pytest
from playwright.sync_api import Page, expect

from scheduler.models import Patient
from tests.factories import PatientFactory

pytestmark = [pytest.mark.e2e]


@pytest.mark.parametrize("width", [1280, 768])
def test_the_front_desk_registers_a_patient_with_consent_then_edits_them(
    page: Page, live_server, site, login, shot, width
):
    PatientFactory(clinic=site["clinic"], first_name="Avery", last_name="Quinn", date_of_birth=date(1990, 5, 1))
    page.set_viewport_size({"width": width, "height": 1000})
    login("front_desk")
    page.get_by_role("link", name="Patients").click()
    page.get_by_role("link", name="Register a patient").click()
    expect(page.get_by_role("heading", name="Register a patient")).to_be_visible()
    page.get_by_label("First name").fill("Avery")
    page.get_by_label("Last name").fill("Quinn")
    page.get_by_label("Date of birth").fill("1990-05-01")
    page.get_by_label("MRN").fill("MRN-9001")
    page.get_by_label("Mobile phone").fill("212 555 01")
    page.get_by_label("Language for texts").select_option(label="Spanish")
    expect(page.get_by_text("Reply STOP at any time")).to_be_visible()
    page.get_by_label("The patient agreed to receive text reminders").check()
    page.get_by_role("button", name="Register the patient").click()

    # The refusal is next to the phone field, in plain words; everything typed is still there.
    phone = page.get_by_label("Mobile phone")
    expect(phone).to_have_attribute("aria-invalid", "true")
    expect(phone).to_have_value("212 555 01")
    expect(page.locator("#id_phone-error")).to_contain_text("Enter a mobile number in the clinic's national format")
    expect(page.get_by_label("MRN")).to_have_value("MRN-9001")
    expect(page.get_by_label("The patient agreed to receive text reminders")).to_be_checked()
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    shot(f"register-refused-{width}")
    phone.fill("(212) 555-0143")
    page.get_by_role("button", name="Register the patient").click()

    expect(page.get_by_role("heading", name="Quinn, Avery")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text(
        "Registered Avery Quinn (MRN MRN-9001). Consent to texts recorded."
    )
    expect(page.get_by_role("status")).to_contain_text("Check this is not a second record of the same person")
    expect(page.locator(".facts")).to_contain_text("Spanish")
    shot(f"register-done-{width}")
    patient = Patient.objects.get(clinic=site["clinic"], mrn="MRN-9001")
    assert (patient.phone, patient.sms_consent, patient.language) == ("+12125550143", True, "es")
    assert patient.sms_consent_at is not None

    page.get_by_role("link", name="Edit details").click()
    expect(page.get_by_label("Mobile phone")).to_have_value("(212) 555-0143")
    page.get_by_label("Language for texts").select_option(label="English")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("status")).to_contain_text("Saved Avery Quinn (MRN MRN-9001).")
    expect(page.locator(".facts")).to_contain_text("English")
    patient.refresh_from_db()
    assert (patient.language, patient.sms_consent) == ("en", True)
