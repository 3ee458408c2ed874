"""The patient page: plans, strip, messages, escalations, history, and an audit access entry per read."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType

from notifications.models import Message
from scheduler.models import Patient
from tests.web.conftest import TODAY
from visits.generation import visits_generate
from visits.models import Escalation, Visit

pytestmark = pytest.mark.django_db


def test_reading_the_patient_page_leaves_an_access_entry_with_the_actor(client_as, staff, patient):
    response = client_as("front_desk").get(f"/patients/{patient.pk}/")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]  # shared front-desk PCs keep no copy
    entry = LogEntry.objects.get(
        content_type=ContentType.objects.get_for_model(Patient),
        object_pk=str(patient.pk),
        action=LogEntry.Action.ACCESS,
    )
    assert entry.actor == staff["front_desk"]


def test_the_page_shows_plans_strip_visits_messages_escalations_and_history(client_as, clinic, plan, today_visit):
    patient = plan.patient
    Visit.objects.filter(plan=plan, date=date(2026, 11, 17)).update(status="completed", take_home_doses=1)
    Visit.objects.create(
        patient=patient,
        clinic=clinic,
        plan=plan,
        kind="dose",
        date=date(2026, 11, 12),
        status="missed",
        source="manual",
    )
    Message.objects.create(
        patient=patient,
        purpose="reminder",
        body="Hi J, see you Mon 10:00. Riverside Health",
        scheduled_for=datetime(2026, 11, 15, 15, 0, tzinfo=UTC),
        status="delivered",
    )
    Escalation.objects.create(
        patient=patient,
        plan=plan,
        clinic=clinic,
        kind="outreach",
        reason="2 days missed",
        consecutive_missed=2,
        anchor_date=date(2026, 11, 11),
    )
    html = client_as("nurse").get(f"/patients/{patient.pk}/").content.decode()
    assert "Methadone" in html
    assert "cell cell-missed" in html
    assert "cell cell-expected is-today" in html
    assert html.count('<li class="cell cell-') == 28
    assert "Delivered" in html and "see you Mon" in html
    assert "Open escalations" in html and "2 days missed" in html
    assert "Consented" in html
    assert "Change history" in html and f"Patient #{patient.pk} ({patient.mrn})" in html
    assert "1 dose" in html  # take-homes handed out


def test_the_strip_shows_closures_as_take_home_days(client_as, clinic, plan, morning):
    from tests.factories import ClosureFactory

    ClosureFactory(clinic=clinic, date=date(2026, 11, 18), reason="Staff training")
    html = client_as("nurse").get(f"/patients/{plan.patient.pk}/").content.decode()
    assert "cell cell-closure" in html
    assert TODAY.isoformat()  # the strip is anchored on the clinic's today


def test_another_clinics_patient_is_404_and_leaves_no_entry(client_as, other_patient):
    assert client_as("admin").get(f"/patients/{other_patient.pk}/").status_code == 404
    assert not LogEntry.objects.filter(
        content_type__model="patient", object_pk=str(other_patient.pk), action=LogEntry.Action.ACCESS
    ).exists()


def test_the_patient_page_query_count_does_not_grow_with_history(
    client_as, clinic, plan, morning, django_assert_max_num_queries
):
    visits_generate(plans=[plan], today=TODAY, horizon_days=14)
    for day in range(10, 16):
        Visit.objects.create(
            patient=plan.patient,
            clinic=clinic,
            plan=plan,
            kind="dose",
            date=date(2026, 11, day),
            status="completed",
            take_home_doses=1,
            source="manual",
        )
        Message.objects.create(
            patient=plan.patient,
            purpose="reminder",
            status="sent",
            scheduled_for=datetime(2026, 11, day, 15, tzinfo=UTC),
        )
    client = client_as("nurse")
    # A fixed number for any history, with the clinic's windows (take-home review), open tasks, and the
    # dosing guard's completed doses and open escalations ("Dosing today" and the next visits, in one call), and
    # the doses section's orders, amounts given and COWS scores (issue #14: three, whatever the number of plans).
    # The plans, their pauses, the rule set, the windows and the open escalations are read once for every panel
    # (issue #16: 32, then 30 before). The strip's visits and the next visits come in one statement, the rule set
    # with the patient (issue #16: the bound was 27).
    with django_assert_max_num_queries(21):
        response = client.get(f"/patients/{plan.patient.pk}/")
    assert response.status_code == 200
    assert "weekdays" not in response.content.decode() and "every day" in response.content.decode()
