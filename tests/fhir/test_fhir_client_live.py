"""A FHIR client others wrote (fhirpy's sync client) against a live Dosewise: it knows nothing of Dosewise but
the base URL and a bearer token. It finds a patient, pages through their appointments in a date range, books an
Appointment (and gets the OperationOutcome when the window is full) and marks one checked in."""

from __future__ import annotations

from datetime import date, time

import pytest
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import OperationOutcome

from config.tokens import token_issue
from notifications import replanning
from tests.factories import PatientFactory, PlanFactory, WindowFactory
from tests.fhir.conftest import valid
from visits.models import Visit


@pytest.fixture
def client(live_server, staff) -> SyncFHIRClient:
    token = token_issue(user=staff["front_desk"]).key
    return SyncFHIRClient(f"{live_server.url}/fhir/R4", authorization=f"Bearer {token}",
                          requests_config={"timeout": 30})


@pytest.fixture
def site(clinic):
    patient = PatientFactory(clinic=clinic, mrn="MRN-7001", first_name="Jordan", last_name="Okafor")
    plan = PlanFactory(patient=patient, medication="methadone", start_date=date(2026, 11, 2),
                       attendance_weekdays=[0, 1, 2, 3, 4])
    replanning.plan_changed(plan=plan)
    window = WindowFactory(clinic=clinic, weekdays=[2], start=time(17, 0), end=time(18, 0), services=["assessment"],
                           capacity=1)
    return {"patient": patient, "plan": plan, "window": window}


def test_a_fhir_client_finds_pages_books_and_checks_in(client, site, clinic):
    patient = client.resources("Patient").search(identifier="MRN-7001").get()
    valid(patient.serialize())
    assert patient["name"][0]["family"] == "Okafor"

    search = (client.resources("Appointment")
              .search(patient=patient.reference, date__ge="2026-11-02", date__le="2026-11-13").limit(4))
    pages = list(search.fetch_all())
    assert len(pages) == 10  # Mon–Fri over two weeks, fetched four at a time through Bundle.link next
    for appointment in pages:
        valid(appointment.serialize())
    assert [a["start"][:10] for a in pages] == sorted(a["start"][:10] for a in pages)

    booked = client.resource(
        "Appointment", status="booked",
        participant=[{"actor": {"reference": patient.reference}, "status": "accepted"}],
        serviceType=[{"coding": [{"system": "urn:dosewise:service", "code": "assessment"}]}],
        slot=[{"reference": f"Slot/{site['window'].pk}-2026-11-04-assessment"}],
    )
    booked.save()
    valid(booked.serialize())
    assert booked["start"] == "2026-11-04T17:00:00-05:00"

    another = PatientFactory(clinic=clinic, mrn="MRN-7002")
    refused = client.resource(
        "Appointment", status="booked",
        participant=[{"actor": {"reference": f"Patient/{another.pk}"}, "status": "accepted"}],
        serviceType=[{"coding": [{"system": "urn:dosewise:service", "code": "assessment"}]}],
        start="2026-11-04T17:00:00-05:00",
    )
    with pytest.raises(OperationOutcome) as refusal:
        refused.save()
    valid(refusal.value.resource)
    assert refusal.value.resource["issue"][0]["diagnostics"] == (
        "The window 17:00–18:00 on 2026-11-04 is full (1 visits).")

    today = client.resources("Appointment").search(patient=patient.reference, date="2026-11-02").get()
    today.patch(status="checked-in")
    assert today["status"] == "checked-in"
    assert Visit.objects.get(pk=today.id).status == "checked_in"
    assert Visit.objects.get(pk=booked.id).kind == "assessment"
