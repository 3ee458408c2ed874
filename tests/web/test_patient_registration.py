"""Registering a patient and editing their details from the staff pages."""

from __future__ import annotations

from datetime import date

import pytest

from scheduler.models import Patient
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

FORM = {
    "first_name": "Avery",
    "last_name": "Quinn",
    "date_of_birth": "1990-05-01",
    "mrn": "MRN-9001",
    "phone": "(212) 555-0143",
    "language": "es",
    "sms_consent": "on",
}


def _register(client, clinic, **changes: str):
    return client.post(f"/clinics/{clinic.pk}/patients/new/", {**FORM, **changes})


def _error_after(html: str, field: str) -> str:
    return html.split(f'id="id_{field}"')[1].split("</div>")[0]


def test_the_search_page_links_to_registration(client_as, clinic):
    html = client_as("front_desk").get(f"/clinics/{clinic.pk}/patients/").content.decode()
    assert f'href="/clinics/{clinic.pk}/patients/new/">Register a patient<' in html


def test_managers_see_no_registration_link_and_may_not_register(client_as, clinic):
    client = client_as("manager")
    assert "Register a patient" not in client.get(f"/clinics/{clinic.pk}/patients/").content.decode()
    assert client.get(f"/clinics/{clinic.pk}/patients/new/").status_code == 403
    assert _register(client, clinic).status_code == 403
    assert not Patient.objects.filter(mrn="MRN-9001").exists()


@pytest.mark.parametrize("role", ["front_desk", "nurse", "clinician", "admin"])
def test_each_desk_role_registers_a_patient_with_text_consent(client_as, clinic, morning, role):
    response = _register(client_as(role), clinic)
    patient = Patient.objects.get(clinic=clinic, mrn="MRN-9001")
    assert response.status_code == 302
    assert response["Location"] == f"/patients/{patient.pk}/"
    assert (patient.first_name, patient.last_name, patient.date_of_birth) == ("Avery", "Quinn", date(1990, 5, 1))
    assert patient.phone == "+12125550143"
    assert patient.language == "es"
    assert patient.sms_consent is True
    assert patient.sms_consent_at == morning


def test_the_patient_page_says_registered_and_shows_the_language_by_name(client_as, clinic, morning):
    client = client_as("front_desk")
    html = client.get(_register(client, clinic)["Location"]).content.decode()
    assert "Registered Avery Quinn (MRN MRN-9001). Consent to texts recorded." in html
    assert "<dd>Spanish</dd>" in html


def test_the_form_shows_the_words_to_read_and_languages_by_name(client_as, clinic):
    html = client_as("front_desk").get(f"/clinics/{clinic.pk}/patients/new/").content.decode()
    assert "Read to the patient:" in html
    assert "Reply STOP at any time" in html
    assert '<option value="es">Spanish</option>' in html
    assert f'action="/clinics/{clinic.pk}/patients/new/"' in html


def test_a_patient_without_consent_gets_no_consent_time(client_as, clinic, morning):
    form = {k: v for k, v in FORM.items() if k != "sms_consent"}
    client_as("front_desk").post(f"/clinics/{clinic.pk}/patients/new/", form)
    patient = Patient.objects.get(mrn="MRN-9001")
    assert (patient.sms_consent, patient.sms_consent_at) == (False, None)


def test_a_bad_phone_is_shown_next_to_the_field_in_plain_words_with_everything_kept(client_as, clinic, morning):
    response = _register(client_as("front_desk"), clinic, phone="555-01")
    html = response.content.decode()
    assert response.status_code == 400
    field = _error_after(html, "phone")
    assert 'value="555-01"' in field
    assert 'aria-invalid="true"' in field
    assert "Enter a mobile number in the clinic&#x27;s national format, for example" in field
    assert "NumberParseException" not in html and "(1)" not in html
    assert 'value="Avery"' in _error_after(html, "first_name")
    assert 'value="MRN-9001"' in _error_after(html, "mrn")
    assert not Patient.objects.filter(mrn="MRN-9001").exists()


def test_a_taken_mrn_is_refused_next_to_the_mrn_field(client_as, clinic, patient, morning):
    response = _register(client_as("front_desk"), clinic, mrn="mrn-4711")
    assert response.status_code == 400
    assert "MRN mrn-4711 is already used by another patient of this clinic." in _error_after(
        response.content.decode(), "mrn"
    )


def test_the_same_mrn_at_another_clinic_is_allowed(client_as, clinic, other_patient, morning):
    assert _register(client_as("front_desk"), clinic, mrn="OTHER-1").status_code == 302


def test_a_missing_name_and_a_future_birth_date_are_refused_by_field(client_as, clinic, morning):
    response = _register(client_as("front_desk"), clinic, first_name="", date_of_birth="2030-01-01")
    html = response.content.decode()
    assert response.status_code == 400
    assert 'class="error"' in _error_after(html, "first_name")
    assert 'class="error"' in _error_after(html, "date_of_birth")
    assert 'value="2030-01-01"' in _error_after(html, "date_of_birth")


def test_consent_without_a_phone_is_refused_next_to_the_consent_box(client_as, clinic, morning):
    response = _register(client_as("front_desk"), clinic, phone="")
    html = response.content.decode()
    assert response.status_code == 400
    assert "Consent to texts needs a phone number." in html.split('id="id_sms_consent-error"')[1]


