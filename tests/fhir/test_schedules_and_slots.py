"""Stage 3: a Schedule per clinic service, a Slot per window, date and service, free/busy from capacity."""

from __future__ import annotations

from datetime import date, time

from tests.factories import ClosureFactory, PatientFactory, WindowFactory
from tests.fhir.conftest import get, valid
from visits.models import Visit


def test_each_service_a_clinic_offers_is_a_schedule(fhir_as, clinic):
    bundle = get(fhir_as("front_desk"), "Schedule", actor=f"Location/{clinic.pk}").json()
    valid(bundle)
    ids = {e["resource"]["id"] for e in bundle["entry"]}
    assert {f"{clinic.pk}-methadone", f"{clinic.pk}-diamorphine", f"{clinic.pk}-naltrexone-xr",
            f"{clinic.pk}-counselling"} <= ids
    body = get(fhir_as("front_desk"), f"Schedule/{clinic.pk}-naltrexone-xr").json()
    valid(body)
    assert body["serviceType"][0]["text"] == "Naltrexone XR (monthly injection)"
    assert body["actor"][0]["reference"] == f"Location/{clinic.pk}"


def test_slots_are_free_until_the_window_is_full_then_busy(fhir_as, clinic):
    window = WindowFactory(clinic=clinic, weekdays=[2], start=time(17, 0), end=time(18, 0), services=["assessment"],
                           capacity=1)
    client = fhir_as("front_desk")
    params = {"schedule": f"Schedule/{clinic.pk}-assessment", "start": ["ge2026-11-04", "le2026-11-04"]}
    slots = {e["resource"]["id"]: e["resource"] for e in get(client, "Slot", **params).json()["entry"]}
    mine = slots[f"{window.pk}-2026-11-04-assessment"]
    valid(mine)
    assert mine["status"] == "free"
    assert (mine["start"], mine["end"]) == ("2026-11-04T17:00:00-05:00", "2026-11-04T18:00:00-05:00")
    Visit.objects.create(patient=PatientFactory(clinic=clinic), clinic=clinic, kind="assessment",
                         date=date(2026, 11, 4), window=window)
    body = get(client, f"Slot/{window.pk}-2026-11-04-assessment").json()
    valid(body)
    assert body["status"] == "busy"
    assert body["comment"] == "0 of 1 places free (1 booked)"
    assert f"{window.pk}-2026-11-04-assessment" not in {
        e["resource"]["id"] for e in get(client, "Slot", status="free", **params).json().get("entry", [])
    }


def test_a_closure_makes_its_slots_busy_unavailable(fhir_as, clinic):
    ClosureFactory(clinic=clinic, date=date(2026, 11, 26), reason="Thanksgiving", services=[])
    bundle = get(fhir_as("nurse"), "Slot", schedule=f"{clinic.pk}-methadone", start="2026-11-26").json()
    valid(bundle)
    assert [e["resource"]["status"] for e in bundle["entry"]] == ["busy-unavailable"]
    assert bundle["entry"][0]["resource"]["comment"] == "Closed: Thanksgiving"


def test_a_slot_search_defaults_to_a_week_and_refuses_more_than_31_days(fhir_as, clinic):
    client = fhir_as("nurse")
    bundle = get(client, "Slot", schedule=f"{clinic.pk}-methadone").json()
    assert sorted({e["resource"]["start"][:10] for e in bundle["entry"]}) == [
        "2026-11-02", "2026-11-03", "2026-11-04", "2026-11-05", "2026-11-06", "2026-11-07"]  # no Sunday window
    response = get(client, "Slot", schedule=f"{clinic.pk}-methadone", start=["ge2026-11-02", "le2026-12-31"])
    assert response.status_code == 400
    valid(response.json())
    assert get(client, "Slot").status_code == 400


def test_another_clinics_schedules_and_slots_are_never_seen(other_fhir, clinic):
    window = clinic.windows.order_by("id").first()
    assert get(other_fhir, f"Schedule/{clinic.pk}-methadone").status_code == 404
    assert get(other_fhir, f"Slot/{window.pk}-2026-11-03-methadone").status_code == 404
    assert get(other_fhir, "Slot", schedule=f"{clinic.pk}-methadone").json()["total"] == 0
    assert get(other_fhir, "Schedule", actor=str(clinic.pk)).json()["total"] == 0
