"""Every read of a patient record leaves an access entry naming who read it (42 CFR Part 2, HIPAA)."""

from __future__ import annotations

from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType

from scheduler.models import Patient
from tests.factories import PatientFactory


def access_entries():
    return LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Patient), action=LogEntry.Action.ACCESS
    )


def test_reading_a_patient_records_an_access_entry_with_the_actor(api_as, clinic, staff):
    patient = PatientFactory(clinic=clinic)

    response = api_as("nurse").get(f"/api/v1/patients/{patient.pk}/")

    assert response.status_code == 200
    entry = access_entries().get()
    assert entry.object_pk == str(patient.pk)
    assert entry.actor == staff["nurse"]


def test_a_list_page_records_one_access_entry_naming_the_patients_shown(api_as, clinic, staff):
    patients = [PatientFactory(clinic=clinic) for _ in range(3)]

    api_as("front_desk").get("/api/v1/patients/")

    entry = access_entries().get()
    assert sorted(entry.additional_data["patient_ids"]) == sorted(p.pk for p in patients)
    assert entry.actor == staff["front_desk"]


def test_a_refused_read_records_nothing(other_api, clinic):
    patient = PatientFactory(clinic=clinic)

    assert other_api.get(f"/api/v1/patients/{patient.pk}/").status_code == 404
    assert not access_entries().exists()


def test_the_search_text_is_not_stored_in_the_audit_log(api_as, clinic):
    PatientFactory(clinic=clinic, first_name="Quentin")

    api_as("front_desk").get("/api/v1/patients/", {"q": "Quentin"})

    assert "Quentin" not in str(list(access_entries().values()))
