"""A whole clinic day through the HTTP API alone, as API.md describes it: an admin sets the clinic up,
a clinician writes a plan, the front desk books and checks in, the nurse doses with take-homes, and every
action is in the audit trail."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine
from auditlog.models import LogEntry
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

MONDAY_0630_NY = datetime(2026, 11, 16, 11, 30, tzinfo=UTC)


def token_client(username: str, password: str) -> APIClient:
    client = APIClient()
    response = client.post("/api/v1/auth/token/", {"username": username, "password": password}, format="json")
    assert response.status_code == 200, response.content
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    return client


def ok(response, status: int = 200) -> dict:
    assert response.status_code == status, response.content
    return response.json()


@pytest.mark.django_db
def test_a_front_desk_user_and_a_nurse_run_a_clinic_day_through_the_api():
    get_user_model().objects.create_superuser("root", "root@example.org", "a-long-root-password-1")
    with time_machine.travel(MONDAY_0630_NY, tick=False):
        root = token_client("root", "a-long-root-password-1")
        clinic = ok(root.post("/api/v1/clinics/", {"name": "Eastside", "timezone": "America/New_York",
                                                   "phone": "+12125550100", "sms_name": "Eastside Health"},
                              format="json"), 201)
        windows = f"/api/v1/clinics/{clinic['id']}/windows/"
        ok(root.post(windows, {"weekdays": [0, 1, 2, 3, 4, 5], "start": "06:00", "end": "10:00",
                               "services": ["methadone"], "capacity": 40}, format="json"), 201)
        ok(root.post(windows, {"weekdays": [0, 1, 2, 3, 4], "start": "11:00", "end": "13:00",
                               "services": ["counselling"], "capacity": 1}, format="json"), 201)
        for username, role in (("desk", "front_desk"), ("nurse", "nurse"), ("doc", "clinician")):
            ok(root.post("/api/v1/staff/", {"username": username, "password": "Sturdy-pass-2026!", "role": role,
                                            "clinics": [clinic["id"]]}, format="json"), 201)
        desk, nurse, doc = (token_client(u, "Sturdy-pass-2026!") for u in ("desk", "nurse", "doc"))

        patient = ok(desk.post("/api/v1/patients/", {
            "clinic": clinic["id"], "mrn": "E-1", "first_name": "Jo", "last_name": "Okafor",
            "date_of_birth": "1980-02-03", "phone": "(212) 555-0199", "sms_consent": True, "language": "en",
        }, format="json"), 201)
        assert patient["phone"] == "+12125550199" and patient["sms_opted_out"] is False
        assert ok(desk.get(f"/api/v1/patients/{patient['id']}/"))["mrn"] == "E-1"
        plan = ok(doc.post("/api/v1/plans/", {"patient": patient["id"], "medication": "methadone",
                                             "start_date": "2026-11-16", "attendance_weekdays": [0, 2, 4]},
                           format="json"), 201)
        assert plan["treatment_start"] == "2026-11-16" and plan["status"] == "active"

        # The front desk sees today's dose visit; Tuesday is a take-home day.
        today = ok(desk.get("/api/v1/visits/", {"clinic": clinic["id"], "date": "2026-11-16"}))
        assert today["count"] == 1
        dose = today["results"][0]
        assert (dose["kind"], dose["status"], dose["source"]) == ("dose", "scheduled", "plan")
        assert dose["start"] == "2026-11-16T06:00:00-05:00"
        calendar = ok(desk.get(f"/api/v1/plans/{plan['id']}/calendar/",
                               {"date_from": "2026-11-16", "date_to": "2026-11-17"}))
        assert [row["expected"] for row in calendar] == ["visit", "take_home"]

        # Book the last counselling slot, then find the window full for anyone else.
        slots = ok(desk.get(f"/api/v1/clinics/{clinic['id']}/availability/",
                            {"date": "2026-11-17", "service": "counselling"}))
        assert [(s["capacity"], s["booked"], s["remaining"]) for s in slots] == [(1, 0, 1)]
        talk = ok(desk.post("/api/v1/visits/", {"patient": patient["id"], "kind": "counselling",
                                                "date": "2026-11-17"}, format="json"), 201)
        other = ok(desk.post("/api/v1/patients/", {"clinic": clinic["id"], "mrn": "E-2", "first_name": "Al",
                                                   "last_name": "Reyes"}, format="json"), 201)
        full = desk.post("/api/v1/visits/", {"patient": other["id"], "kind": "counselling", "date": "2026-11-17"},
                         format="json")
        assert full.status_code == 409
        moved = ok(desk.post(f"/api/v1/visits/{talk['id']}/reschedule/", {"date": "2026-11-18"}, format="json"))
        assert moved["date"] == "2026-11-18"

        # Check in, then the nurse doses with take-homes inside the day-1 limit (7), refused above it.
        ok(desk.post(f"/api/v1/visits/{dose['id']}/check-in/", {"bottles_returned": True}, format="json"))
        assert desk.post(f"/api/v1/visits/{dose['id']}/complete/", {}, format="json").status_code == 403
        too_many = nurse.post(f"/api/v1/visits/{dose['id']}/complete/", {"take_home_doses": 8}, format="json")
        assert too_many.status_code == 400
        assert "treatment day 1" in too_many.json()["take_home_doses"][0]
        done = ok(nurse.post(f"/api/v1/visits/{dose['id']}/complete/", {"take_home_doses": 1}, format="json"))
        assert (done["status"], done["take_home_doses"]) == ("completed", 1)
        assert nurse.post(f"/api/v1/visits/{dose['id']}/complete/", {}, format="json").status_code == 409

    actors = set(
        LogEntry.objects.filter(actor__isnull=False).values_list("actor__username", flat=True)
    )
    assert {"root", "desk", "nurse", "doc"} <= actors
    read = LogEntry.objects.filter(action=LogEntry.Action.ACCESS, actor__username="desk", object_pk=str(patient["id"]))
    assert read.exists()  # every read of a patient record is audited
    visit_writers = set(
        LogEntry.objects.filter(object_pk=str(dose["id"]), content_type__model="visit")
        .values_list("actor__username", flat=True)
    )
    assert {"desk", "nurse"} <= visit_writers  # check-in and completion, each with its actor
