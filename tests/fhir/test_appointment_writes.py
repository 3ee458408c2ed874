"""Stage 4: booking an Appointment through Dosewise's services, and changing its status."""

from __future__ import annotations

from datetime import date, time, timedelta

import pytest

from tests.factories import PatientFactory, PlanFactory, WindowFactory
from tests.fhir.conftest import FHIR, valid
from visits.models import Visit


def _booking(patient, **extra):
    return {"resourceType": "Appointment", "status": "booked",
            "participant": [{"actor": {"reference": f"Patient/{patient.pk}"}, "status": "accepted"}], **extra}


def _post(client, body):
    return client.post("/fhir/R4/Appointment", body, format="json")


def _patch(client, visit, body, content_type=FHIR):
    import json

    return client.patch(f"/fhir/R4/Appointment/{visit.pk}", json.dumps(body), content_type=content_type)


def test_booking_a_counselling_appointment_creates_a_visit_in_its_window(fhir_as, patient):
    body = _booking(patient, serviceType=[{"coding": [{"system": "urn:dosewise:service", "code": "counselling"}]}],
                    start="2026-11-04T11:00:00-05:00")
    response = _post(fhir_as("front_desk"), body)
    assert response.status_code == 201, response.json()
    created = response.json()
    valid(created)
    visit = Visit.objects.get(pk=created["id"])
    assert (visit.kind, visit.date, visit.status, visit.source) == ("counselling", date(2026, 11, 4), "scheduled",
                                                                    "manual")
    assert response["Location"].endswith(f"/fhir/R4/Appointment/{visit.pk}")
    assert created["status"] == "booked"


def test_booking_from_a_careplan_and_a_slot_books_the_plans_dose_there(fhir_as, patient, clinic):
    plan = PlanFactory(patient=patient, medication="methadone", start_date=date(2026, 11, 2), attendance_weekdays=[0])
    window = clinic.windows.filter(services__contains=["methadone"]).get()
    body = _booking(patient, basedOn=[{"reference": f"CarePlan/{plan.pk}"}],
                    slot=[{"reference": f"Slot/{window.pk}-2026-11-05-methadone"}])
    response = _post(fhir_as("nurse"), body)
    assert response.status_code == 201, response.json()
    visit = Visit.objects.get(pk=response.json()["id"])
    assert (visit.kind, visit.plan_id, visit.date, visit.window_id) == ("dose", plan.pk, date(2026, 11, 5), window.pk)


def test_booking_into_a_full_window_answers_409_with_the_capacity_rule(fhir_as, clinic):
    WindowFactory(clinic=clinic, weekdays=[2], start=time(17, 0), end=time(18, 0), services=["assessment"],
                  capacity=1)
    first, second = PatientFactory(clinic=clinic), PatientFactory(clinic=clinic)
    client = fhir_as("front_desk")
    service = [{"coding": [{"system": "urn:dosewise:service", "code": "assessment"}]}]
    assert _post(client, _booking(first, serviceType=service, start="2026-11-04T17:00:00-05:00")).status_code == 201
    response = _post(client, _booking(second, serviceType=service, start="2026-11-04T17:00:00-05:00"))
    assert response.status_code == 409
    outcome = response.json()
    valid(outcome)
    assert outcome["issue"][0]["code"] == "conflict"
    assert outcome["issue"][0]["diagnostics"] == "The window 17:00–18:00 on 2026-11-04 is full (1 visits)."
    assert not Visit.objects.filter(patient=second).exists()


def test_the_dosing_guard_refuses_a_dose_on_a_date_covered_by_take_homes(fhir_as, patient, clinic):
    plan = PlanFactory(patient=patient, medication="methadone", start_date=date(2026, 10, 1), attendance_weekdays=[0])
    Visit.objects.create(patient=patient, clinic=clinic, plan=plan, kind="dose", date=date(2026, 11, 2),
                         status="completed", take_home_doses=3, covered_through=date(2026, 11, 5))
    response = _post(fhir_as("nurse"), _booking(patient, basedOn=[{"reference": f"CarePlan/{plan.pk}"}],
                                                start="2026-11-04T07:30:00-05:00"))
    assert response.status_code == 409
    outcome = response.json()
    valid(outcome)
    assert "take-home" in outcome["issue"][0]["diagnostics"]
    assert not Visit.objects.filter(patient=patient, date=date(2026, 11, 4)).exists()


@pytest.mark.parametrize(
    "body, path",
    [
        ({"resourceType": "Patient"}, None),
        ({"resourceType": "Appointment", "participant": []}, "Appointment.participant"),
        ({"serviceType": [{"coding": [{"code": "coffee"}]}]}, "Appointment.serviceType"),
        ({"serviceType": [{"coding": [{"code": "counselling"}]}]}, "Appointment.start"),
        ({"serviceType": [{"coding": [{"code": "counselling"}]}], "start": "2026-11-04T11:00:00"}, "Appointment.start"),
        ({"serviceType": [{"coding": [{"code": "counselling"}]}], "start": "2026-10-04T11:00:00-04:00"},
         "Appointment.start"),
        ({"serviceType": [{"coding": [{"code": "buprenorphine"}]}], "start": "2026-11-04T08:00:00-05:00"},
         "Appointment.basedOn"),
    ],
)
def test_a_booking_that_breaks_a_rule_answers_400_naming_where(fhir_as, patient, body, path):
    payload = body if body.get("resourceType") == "Patient" or "participant" in body else _booking(patient, **body)
    response = _post(fhir_as("front_desk"), payload)
    assert response.status_code == 400
    outcome = response.json()
    valid(outcome)
    if path:
        assert outcome["issue"][0]["expression"] == [path]


