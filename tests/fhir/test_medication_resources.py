"""Stage 5: a MedicationAdministration per completed dose or injection, a MedicationDispense per take-home batch."""

from __future__ import annotations

from datetime import UTC, date, datetime

from tests.factories import PatientFactory, PlanFactory
from tests.fhir.conftest import PART2, get, labels, valid
from visits.models import Visit


def _completed(plan, day, take_home_doses=0, kind="dose"):
    return Visit.objects.create(
        patient=plan.patient, clinic=plan.patient.clinic, plan=plan, kind=kind, date=day, status="completed",
        take_home_doses=take_home_doses, covered_through=day, completed_at=datetime(2026, 10, 30, 12, 15, tzinfo=UTC),
    )


def test_a_completed_dose_is_a_medication_administration(fhir_as, patient):
    plan = PlanFactory(patient=patient, start_date=date(2026, 10, 1))
    visit = _completed(plan, date(2026, 10, 30))
    body = get(fhir_as("nurse"), f"MedicationAdministration/{visit.pk}").json()
    valid(body)
    assert body["status"] == "completed"
    assert body["medicationCodeableConcept"]["text"] == "Methadone"
    assert body["subject"] == {"reference": f"Patient/{patient.pk}"}
    assert body["effectiveDateTime"] == "2026-10-30T08:15:00-04:00"
    assert labels(body) >= PART2


def test_a_take_home_batch_is_a_medication_dispense_with_its_doses(fhir_as, patient):
    plan = PlanFactory(patient=patient, start_date=date(2026, 10, 1))
    visit = _completed(plan, date(2026, 10, 30), take_home_doses=2)
    Visit.objects.filter(pk=visit.pk).update(covered_through=date(2026, 11, 1))
    body = get(fhir_as("nurse"), f"MedicationDispense/{visit.pk}").json()
    valid(body)
    assert body["quantity"] == {"value": 2, "unit": "dose"}
    assert body["daysSupply"] == {"value": 2, "unit": "day", "system": "http://unitsofmeasure.org", "code": "d"}
    assert body["dosageInstruction"][0]["text"] == "One dose a day from 2026-10-31 to 2026-11-01"
    assert labels(body) >= PART2


def test_the_amount_given_is_the_dose_of_the_administration_and_of_each_bottle(fhir_as, patient):
    from decimal import Decimal

    plan = PlanFactory(patient=patient, start_date=date(2026, 10, 1))
    visit = _completed(plan, date(2026, 10, 30), take_home_doses=2)
    Visit.objects.filter(pk=visit.pk).update(dose_mg=Decimal("62.50"), covered_through=date(2026, 11, 1))
    mg = {"value": 62.5, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"}
    given = get(fhir_as("nurse"), f"MedicationAdministration/{visit.pk}").json()
    valid(given)
    assert given["dosage"]["dose"] == mg
    bottles = get(fhir_as("nurse"), f"MedicationDispense/{visit.pk}").json()
    valid(bottles)
    assert bottles["dosageInstruction"][0]["doseAndRate"] == [{"doseQuantity": mg}]


def test_a_dose_without_take_homes_or_not_completed_is_no_dispense(fhir_as, patient):
    plan = PlanFactory(patient=patient, start_date=date(2026, 10, 1))
    visit = _completed(plan, date(2026, 10, 30))
    scheduled = Visit.objects.create(patient=patient, clinic=patient.clinic, plan=plan, kind="dose",
                                     date=date(2026, 11, 3))
    client = fhir_as("nurse")
    assert get(client, f"MedicationDispense/{visit.pk}").status_code == 404
    assert get(client, f"MedicationAdministration/{scheduled.pk}").status_code == 404


def test_medication_resources_search_by_patient(fhir_as, patient, clinic):
    plan = PlanFactory(patient=patient, start_date=date(2026, 10, 1))
    _completed(plan, date(2026, 10, 29), take_home_doses=1)
    _completed(plan, date(2026, 10, 31))
    other = PlanFactory(patient=PatientFactory(clinic=clinic), start_date=date(2026, 10, 1))
    _completed(other, date(2026, 10, 30), take_home_doses=1)
    client = fhir_as("clinician")
    admins = get(client, "MedicationAdministration", patient=f"Patient/{patient.pk}").json()
    valid(admins)
    assert admins["total"] == 2
    dispenses = get(client, "MedicationDispense", subject=str(patient.pk)).json()
    valid(dispenses)
    assert dispenses["total"] == 1
    assert get(client, "MedicationAdministration", patient=str(patient.pk), **{"effective-time": "ge2026-10-30"}
               ).json()["total"] == 1


def test_another_clinics_doses_are_never_seen(other_fhir, patient):
    plan = PlanFactory(patient=patient, start_date=date(2026, 10, 1))
    visit = _completed(plan, date(2026, 10, 30), take_home_doses=1)
    assert get(other_fhir, f"MedicationAdministration/{visit.pk}").status_code == 404
    assert get(other_fhir, f"MedicationDispense/{visit.pk}").status_code == 404
    assert get(other_fhir, "MedicationDispense").json()["total"] == 0
