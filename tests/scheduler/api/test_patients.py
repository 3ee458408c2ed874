"""Patients: the front desk registers and edits them; phones in E.164; MRN unique per clinic."""

from __future__ import annotations

from datetime import date

import pytest

from scheduler.models import Patient
from tests.factories import PatientFactory

URL = "/api/v1/patients/"
NEW = {
    "mrn": "A-1001",
    "first_name": "Jamie",
    "last_name": "Ortega",
    "date_of_birth": "1990-05-17",
    "phone": "(212) 555-0142",
    "sms_consent": False,
    "language": "en",
}


def detail(patient):
    return f"{URL}{patient.pk}/"


def test_anonymous_gets_401(anon, clinic):
    patient = PatientFactory(clinic=clinic)
    assert anon.get(URL).status_code == 401
    assert anon.get(detail(patient)).status_code == 401


def test_another_clinics_user_gets_404(other_api, clinic):
    patient = PatientFactory(clinic=clinic)
    assert other_api.get(detail(patient)).status_code == 404
    assert other_api.patch(detail(patient), {"first_name": "X"}, format="json").status_code == 404
    assert other_api.get(URL).json()["results"] == []


def test_another_clinics_id_in_the_body_gets_404(other_api, clinic):
    response = other_api.post(URL, {**NEW, "clinic": clinic.pk}, format="json")

    assert response.status_code == 404
    assert not Patient.objects.exists()


def test_a_manager_may_read_but_not_write(api_as, clinic):
    patient = PatientFactory(clinic=clinic)
    client = api_as("manager")

    assert client.get(detail(patient)).status_code == 200
    assert client.post(URL, {**NEW, "clinic": clinic.pk}, format="json").status_code == 403
    response = client.patch(detail(patient), {"first_name": "X"}, format="json")
    assert response.status_code == 403
    assert "front desk" in response.json()["detail"]


@pytest.mark.parametrize("role", ["front_desk", "nurse", "clinician", "admin"])
def test_the_front_desk_and_clinical_staff_register_patients(api_as, clinic, role):
    response = api_as(role).post(URL, {**NEW, "clinic": clinic.pk}, format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["clinic"] == clinic.pk
    assert body["sms_opted_out"] is False


def test_a_national_phone_number_is_stored_in_e164(api_as, clinic):
    response = api_as("front_desk").post(URL, {**NEW, "clinic": clinic.pk}, format="json")

    assert response.json()["phone"] == "+12125550142"


def test_an_invalid_phone_number_is_refused_naming_phone(api_as, clinic):
    response = api_as("front_desk").post(URL, {**NEW, "clinic": clinic.pk, "phone": "555-12"}, format="json")

    assert response.status_code == 400
    assert "phone" in response.json()


def test_an_mrn_is_unique_within_a_clinic(api_as, clinic):
    PatientFactory(clinic=clinic, mrn="A-1001")

    response = api_as("front_desk").post(URL, {**NEW, "clinic": clinic.pk}, format="json")

    assert response.status_code == 400
    assert "mrn" in response.json()


def test_the_same_mrn_may_exist_at_another_clinic(api_as, clinic, other_clinic):
    PatientFactory(clinic=other_clinic, mrn="A-1001")

    response = api_as("front_desk").post(URL, {**NEW, "clinic": clinic.pk}, format="json")

    assert response.status_code == 201


def test_consent_records_when_it_was_given(api_as, clinic, frozen_now):
    patient = PatientFactory(clinic=clinic, sms_consent=False)

    response = api_as("front_desk").patch(detail(patient), {"sms_consent": True}, format="json")

    assert response.status_code == 200
    patient.refresh_from_db()
    assert patient.sms_consent_at is not None
    assert response.json()["sms_consent_at"].startswith("2026-11-02T10:00")


def test_a_new_phone_number_needs_new_consent(api_as, clinic):
    patient = PatientFactory(clinic=clinic, sms_consent=True, phone="+12125550100")

    response = api_as("front_desk").patch(detail(patient), {"phone": "212 555 0199"}, format="json")

    assert response.status_code == 200
    assert response.json()["phone"] == "+12125550199"
    assert response.json()["sms_consent"] is False


def test_sms_opted_out_is_read_only(api_as, clinic):
    patient = PatientFactory(clinic=clinic, sms_opted_out=True)

    api_as("front_desk").patch(detail(patient), {"sms_opted_out": False}, format="json")

    patient.refresh_from_db()
    assert patient.sms_opted_out is True


def test_a_patient_cannot_move_to_another_clinic(api_as, clinic, other_clinic, staff):
    staff["admin"].staff.clinics.add(other_clinic)
    patient = PatientFactory(clinic=clinic)

    response = api_as("admin").patch(detail(patient), {"clinic": other_clinic.pk}, format="json")

    assert response.status_code == 400
    assert "clinic" in response.json()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("jamie", ["jamie"]),
        ("ORTEGA", ["jamie"]),
        ("jamie ortega", ["jamie"]),
        ("ortega, jamie", ["jamie"]),
        ("mrn-77", ["sam"]),
        ("1979-01-02", ["sam"]),
        ("nobody", []),
    ],
)
def test_q_finds_patients_by_name_mrn_or_date_of_birth(api_as, clinic, query, expected):
    PatientFactory(clinic=clinic, first_name="Jamie", last_name="Ortega", mrn="X-1")
    PatientFactory(clinic=clinic, first_name="Sam", last_name="Lee", mrn="MRN-77", date_of_birth=date(1979, 1, 2))

    response = api_as("nurse").get(URL, {"q": query})

    assert response.status_code == 200
    assert [row["first_name"].lower() for row in response.json()["results"]] == expected


def test_a_non_integer_clinic_filter_is_a_400(api_as, clinic):
    response = api_as("nurse").get(URL, {"clinic": "abc"})

    assert response.status_code == 400
    assert "clinic" in response.json()


def test_the_clinic_filter_narrows_the_list(api_as, clinic, other_clinic, staff):
    staff["admin"].staff.clinics.add(other_clinic)
    mine = PatientFactory(clinic=clinic)
    PatientFactory(clinic=other_clinic)

    response = api_as("admin").get(URL, {"clinic": clinic.pk})

    assert [row["id"] for row in response.json()["results"]] == [mine.pk]