def test_a_manager_may_not_book_or_change_appointments(fhir_as, patient, plan):
    client = fhir_as("manager")
    body = _booking(patient, serviceType=[{"coding": [{"code": "counselling"}]}], start="2026-11-04T11:00:00-05:00")
    response = _post(client, body)
    assert response.status_code == 403
    valid(response.json())
    visit = Visit.objects.get(plan=plan, date=date(2026, 11, 2))
    assert _patch(client, visit, {"status": "checked-in"}).status_code == 403
    assert Visit.objects.get(pk=visit.pk).status == "scheduled"


def test_another_clinics_patient_cannot_be_booked_or_its_visit_changed(other_fhir, patient, plan):
    body = _booking(patient, serviceType=[{"coding": [{"code": "counselling"}]}], start="2026-11-04T11:00:00-05:00")
    assert _post(other_fhir, body).status_code == 404
    visit = Visit.objects.get(plan=plan, date=date(2026, 11, 2))
    assert _patch(other_fhir, visit, {"status": "checked-in"}).status_code == 404


def test_patching_status_checked_in_checks_the_patient_in(fhir_as, plan):
    visit = Visit.objects.get(plan=plan, date=date(2026, 11, 2))
    response = _patch(fhir_as("front_desk"), visit, {"status": "checked-in"})
    assert response.status_code == 200, response.json()
    valid(response.json())
    assert response.json()["status"] == "checked-in"
    assert Visit.objects.get(pk=visit.pk).status == "checked_in"


def test_a_json_patch_checks_in_too_but_not_before_the_visits_day(fhir_as, plan):
    visit = Visit.objects.get(plan=plan, date=date(2026, 11, 3))
    ops = [{"op": "replace", "path": "/status", "value": "checked-in"}]
    response = _patch(fhir_as("nurse"), visit, ops, content_type="application/json-patch+json")
    assert response.status_code == 400
    assert "not before" in response.json()["issue"][0]["diagnostics"]
    assert Visit.objects.get(pk=visit.pk).status == "scheduled"


def test_cancelling_needs_a_reason_and_keeps_it(fhir_as, plan):
    visit = Visit.objects.get(plan=plan, date=date(2026, 11, 4))
    client = fhir_as("front_desk")
    response = _patch(client, visit, {"status": "cancelled"})
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["Appointment.cancelationReason"]
    response = _patch(client, visit, {"status": "cancelled", "cancelationReason": {"text": "moved to Riverside"}})
    assert response.status_code == 200
    assert response.json()["cancelationReason"] == {"text": "moved to Riverside"}
    assert Visit.objects.get(pk=visit.pk).status == "cancelled"


def test_a_put_changes_the_status_but_not_the_time(fhir_as, plan):
    visit = Visit.objects.get(plan=plan, date=date(2026, 11, 2))
    client = fhir_as("front_desk")
    current = client.get(f"/fhir/R4/Appointment/{visit.pk}").json()
    moved = {**current, "status": "checked-in", "start": "2026-11-02T08:00:00-05:00"}
    response = client.put(f"/fhir/R4/Appointment/{visit.pk}", moved, format="json")
    assert response.status_code == 400
    assert response.json()["issue"][0]["code"] == "not-supported"
    response = client.put(f"/fhir/R4/Appointment/{visit.pk}", {**current, "status": "checked-in"}, format="json")
    assert response.status_code == 200
    assert Visit.objects.get(pk=visit.pk).status == "checked_in"


def test_noshow_marks_a_visit_missed_once_its_window_has_ended(fhir_as, plan):
    import time_machine

    visit = Visit.objects.get(plan=plan, date=date(2026, 11, 2))
    response = _patch(fhir_as("front_desk"), visit, {"status": "noshow"})
    assert response.status_code == 400  # the 07:00–10:00 window is still ahead
    outcome = response.json()
    valid(outcome)
    assert "window is still open until 10:00" in outcome["issue"][0]["diagnostics"]
    assert Visit.objects.get(pk=visit.pk).status == "scheduled"
    with time_machine.travel(visit.end + timedelta(minutes=1), tick=False):
        response = _patch(fhir_as("front_desk"), visit, {"status": "noshow"})
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "noshow"
    assert Visit.objects.get(pk=visit.pk).status == "missed"
    assert _patch(fhir_as("nurse"), visit, {"status": "noshow"}).status_code == 200  # already so: nothing to do


def test_a_patch_may_change_only_the_status(fhir_as, plan):
    visit = Visit.objects.get(plan=plan, date=date(2026, 11, 2))
    response = _patch(fhir_as("nurse"), visit, {"status": "checked-in", "start": "2026-11-02T09:00:00-05:00"})
    assert response.status_code == 400
    assert Visit.objects.get(pk=visit.pk).status == "scheduled"


@pytest.mark.parametrize(
    "body, content_type, status",
    [("{not json", FHIR, 400), ("[" * 40 + "]" * 40, FHIR, 400), ("status=booked", "text/plain", 415)],
)
def test_a_body_that_is_not_fhir_json_answers_an_operation_outcome(fhir_as, body, content_type, status):
    response = fhir_as("front_desk").post("/fhir/R4/Appointment", body, content_type=content_type)
    assert response.status_code == status
    valid(response.json())
