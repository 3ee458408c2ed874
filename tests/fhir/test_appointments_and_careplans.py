"""Stage 2: Appointment (one per visit) and CarePlan (one per plan): mapping, search, paging, _include."""

from __future__ import annotations

from datetime import date
from urllib.parse import parse_qs, urlparse

import pytest
from auditlog.models import LogEntry

from tests.factories import PatientFactory, PlanFactory
from tests.fhir.conftest import PART2, get, labels, valid
from visits.models import Visit


def _visit(plan, day: date) -> Visit:
    return Visit.objects.get(plan=plan, date=day)


def test_a_dose_visit_is_a_booked_appointment_with_its_service_plan_patient_and_location(fhir_as, plan, clinic):
    visit = _visit(plan, date(2026, 11, 3))
    body = get(fhir_as("nurse"), f"Appointment/{visit.pk}").json()
    valid(body)
    assert body["status"] == "booked"
    assert body["serviceType"][0]["coding"][0] == {"system": "urn:dosewise:service", "code": "methadone",
                                                   "display": "Methadone"}
    assert body["description"] == "Methadone dose"
    assert body["start"] == "2026-11-03T07:00:00-05:00"
    assert body["end"] == "2026-11-03T10:00:00-05:00"
    assert body["basedOn"] == [{"reference": f"CarePlan/{plan.pk}"}]
    actors = [p["actor"]["reference"] for p in body["participant"]]
    assert actors == [f"Patient/{plan.patient_id}", f"Location/{clinic.pk}"]
    assert labels(body) >= PART2


@pytest.mark.parametrize(
    "status, fhir_status",
    [("scheduled", "booked"), ("checked_in", "checked-in"), ("completed", "fulfilled"), ("missed", "noshow"),
     ("cancelled", "cancelled"), ("excused", "cancelled")],
)
def test_visit_statuses_map_to_appointment_statuses(fhir_as, plan, status, fhir_status):
    visit = _visit(plan, date(2026, 11, 2))
    Visit.objects.filter(pk=visit.pk).update(status=status, status_reason="covered by take-homes from 2026-11-01")
    body = get(fhir_as("nurse"), f"Appointment/{visit.pk}").json()
    valid(body)
    assert body["status"] == fhir_status
    if fhir_status == "cancelled":
        assert body["cancelationReason"] == {"text": "covered by take-homes from 2026-11-01"}
    else:
        assert "cancelationReason" not in body


def test_a_counselling_visit_names_its_kind_in_clinic_words(fhir_as, patient, clinic):
    visit = Visit.objects.create(patient=patient, clinic=clinic, kind="callback", date=date(2026, 11, 4))
    body = get(fhir_as("nurse"), f"Appointment/{visit.pk}").json()
    valid(body)
    assert body["serviceType"][0]["text"] == "Call-back"
    # No booked time: the appointment spans the clinic-local day.
    assert (body["start"], body["end"]) == ("2026-11-04T00:00:00-05:00", "2026-11-05T00:00:00-05:00")
    assert "basedOn" not in body


def test_a_patients_appointments_in_a_date_range_page_through_next_links(fhir_as, plan):
    client = fhir_as("front_desk")
    first = get(client, "Appointment", patient=f"Patient/{plan.patient_id}", date=["ge2026-11-03", "le2026-11-13"],
                _count="3").json()
    valid(first)
    assert first["total"] == 9  # Mon–Fri on 3–13 Nov
    seen = [e["resource"]["start"][:10] for e in first["entry"]]
    link = {link["relation"]: link["url"] for link in first["link"]}
    while "next" in link:
        query = parse_qs(urlparse(link["next"]).query)
        assert query["date"] == ["ge2026-11-03", "le2026-11-13"]
        page = client.get(urlparse(link["next"]).path, query).json()
        valid(page)
        seen += [e["resource"]["start"][:10] for e in page["entry"]]
        link = {link["relation"]: link["url"] for link in page["link"]}
    assert seen == ["2026-11-03", "2026-11-04", "2026-11-05", "2026-11-06", "2026-11-09", "2026-11-10",
                    "2026-11-11", "2026-11-12", "2026-11-13"]


def test_appointments_filter_by_status_and_include_their_patient(fhir_as, plan):
    Visit.objects.filter(plan=plan, date=date(2026, 11, 2)).update(status="checked_in")
    bundle = get(fhir_as("nurse"), "Appointment", patient=str(plan.patient_id), status="checked-in",
                 _include="Appointment:patient").json()
    valid(bundle)
    modes = [(e["resource"]["resourceType"], e["search"]["mode"]) for e in bundle["entry"]]
    assert modes == [("Appointment", "match"), ("Patient", "include")]
    assert bundle["total"] == 1


