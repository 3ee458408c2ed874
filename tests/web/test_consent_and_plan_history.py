"""Consent to texts kept with who recorded it, when and the words read to the patient (DOMAIN §5); the history of a
patient's plans, pauses and guest dosing on the patient page, in clinic words (issue #13)."""

from __future__ import annotations

from datetime import date

import pytest
from auditlog.models import LogEntry

from scheduler.models import Patient
from scheduler.services import patient_create, patient_update
from web.forms import CONSENT_WORDS

pytestmark = pytest.mark.django_db

FORM = {
    "first_name": "Avery",
    "last_name": "Quinn",
    "date_of_birth": "1990-05-01",
    "mrn": "MRN-9001",
    "phone": "(212) 555-0143",
    "language": "en",
    "sms_consent": "on",
}
EDIT = {**FORM, "mrn": "MRN-4711", "first_name": "Jordan", "last_name": "Okafor"}


def _consenting(patient, user, morning) -> Patient:
    Patient.objects.filter(pk=patient.pk).update(
        phone="+12125550143", sms_consent=True, sms_consent_at=morning, sms_consent_by=user, sms_consent_words="Old"
    )
    patient.refresh_from_db()
    return patient


def test_registering_with_consent_records_who_when_and_the_words_read(client_as, clinic, staff, morning):
    client = client_as("front_desk")
    response = client.post(f"/clinics/{clinic.pk}/patients/new/", FORM)
    patient = Patient.objects.get(clinic=clinic, mrn="MRN-9001")
    assert (patient.sms_consent_at, patient.sms_consent_by, patient.sms_consent_words) == (
        morning, staff["front_desk"], CONSENT_WORDS
    )
    html = client.get(response["Location"]).content.decode()
    record = html.split('id="consent-record">')[1].split("</span></span>")[0]
    # 13:00 UTC is 08:00 in the clinic's New York.
    assert record.startswith("Consent to texts: given 2026-11-16 08:00 by front_desk_user")
    assert "(words read: <q>We can send you appointment reminders by text message" in record


def test_registering_without_consent_records_no_one_and_no_words(client_as, clinic, morning):
    form = {k: v for k, v in FORM.items() if k != "sms_consent"}
    client_as("front_desk").post(f"/clinics/{clinic.pk}/patients/new/", form)
    patient = Patient.objects.get(clinic=clinic, mrn="MRN-9001")
    assert (patient.sms_consent_at, patient.sms_consent_by, patient.sms_consent_words) == (None, None, "")


def test_consent_given_on_edit_records_the_editor_and_the_words(client_as, patient, staff, morning):
    Patient.objects.filter(pk=patient.pk).update(phone="", sms_consent=False, sms_consent_at=None)
    client_as("nurse").post(f"/patients/{patient.pk}/edit/", EDIT)
    patient.refresh_from_db()
    assert (patient.sms_consent, patient.sms_consent_by, patient.sms_consent_words) == (
        True, staff["nurse"], CONSENT_WORDS
    )


def test_consent_kept_for_the_same_number_keeps_its_record_when_someone_else_edits(client_as, patient, staff, morning):
    _consenting(patient, staff["front_desk"], morning)
    client_as("clinician").post(f"/patients/{patient.pk}/edit/", {**EDIT, "language": "fr"})
    patient.refresh_from_db()
    assert (patient.language, patient.sms_consent, patient.sms_consent_by, patient.sms_consent_words) == (
        "fr", True, staff["front_desk"], "Old"
    )


def test_withdrawn_consent_clears_the_record_and_the_audit_log_keeps_the_old_one(client_as, patient, staff, morning):
    _consenting(patient, staff["front_desk"], morning)
    form = {k: v for k, v in EDIT.items() if k != "sms_consent"}
    client = client_as("nurse")
    client.post(f"/patients/{patient.pk}/edit/", form)
    patient.refresh_from_db()
    assert (patient.sms_consent, patient.sms_consent_at, patient.sms_consent_by, patient.sms_consent_words) == (
        False, None, None, ""
    )
    entry = LogEntry.objects.get_for_object(patient).filter(action=LogEntry.Action.UPDATE).latest("id")
    assert entry.actor == staff["nurse"]
    assert entry.changes_dict["sms_consent_words"] == ["Old", ""]
    html = client.get(f"/patients/{patient.pk}/").content.decode()
    assert "No consent" in html and 'id="consent-record"' not in html