def test_an_unknown_language_code_is_refused(client_as, clinic, morning):
    response = _register(client_as("front_desk"), clinic, language="xx")
    assert response.status_code == 400
    assert 'class="error"' in _error_after(response.content.decode(), "language")


def test_the_same_name_and_birth_date_is_a_warning_not_a_block(client_as, clinic, morning):
    twin = PatientFactory(clinic=clinic, first_name="avery", last_name="QUINN", date_of_birth=date(1990, 5, 1))
    client = client_as("front_desk")
    response = _register(client, clinic)
    assert response.status_code == 302
    html = client.get(response["Location"]).content.decode()
    assert "Check this is not a second record of the same person" in html
    assert f'<a href="/patients/{twin.pk}/">avery QUINN (MRN {twin.mrn})</a>' in html
    assert Patient.objects.filter(clinic=clinic, first_name="Avery").exists()


def test_a_namesake_at_another_clinic_or_born_another_day_gives_no_warning(client_as, clinic, other_clinic, morning):
    PatientFactory(clinic=other_clinic, first_name="Avery", last_name="Quinn", date_of_birth=date(1990, 5, 1))
    PatientFactory(clinic=clinic, first_name="Avery", last_name="Quinn", date_of_birth=date(1991, 5, 1))
    client = client_as("front_desk")
    html = client.get(_register(client, clinic)["Location"]).content.decode()
    assert "second record" not in html


def test_another_clinics_registration_page_is_not_found(client_as, other_clinic):
    assert client_as("front_desk").get(f"/clinics/{other_clinic.pk}/patients/new/").status_code == 404


# Editing


def test_the_edit_form_shows_the_patients_details_with_the_phone_in_national_format(client_as, patient):
    Patient.objects.filter(pk=patient.pk).update(phone="+12125550143", language="es")
    html = client_as("nurse").get(f"/patients/{patient.pk}/edit/").content.decode()
    assert 'value="(212) 555-0143"' in _error_after(html, "phone")
    assert 'value="1980-03-09"' in _error_after(html, "date_of_birth")
    assert '<option value="es" selected>Spanish</option>' in html


def test_the_patient_page_links_to_the_edit_form(client_as, patient):
    html = client_as("front_desk").get(f"/patients/{patient.pk}/").content.decode()
    assert f'href="/patients/{patient.pk}/edit/">Edit details<' in html


def test_editing_saves_the_changes_and_keeps_consent_for_the_same_number(client_as, patient, morning):
    Patient.objects.filter(pk=patient.pk).update(phone="+12125550143", sms_consent=True)
    form = {**FORM, "mrn": "MRN-4711", "first_name": "Jordan", "last_name": "Okafor", "language": "fr"}
    response = client_as("clinician").post(f"/patients/{patient.pk}/edit/", form)
    assert response.status_code == 302
    patient.refresh_from_db()
    assert (patient.language, patient.phone, patient.sms_consent) == ("fr", "+12125550143", True)


def test_consent_given_on_edit_is_recorded_with_its_time(client_as, patient, morning):
    Patient.objects.filter(pk=patient.pk).update(phone="", sms_consent=False, sms_consent_at=None)
    form = {**FORM, "mrn": "MRN-4711", "first_name": "Jordan", "last_name": "Okafor"}
    client_as("front_desk").post(f"/patients/{patient.pk}/edit/", form)
    patient.refresh_from_db()
    assert (patient.phone, patient.sms_consent, patient.sms_consent_at) == ("+12125550143", True, morning)


def test_a_new_number_drops_the_old_consent_and_says_so(client_as, patient, morning):
    Patient.objects.filter(pk=patient.pk).update(phone="+12125550143", sms_consent=True)
    client = client_as("front_desk")
    form = {**FORM, "mrn": "MRN-4711", "first_name": "Jordan", "last_name": "Okafor", "phone": "(212) 555-0199"}
    response = client.post(f"/patients/{patient.pk}/edit/", form, follow=True)
    patient.refresh_from_db()
    assert (patient.phone, patient.sms_consent) == ("+12125550199", False)
    assert "Consent to texts was for the old number" in response.content.decode()


def test_an_edit_refused_keeps_what_was_typed(client_as, clinic, patient, morning):
    PatientFactory(clinic=clinic, mrn="TAKEN-1")
    form = {**FORM, "mrn": "TAKEN-1", "first_name": "Jordana"}
    response = client_as("front_desk").post(f"/patients/{patient.pk}/edit/", form)
    html = response.content.decode()
    assert response.status_code == 400
    assert "MRN TAKEN-1 is already used" in _error_after(html, "mrn")
    assert 'value="Jordana"' in _error_after(html, "first_name")
    patient.refresh_from_db()
    assert patient.first_name == "Jordan"


def test_another_clinics_patient_cannot_be_edited(client_as, other_patient):
    assert client_as("front_desk").get(f"/patients/{other_patient.pk}/edit/").status_code == 404
    assert client_as("front_desk").post(f"/patients/{other_patient.pk}/edit/", FORM).status_code == 404


def test_managers_may_not_edit_a_patient(client_as, patient):
    assert client_as("manager").post(f"/patients/{patient.pk}/edit/", FORM).status_code == 403
