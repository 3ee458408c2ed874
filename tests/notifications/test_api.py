"""GET /api/v1/messages/ and the staff-task inbox: roles, clinic isolation, query bounds."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from notifications.models import Message
from tests.conftest import ROLES
from tests.factories import PatientFactory
from visits.models import StaffTask

pytestmark = pytest.mark.django_db
FIELDS = {"id", "patient", "visit", "purpose", "body", "scheduled_for", "status", "provider_id", "error_code"}


def make_message(patient, **kw):
    return Message.objects.create(patient=patient, purpose="reminder", body="Hi", scheduled_for=datetime.now(UTC), **kw)


@pytest.mark.parametrize("role", ROLES)
def test_every_role_may_read_messages(api_as, patient, role):
    message = make_message(patient)
    response = api_as(role).get("/api/v1/messages/")
    assert response.status_code == 200
    assert set(response.json()["results"][0]) >= FIELDS
    assert api_as(role).get(f"/api/v1/messages/{message.pk}/").status_code == 200


def test_anonymous_gets_401(anon):
    assert anon.get("/api/v1/messages/").status_code == 401
    assert anon.get("/api/v1/tasks/").status_code == 401


def test_messages_are_read_only(api_as, patient):
    message = make_message(patient)
    assert api_as("admin").post("/api/v1/messages/", {}).status_code in (403, 405)
    assert api_as("admin").patch(f"/api/v1/messages/{message.pk}/", {"status": "sent"}).status_code in (403, 405)


def test_another_clinics_messages_are_invisible(other_api, patient):
    message = make_message(patient)
    assert other_api.get(f"/api/v1/messages/{message.pk}/").status_code == 404
    assert other_api.get("/api/v1/messages/").json()["count"] == 0
    assert other_api.get(f"/api/v1/messages/?patient={patient.pk}").status_code == 404


def test_messages_filter_by_patient_visit_and_status(api_as, patient, clinic):
    other = PatientFactory(clinic=clinic)
    sent = make_message(patient, status="sent")
    make_message(patient)
    make_message(other)
    client = api_as("front_desk")
    assert client.get(f"/api/v1/messages/?patient={patient.pk}").json()["count"] == 2
    assert [r["id"] for r in client.get(f"/api/v1/messages/?patient={patient.pk}&status=sent").json()["results"]] == [
        sent.pk
    ]


def test_the_message_list_takes_a_bounded_number_of_queries(api_as, clinic, django_assert_max_num_queries):
    client = api_as("nurse")
    for _ in range(3):
        make_message(PatientFactory(clinic=clinic))
    with django_assert_max_num_queries(8) as small:
        client.get("/api/v1/messages/")
    for _ in range(30):
        make_message(PatientFactory(clinic=clinic))
    with django_assert_max_num_queries(len(small.captured_queries)):
        assert client.get("/api/v1/messages/").json()["count"] == 33


# --- staff tasks ------------------------------------------------------------------------


@pytest.fixture
def task(patient):
    return StaffTask.objects.create(clinic=patient.clinic, patient=patient, kind="reschedule_request", detail="R")


@pytest.mark.parametrize("role", ROLES)
def test_every_role_may_list_tasks(api_as, task, role):
    response = api_as(role).get(f"/api/v1/tasks/?clinic={task.clinic_id}&open=true")
    assert response.status_code == 200 and response.json()["count"] == 1


@pytest.mark.parametrize("role", ["front_desk", "nurse", "clinician", "admin"])
def test_front_desk_roles_may_mark_a_task_done(api_as, task, role, staff):
    response = api_as(role).post(f"/api/v1/tasks/{task.pk}/done/")
    assert response.status_code == 200
    assert response.json()["done_by"] == staff[role].pk
    assert api_as(role).get("/api/v1/tasks/?open=true").json()["count"] == 0
    assert api_as(role).get("/api/v1/tasks/?open=false").json()["count"] == 1


def test_a_manager_may_not_mark_a_task_done(api_as, task):
    response = api_as("manager").post(f"/api/v1/tasks/{task.pk}/done/")
    assert response.status_code == 403
    task.refresh_from_db()
    assert task.done_at is None


def test_marking_a_task_done_twice_conflicts(api_as, task):
    api_as("front_desk").post(f"/api/v1/tasks/{task.pk}/done/")
    assert api_as("front_desk").post(f"/api/v1/tasks/{task.pk}/done/").status_code == 409


def test_another_clinics_task_is_404(other_api, task):
    assert other_api.post(f"/api/v1/tasks/{task.pk}/done/").status_code == 404
    assert other_api.get("/api/v1/tasks/").json()["count"] == 0


def test_the_task_list_takes_a_bounded_number_of_queries(api_as, clinic, django_assert_max_num_queries):
    client = api_as("front_desk")
    for _ in range(30):
        StaffTask.objects.create(clinic=clinic, patient=PatientFactory(clinic=clinic), kind="inbox")
    with django_assert_max_num_queries(8):
        assert client.get("/api/v1/tasks/").json()["count"] == 30
