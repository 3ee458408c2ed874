"""Issue #14: a MedicationDispense says each take-home bottle's own amount, one dosage line per bottle."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from tests.factories import PlanFactory
from tests.fhir.conftest import get, valid
from visits.models import Visit


def test_each_bottle_is_a_dosage_line_with_its_amount_and_date(fhir_as, patient):
    plan = PlanFactory(patient=patient, start_date=date(2026, 10, 1))
    visit = Visit.objects.create(
        patient=patient, clinic=patient.clinic, plan=plan, kind="dose", date=date(2026, 10, 30), status="completed",
        take_home_doses=2, covered_through=date(2026, 11, 1), dose_mg=Decimal(60), take_home_mg=["60.00", "45.00"],
        completed_at=datetime(2026, 10, 30, 12, 15, tzinfo=UTC),
    )
    body = get(fhir_as("nurse"), f"MedicationDispense/{visit.pk}").json()
    valid(body)
    assert [line["doseAndRate"][0]["doseQuantity"]["value"] for line in body["dosageInstruction"]] == [60.0, 45.0]
    texts = [line["text"] for line in body["dosageInstruction"]]
    assert texts == ["Bottle 1 for 2026-10-31", "Bottle 2 for 2026-11-01"]
    assert body["quantity"] == {"value": 2, "unit": "dose"}


def test_a_bottle_without_an_amount_has_no_dose_and_old_visits_keep_the_dose_given(fhir_as, patient):
    plan = PlanFactory(patient=patient, start_date=date(2026, 10, 1))
    visit = Visit.objects.create(
        patient=patient, clinic=patient.clinic, plan=plan, kind="dose", date=date(2026, 10, 30), status="completed",
        take_home_doses=2, covered_through=date(2026, 11, 1), take_home_mg=["60.00", None],
        completed_at=datetime(2026, 10, 30, 12, 15, tzinfo=UTC),
    )
    body = get(fhir_as("nurse"), f"MedicationDispense/{visit.pk}").json()
    valid(body)
    assert "doseAndRate" in body["dosageInstruction"][0] and "doseAndRate" not in body["dosageInstruction"][1]
