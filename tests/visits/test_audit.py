"""Writes leave an audit entry naming the acting user; reading a visit is audited as a record read."""

from __future__ import annotations

import pytest
from auditlog.models import LogEntry
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from visits.models import Visit

pytestmark = pytest.mark.django_db


def token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def entries(visit, action):
    return LogEntry.objects.filter(object_pk=str(visit.pk), content_type__model="visit", action=action)


@pytest.mark.parametrize(
    ("suffix", "body", "role", "field"),
    [
        ("check-in/", {"bottles_returned": False}, "front_desk", "status"),
        ("complete/", {"take_home_doses": 1, "take_home_reason": "travel"}, "clinician", "take_home_doses"),
        ("cancel/", {"reason": "patient called"}, "front_desk", "status_reason"),
        ("excuse/", {"reason": "hospital"}, "clinician", "status"),
        ("reschedule/", {"date": "2026-11-04"}, "front_desk", "date"),
    ],
)
def test_each_action_by_token_is_audited_with_its_actor(staff, visit, suffix, body, role, field):
    response = token_client(staff[role]).post(f"/api/v1/visits/{visit.pk}/{suffix}", body, format="json")
    assert response.status_code == 200, response.content
    entry = entries(visit, LogEntry.Action.UPDATE).get()
    assert entry.actor == staff[role]
    assert field in entry.changes_dict
    assert entry.remote_addr == "127.0.0.1"


def test_a_booking_by_token_is_audited_with_its_actor(staff, patient, frozen):
    response = token_client(staff["front_desk"]).post(
        "/api/v1/visits/", {"patient": patient.pk, "kind": "counselling", "date": "2026-11-03"}, format="json"
    )
    assert response.status_code == 201
    visit = Visit.objects.get(pk=response.json()["id"])
    entry = entries(visit, LogEntry.Action.CREATE).get()
    assert entry.actor == staff["front_desk"]
    assert "window" in entry.changes_dict


def test_reading_a_visit_is_audited_as_an_access_by_its_reader(staff, visit):
    response = token_client(staff["manager"]).get(f"/api/v1/visits/{visit.pk}/")
    assert response.status_code == 200
    entry = entries(visit, LogEntry.Action.ACCESS).get()
    assert entry.actor == staff["manager"]


def test_a_refused_action_leaves_no_entry(staff, visit):
    Visit.objects.filter(pk=visit.pk).update(status="completed")
    response = token_client(staff["nurse"]).post(f"/api/v1/visits/{visit.pk}/complete/", {}, format="json")
    assert response.status_code == 409
    assert not entries(visit, LogEntry.Action.UPDATE).exists()


def test_the_actor_does_not_leak_into_the_next_request(staff, visit, frozen):
    token_client(staff["front_desk"]).get(f"/api/v1/visits/{visit.pk}/")
    # A write outside any request (a job) has no actor.
    job_visit = Visit.objects.get(pk=visit.pk)
    job_visit.reason = "changed by a job"
    job_visit.save(update_fields=["reason"])
    latest = LogEntry.objects.filter(
        content_type__model="visit", object_pk=str(visit.pk), action=LogEntry.Action.UPDATE
    ).get()
    assert latest.actor is None
