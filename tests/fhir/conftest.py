"""FHIR tests: the clock is frozen for every test (Monday 2 Nov 2026, 08:00 in New York), clients speak
FHIR JSON with a bearer token, and `valid()` checks a resource against the fhir.resources R4B models plus the
value sets those models do not enforce (status codes)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine
from fhir.resources.R4B import get_fhir_model_class
from rest_framework.test import APIClient

from config.tokens import token_issue
from notifications import replanning
from tests.factories import PatientFactory, PlanFactory

NOW = datetime(2026, 11, 2, 13, 0, tzinfo=UTC)  # Monday, 08:00 in America/New_York
FHIR = "application/fhir+json"

STATUS_SETS = {
    "Appointment": {"proposed", "pending", "booked", "arrived", "fulfilled", "cancelled", "noshow",
                    "entered-in-error", "checked-in", "waitlist"},
    "CarePlan": {"draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown"},
    "Slot": {"busy", "free", "busy-unavailable", "busy-tentative", "entered-in-error"},
    "MedicationAdministration": {"in-progress", "not-done", "on-hold", "completed", "entered-in-error", "stopped",
                                 "unknown"},
    "MedicationDispense": {"preparation", "in-progress", "cancelled", "on-hold", "completed", "entered-in-error",
                           "stopped", "declined", "unknown"},
    "CapabilityStatement": {"draft", "active", "retired", "unknown"},
}
PART2 = {("http://terminology.hl7.org/CodeSystem/v3-ActCode", "42CFRPart2"),
         ("http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "R")}


def valid(resource: dict[str, Any]) -> Any:
    """Validate against the R4B model of its type (every entry of a Bundle too); returns the model."""
    model = get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    allowed = STATUS_SETS.get(resource["resourceType"])
    if allowed is not None:
        assert resource["status"] in allowed, resource["status"]
    for entry in resource.get("entry", []) if resource["resourceType"] == "Bundle" else []:
        valid(entry["resource"])
    return model


def labels(resource: dict[str, Any]) -> set[tuple[str, str]]:
    return {(s["system"], s["code"]) for s in resource.get("meta", {}).get("security", [])}


@pytest.fixture(autouse=True)
def frozen() -> Iterator[Any]:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def fhir_as(staff) -> Callable[[str], APIClient]:
    """A client with the role's bearer token (the API's own token, sent as Bearer)."""

    def make(role: str) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_issue(user=staff[role]).key}", HTTP_ACCEPT=FHIR)
        return client

    return make


@pytest.fixture
def other_fhir(other_admin) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_issue(user=other_admin).key}", HTTP_ACCEPT=FHIR)
    return client


@pytest.fixture
def patient(clinic):
    return PatientFactory(clinic=clinic, mrn="MRN-1001", first_name="Dana", last_name="Whitfield",
                          phone="+12125550188")


@pytest.fixture
def plan(patient):
    """Methadone Mon–Fri from today; its visits generated for the horizon."""
    plan = PlanFactory(patient=patient, medication="methadone", start_date=NOW.date(),
                       attendance_weekdays=[0, 1, 2, 3, 4])
    replanning.plan_changed(plan=plan)
    return plan


def get(client: APIClient, path: str, **params: Any) -> Any:
    return client.get(f"/fhir/R4/{path}", params, HTTP_ACCEPT=FHIR)