def test_an_appointment_search_is_audited_with_its_patients(fhir_as, plan):
    get(fhir_as("nurse"), "Appointment", patient=str(plan.patient_id))
    entry = LogEntry.objects.get(action=LogEntry.Action.ACCESS, object_pk="")
    assert entry.additional_data["patient_ids"] == [plan.patient_id]
    assert entry.additional_data["fhir"] == "Appointment search"


def test_an_appointment_read_is_audited(fhir_as, plan):
    visit = _visit(plan, date(2026, 11, 3))
    get(fhir_as("manager"), f"Appointment/{visit.pk}")
    assert LogEntry.objects.filter(action=LogEntry.Action.ACCESS, object_pk=str(visit.pk)).exists()


def test_the_appointment_search_costs_the_same_queries_for_more_rows(fhir_as, plan, clinic,
                                                                     django_assert_max_num_queries):
    client = fhir_as("nurse")
    with django_assert_max_num_queries(12):
        get(client, "Appointment", date="ge2026-11-02", _count="100", _include="Appointment:patient")
    for _ in range(5):
        other = PlanFactory(patient=PatientFactory(clinic=clinic), start_date=date(2026, 11, 2))
        from notifications.replanning import plan_changed

        plan_changed(plan=other)
    with django_assert_max_num_queries(12):
        bundle = get(client, "Appointment", date="ge2026-11-02", _count="100", _include="Appointment:patient").json()
    assert bundle["total"] > 100


def test_another_clinics_appointments_are_404_and_never_found(other_fhir, plan):
    visit = _visit(plan, date(2026, 11, 3))
    response = get(other_fhir, f"Appointment/{visit.pk}")
    assert response.status_code == 404
    valid(response.json())
    assert get(other_fhir, "Appointment", patient=str(plan.patient_id)).json()["total"] == 0
    assert get(other_fhir, "Appointment").json()["total"] == 0
    assert get(other_fhir, f"CarePlan/{plan.pk}").status_code == 404
    assert get(other_fhir, "CarePlan").json()["total"] == 0


@pytest.mark.parametrize(
    "params",
    [{"date": "sa2026-11-02"}, {"status": "arrivedish"}, {"_include": "Appointment:location"}, {"patient": "Group/1"},
     {"date": "0001-01-01T00:00:00+14:00"}],
)
def test_bad_appointment_search_parameters_answer_400(fhir_as, plan, params):
    response = get(fhir_as("nurse"), "Appointment", **params)
    assert response.status_code == 400
    valid(response.json())


def test_a_plan_is_a_careplan_with_its_attendance_pattern(fhir_as, plan):
    body = get(fhir_as("clinician"), f"CarePlan/{plan.pk}").json()
    valid(body)
    assert body["status"] == "active"
    assert body["intent"] == "plan"
    assert body["subject"] == {"reference": f"Patient/{plan.patient_id}"}
    assert body["period"] == {"start": "2026-11-02"}
    detail = body["activity"][0]["detail"]
    assert detail["scheduledTiming"]["repeat"] == {"frequency": 1, "period": 1, "periodUnit": "d",
                                                   "dayOfWeek": ["mon", "tue", "wed", "thu", "fri"]}
    assert detail["description"] == "Methadone: in Mon, Tue, Wed, Thu, Fri every week; take-home days between"
    assert labels(body) >= PART2


def test_an_injection_plan_repeats_every_interval(fhir_as, patient):
    plan = PlanFactory(patient=patient, medication="buprenorphine_xr_monthly", interval_days=28,
                       start_date=date(2026, 11, 2), status="paused")
    body = get(fhir_as("clinician"), f"CarePlan/{plan.pk}").json()
    valid(body)
    assert body["status"] == "on-hold"
    assert body["activity"][0]["detail"]["scheduledTiming"]["repeat"] == {"frequency": 1, "period": 28,
                                                                          "periodUnit": "d"}


def test_careplans_search_by_patient_and_status(fhir_as, plan, patient):
    PlanFactory(patient=patient, medication="buprenorphine", status="ended", start_date=date(2026, 1, 5),
                end_date=date(2026, 6, 1))
    client = fhir_as("front_desk")
    assert get(client, "CarePlan", patient=str(patient.pk)).json()["total"] == 2
    bundle = get(client, "CarePlan", patient=str(patient.pk), status="completed").json()
    valid(bundle)
    assert bundle["total"] == 1
    assert bundle["entry"][0]["resource"]["period"] == {"start": "2026-01-05", "end": "2026-06-01"}