def test_a_new_number_voids_the_consent_record(client_as, patient, staff, morning):
    _consenting(patient, staff["front_desk"], morning)
    client_as("front_desk").post(f"/patients/{patient.pk}/edit/", {**EDIT, "phone": "(212) 555-0199"})
    patient.refresh_from_db()
    assert (patient.phone, patient.sms_consent, patient.sms_consent_by, patient.sms_consent_words) == (
        "+12125550199", False, None, ""
    )


def test_consent_without_a_staff_member_has_no_one_and_says_the_words_are_not_recorded(client_as, clinic, morning):
    data = {"mrn": "T-1", "first_name": "Sam", "last_name": "Lee", "phone": "(212) 555-0150", "sms_consent": True}
    patient = patient_create(clinic=clinic, data=data)
    assert (patient.sms_consent_at, patient.sms_consent_by, patient.sms_consent_words) == (morning, None, "")
    html = client_as("nurse").get(f"/patients/{patient.pk}/").content.decode()
    record = html.split('id="consent-record">')[1].split("</span></span>")[0]
    assert " by " not in record and "(words read: not recorded)" in record


def test_the_service_records_consent_given_later_with_its_words(clinic, staff, morning):
    patient = patient_create(clinic=clinic, data={"mrn": "T-2", "first_name": "Ana", "last_name": "Ruiz"})
    updated = patient_update(
        patient=patient, data={"phone": "(212) 555-0151", "sms_consent": True}, by=staff["admin"], consent_words="W"
    )
    assert (updated.sms_consent_at, updated.sms_consent_by, updated.sms_consent_words) == (morning, staff["admin"], "W")
    stored = Patient.objects.get(pk=patient.pk)
    assert (stored.sms_consent_by_id, stored.sms_consent_words) == (staff["admin"].pk, "W")


def test_the_api_shows_who_recorded_consent_and_ignores_words_sent_to_it(api_as, clinic, staff, morning):
    body = {"clinic": clinic.pk, "mrn": "A-7", "first_name": "Kim", "last_name": "Ng", "phone": "(212) 555-0152",
            "sms_consent": True, "sms_consent_words": "typed by a client", "sms_consent_by": 999}
    response = api_as("front_desk").post("/api/v1/patients/", body, format="json")
    assert response.status_code == 201
    assert (response.json()["sms_consent_by"], response.json()["sms_consent_words"]) == (staff["front_desk"].pk, "")
    patient = Patient.objects.get(mrn="A-7")
    assert (patient.sms_consent_by, patient.sms_consent_words) == (staff["front_desk"], "")


# Plan history


def _history(html: str) -> str:
    return html.split('id="hist-title"')[1].split("</section>")[0]


def test_the_history_shows_plan_changes_and_pauses_in_clinic_words_with_who(client_as, plan, morning):
    clinician = client_as("clinician")
    values = {"start_date": "2026-11-10", "attendance_weekdays": ["0", "1", "2", "3", "4", "5"]}
    assert clinician.post(f"/plans/{plan.pk}/change/", values).status_code == 302
    pause = {"start": "2026-11-20", "end": "2026-11-22", "reason": "hospital", "note": ""}
    assert client_as("front_desk").post(f"/plans/{plan.pk}/pauses/", pause).status_code == 302
    history = _history(clinician.get(f"/patients/{plan.patient_id}/").content.decode())
    rows = history.split("<tr>")[2:]
    assert any("front_desk_user" in r and "create Pause: Hospital (Methadone plan)" in r for r in rows)
    assert any("clinician_user" in r and "update Methadone plan" in r and "attendance" in r for r in rows)
    assert "methadone for patient" not in history


def test_ending_a_plan_shows_in_its_history(client_as, plan, morning):
    client = client_as("clinician")
    assert client.post(f"/plans/{plan.pk}/end/", {"end_date": "2026-11-30"}).status_code == 302
    history = _history(client.get(f"/patients/{plan.patient_id}/").content.decode())
    row = next(r for r in history.split("<tr>")[2:] if "Methadone plan" in r and "Ended" in r)
    assert "clinician_user" in row and "end date: None → " in row
    assert plan.patient.plans.get().end_date == date(2026, 11, 30)
