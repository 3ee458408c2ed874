"""The front desk's open tasks on the escalations page: texts from patients and rejected numbers, marked done."""

from __future__ import annotations

import pytest
from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.test import Client

from notifications.inbound import inbound_receive
from tests.factories import PatientFactory
from visits.models import StaffTask

pytestmark = pytest.mark.django_db


@pytest.fixture
def reply(clinic, morning) -> StaffTask:
    """A real inbound "R" (reschedule request) from a patient's phone, as the webhook records it."""
    PatientFactory(clinic=clinic, first_name="Maria", last_name="Lopez", mrn="MRN-77", phone="+12125550177")
    inbound_receive(provider_id="SMin1", from_number="+12125550177", body="R")
    return StaffTask.objects.get(kind="reschedule_request")


def test_the_front_desk_sees_open_tasks_and_marks_one_done(client_as, clinic, reply, staff):
    client = client_as("front_desk")
    page = client.get(f"/clinics/{clinic.pk}/escalations/").content.decode()
    assert 'Front-desk tasks <span class="muted">(1 open)</span>' in page
    assert "Patient asked to reschedule" in page and "Lopez, Maria" in page and "Text from the patient: R" in page
    assert f'action="/tasks/{reply.pk}/done/"' in page

    response = client.post(f"/tasks/{reply.pk}/done/", follow=True)
    assert response.status_code == 200
    assert "Done: Patient asked to reschedule for MRN MRN-77." in response.content.decode()
    reply.refresh_from_db()
    assert reply.done_at is not None and reply.done_by == staff["front_desk"]
    assert 'Front-desk tasks <span class="muted">(0 open)</span>' in response.content.decode()
    task_type = ContentType.objects.get_for_model(StaffTask)
    entry = LogEntry.objects.get(content_type=task_type, object_pk=str(reply.pk), action=LogEntry.Action.UPDATE)
    assert entry.actor == staff["front_desk"] and "done_at" in entry.changes_dict


def test_a_task_done_twice_answers_409_with_the_reason(client_as, clinic, reply):
    client = client_as("nurse")
    client.post(f"/tasks/{reply.pk}/done/")
    again = client.post(f"/tasks/{reply.pk}/done/")
    assert again.status_code == 409
    assert f"Task #{reply.pk}: This task is already done." in again.content.decode()


def test_managers_see_tasks_but_cannot_mark_them_done(client_as, clinic, reply):
    client = client_as("manager")
    page = client.get(f"/clinics/{clinic.pk}/escalations/").content.decode()
    assert "Patient asked to reschedule" in page and f"/tasks/{reply.pk}/done/" not in page
    assert client.post(f"/tasks/{reply.pk}/done/").status_code == 403
    reply.refresh_from_db()
    assert reply.done_at is None


def test_another_clinics_task_is_not_found(other_clinic, reply, morning):
    from tests.factories import make_staff

    outsider = Client()
    outsider.force_login(make_staff("front_desk", [other_clinic]))
    assert outsider.post(f"/tasks/{reply.pk}/done/").status_code == 404
    reply.refresh_from_db()
    assert reply.done_at is None


def test_anonymous_users_are_sent_to_login(reply):
    response = Client().post(f"/tasks/{reply.pk}/done/")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_the_page_costs_the_same_queries_for_3_tasks_and_reviews_or_12(client_as, clinic, morning):
    from datetime import date

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.factories import PlanFactory

    client = client_as("clinician")
    counts = []
    for n in (3, 9):
        for i in range(n):
            patient = PatientFactory(clinic=clinic)
            StaffTask.objects.create(clinic=clinic, patient=patient, kind="late", detail=f"Text from the patient: {i}")
            PlanFactory(patient=patient, medication="methadone", start_date=date(2026, 9, 1), attendance_weekdays=[0])
        with CaptureQueriesContext(connection) as ctx:
            page = client.get(f"/clinics/{clinic.pk}/escalations/")
        assert page.status_code == 200
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1], counts


def test_the_patient_page_shows_the_patients_open_tasks_and_marks_them_done(client_as, reply, morning):
    client = client_as("front_desk")
    page = client.get(f"/patients/{reply.patient_id}/").content.decode()
    assert "Open front-desk tasks" in page and "Text from the patient: R" in page
    response = client.post(f"/tasks/{reply.pk}/done/", {"next": f"/patients/{reply.patient_id}/"})
    assert response.status_code == 302 and response["Location"] == f"/patients/{reply.patient_id}/"
    assert "Open front-desk tasks" not in client.get(f"/patients/{reply.patient_id}/").content.decode()
