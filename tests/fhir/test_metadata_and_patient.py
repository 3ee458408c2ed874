"""Stage 1: the CapabilityStatement, Patient read and search, telecom by role, Part 2 labels, auth errors."""

from __future__ import annotations

import pytest
from auditlog.models import LogEntry

from tests.factories import PatientFactory
from tests.fhir.conftest import PART2, get, labels, valid


def test_the_capability_statement_is_public_and_valid(anon):
    response = anon.get("/fhir/R4/metadata")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/fhir+json")
    body = response.json()
    valid(body)
    types = {r["type"] for r in body["rest"][0]["resource"]}
    assert {"Patient", "Appointment", "CarePlan", "Schedule", "Slot", "MedicationAdministration",
            "MedicationDispense"} <= types
    assert body["rest"][0]["operation"][0]["name"] == "export"


def test_a_patient_reads_with_its_mrn_under_the_clinics_system_and_part2_labels(fhir_as, patient):
    response = get(fhir_as("nurse"), f"Patient/{patient.pk}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/fhir+json")
    body = response.json()
    valid(body)
    assert body["identifier"][0] == {
        "use": "usual",
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR",
                             "display": "Medical record number"}]},
        "system": f"urn:dosewise:clinic:{patient.clinic_id}:mrn",
        "value": "MRN-1001",
    }
    assert body["name"][0]["family"] == "Whitfield"
    assert body["birthDate"] == "1985-04-12"
    assert labels(body) >= PART2


@pytest.mark.parametrize("role", ["front_desk", "nurse", "clinician", "admin"])
def test_roles_that_may_see_phone_numbers_get_telecom(fhir_as, patient, role):
    body = get(fhir_as(role), f"Patient/{patient.pk}").json()
    assert body["telecom"] == [{"system": "sms", "value": "+12125550188", "use": "mobile"}]


def test_a_manager_gets_no_telecom_in_a_read_or_a_search(fhir_as, patient):
    client = fhir_as("manager")
    assert "telecom" not in get(client, f"Patient/{patient.pk}").json()
    bundle = get(client, "Patient", name="Dana").json()
    assert bundle["total"] == 1
    assert "telecom" not in bundle["entry"][0]["resource"]


def test_a_patient_read_is_audited(fhir_as, patient, staff):
    get(fhir_as("front_desk"), f"Patient/{patient.pk}")
    entry = LogEntry.objects.filter(action=LogEntry.Action.ACCESS, object_pk=str(patient.pk)).get()
    assert entry.actor == staff["front_desk"]


def test_a_patient_search_page_is_audited_with_the_patients_it_showed(fhir_as, patient, staff):
    get(fhir_as("nurse"), "Patient", identifier="MRN-1001")
    entry = LogEntry.objects.filter(action=LogEntry.Action.ACCESS, object_pk="").get()
    assert entry.additional_data["patient_ids"] == [patient.pk]
    assert entry.actor == staff["nurse"]


@pytest.mark.parametrize("identifier", ["MRN-1001", "|MRN-1001", "urn:dosewise:clinic:{clinic}:mrn|MRN-1001"])
def test_patients_are_found_by_mrn_with_or_without_its_system(fhir_as, patient, clinic, identifier):
    PatientFactory(clinic=clinic, mrn="MRN-2002")
    bundle = get(fhir_as("nurse"), "Patient", identifier=identifier.format(clinic=clinic.pk)).json()
    valid(bundle)
    assert bundle["type"] == "searchset"
    assert [e["resource"]["id"] for e in bundle["entry"]] == [str(patient.pk)]


def test_an_mrn_under_another_clinics_system_finds_nothing(fhir_as, patient, other_clinic):
    bundle = get(fhir_as("nurse"), "Patient", identifier=f"urn:dosewise:clinic:{other_clinic.pk}:mrn|MRN-1001").json()
    assert bundle["total"] == 0


def test_patients_are_found_by_the_start_of_any_name_case_insensitive(fhir_as, patient, clinic):
    PatientFactory(clinic=clinic, first_name="Robin", last_name="Ames")
    client = fhir_as("front_desk")
    assert [e["resource"]["id"] for e in get(client, "Patient", name="whit").json()["entry"]] == [str(patient.pk)]
    assert [e["resource"]["id"] for e in get(client, "Patient", name="dana whit").json()["entry"]] == [str(patient.pk)]
    assert get(client, "Patient", name="itfield").json()["total"] == 0


def test_another_clinics_patient_is_a_404_operation_outcome_and_never_in_a_search(other_fhir, patient):
    response = get(other_fhir, f"Patient/{patient.pk}")
    assert response.status_code == 404
    body = response.json()
    valid(body)
    assert body["issue"][0]["code"] == "not-found"
    assert get(other_fhir, "Patient", identifier="MRN-1001").json()["total"] == 0
    assert get(other_fhir, "Patient").json()["total"] == 0


def test_without_a_token_the_answer_is_a_401_operation_outcome_asking_for_a_bearer_token(anon, patient):
    response = get(anon, f"Patient/{patient.pk}")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    body = response.json()
    valid(body)
    assert body["issue"][0]["code"] == "login"


def test_a_wrong_token_is_a_401_operation_outcome(anon, patient):
    anon.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    response = get(anon, "Patient")
    assert response.status_code == 401
    valid(response.json())


def test_the_apis_token_keyword_works_too(anon, patient, staff):
    from config.tokens import token_issue

    anon.credentials(HTTP_AUTHORIZATION=f"Token {token_issue(user=staff['nurse']).key}")
    assert get(anon, f"Patient/{patient.pk}").status_code == 200


@pytest.mark.parametrize(
    "path, params, status, code",
    [
        ("Patient", {"colour": "blue"}, 400, "not-supported"),
        ("Patient", {"_count": "0"}, 400, "invalid"),
        ("Patient", {"_count": "many"}, 400, "invalid"),
        ("Patient", {"birthdate": "yesterday"}, 400, "invalid"),
        ("Patient/abc", {}, 404, "not-found"),
        ("Observation", {}, 404, "not-supported"),
        ("Patient/1/_history/2/extra", {}, 404, "not-found"),
    ],
)
def test_bad_input_answers_an_operation_outcome_naming_the_rule(fhir_as, patient, path, params, status, code):
    response = get(fhir_as("nurse"), path, **params)
    assert response.status_code == status
    body = response.json()
    valid(body)
    assert body["issue"][0]["code"] == code
    assert body["issue"][0]["diagnostics"]


def test_a_method_a_resource_does_not_take_is_a_405_operation_outcome(fhir_as, patient):
    response = fhir_as("admin").delete(f"/fhir/R4/Patient/{patient.pk}")
    assert response.status_code == 405
    valid(response.json())
    response = fhir_as("admin").post("/fhir/R4/Patient", {"resourceType": "Patient"}, format="json")
    assert response.status_code == 405
