"""The front desk logs outreach calls on the escalations page; the history shows on the patient page (issue #13)."""

from __future__ import annotations

from datetime import date

import pytest
from auditlog.models import LogEntry

from scheduler.errors import RuleViolation, StateConflict
from tests.factories import PatientFactory, PlanFactory
from visits.models import Escalation, OutreachCall
from visits.outreach import outreach_call_log

pytestmark = pytest.mark.django_db


def _open(plan, kind: str = "outreach") -> Escalation:
    return Escalation.objects.create(
        patient=plan.patient, plan=plan, clinic=plan.patient.clinic, kind=kind, reason="2 days missed",
        consecutive_missed=2, anchor_date=date(2026, 11, 10),
    )


def _call(client, escalation, outcome="no_answer", note=""):
    return client.post(f"/escalations/{escalation.pk}/calls/", {"outcome": outcome, "note": note})


def test_an_outreach_card_offers_the_four_outcomes_with_the_patients_name(client_as, clinic, plan, morning):
    _open(plan)
    html = client_as("front_desk").get(f"/clinics/{clinic.pk}/escalations/").content.decode()
    for label in ("reached", "no answer", "wrong number", "message left"):
        assert f'aria-label="Log call for Jordan Okafor (MRN MRN-4711): {label}"' in html
    assert 'for="call-note-' in html


def test_a_hold_card_has_no_call_form(client_as, clinic, plan, morning):
    _open(plan, kind="hold")
    html = client_as("front_desk").get(f"/clinics/{clinic.pk}/escalations/").content.decode()
    assert "Log call for" not in html


@pytest.mark.parametrize("role", ["front_desk", "nurse", "clinician", "admin"])
def test_logging_a_call_records_it_and_leaves_the_escalation_open(client_as, clinic, plan, staff, morning, role):
    escalation = _open(plan)
    client = client_as(role)
    response = _call(client, escalation, outcome="message_left", note="Left a voicemail")
    call = OutreachCall.objects.get()
    assert response.status_code == 302
    assert (call.escalation, call.patient, call.outcome, call.note, call.by) == (
        escalation, plan.patient, "message_left", "Left a voicemail", staff[role]
    )
    escalation.refresh_from_db()
    assert escalation.resolved_at is None
    inbox = client.get(f"/clinics/{clinic.pk}/escalations/").content.decode()
    assert "Call logged for Jordan Okafor (MRN MRN-4711): Message left." in inbox
    assert "Message left — Left a voicemail" in inbox


def test_a_manager_may_not_log_a_call(client_as, plan, morning):
    assert _call(client_as("manager"), _open(plan)).status_code == 403
    assert not OutreachCall.objects.exists()


def test_the_front_desk_still_may_not_resolve_an_escalation(client_as, plan, morning):
    escalation = _open(plan)
    assert client_as("front_desk").post(f"/escalations/{escalation.pk}/resolve/", {"note": "ok"}).status_code == 403


def test_an_unknown_outcome_is_refused_beside_the_form_with_the_note_kept(client_as, plan, morning):
    escalation = _open(plan)
    response = _call(client_as("front_desk"), escalation, outcome="busy", note="Tried twice")
    html = response.content.decode()
    assert response.status_code == 400
    assert "Choose what came of the call" in html.split(f'id="call-err-{escalation.pk}"')[1]
    assert 'value="Tried twice"' in html
    assert not OutreachCall.objects.exists()


def test_calls_are_logged_on_open_outreach_escalations_only(staff, plan, morning):
    with pytest.raises(RuleViolation):
        outreach_call_log(escalation=_open(plan, kind="hold"), outcome="reached", by=staff["front_desk"])
    resolved = _open(PlanFactory(patient=plan.patient, medication="buprenorphine"))
    Escalation.objects.filter(pk=resolved.pk).update(resolved_at=morning)
    with pytest.raises(StateConflict):
        outreach_call_log(escalation=resolved, outcome="reached", by=staff["front_desk"])
    assert not OutreachCall.objects.exists()


def test_a_call_is_audited(staff, plan, morning):
    call = outreach_call_log(escalation=_open(plan), outcome="reached", note="Coming tomorrow", by=staff["front_desk"])
    assert LogEntry.objects.get_for_object(call).filter(action=LogEntry.Action.CREATE).exists()


def test_the_patient_page_shows_the_calls_and_resolution_notes(client_as, plan, staff, morning):
    escalation = _open(plan)
    outreach_call_log(escalation=escalation, outcome="wrong_number", note="Number belongs to someone else",
                      by=staff["front_desk"])
    Escalation.objects.filter(pk=escalation.pk).update(
        resolved_at=morning, resolved_by=staff["clinician"], resolution_note="New number taken at the desk"
    )
    html = client_as("nurse").get(f"/patients/{plan.patient_id}/").content.decode()
    history = html.split('id="outreach-history"')[1]
    assert "Wrong number</strong> — Number belongs to someone else" in history
    assert "by front_desk_user" in history
    assert "Outreach — New number taken at the desk" in history


def test_the_inbox_query_count_does_not_grow_with_calls_and_patients(
    client_as, clinic, plan, staff, morning, django_assert_max_num_queries
):
    client = client_as("front_desk")
    outreach_call_log(escalation=_open(plan), outcome="no_answer", by=staff["front_desk"])
    client.get(f"/clinics/{clinic.pk}/escalations/")
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as one:
        client.get(f"/clinics/{clinic.pk}/escalations/")
    for _ in range(4):
        other = PlanFactory(patient=PatientFactory(clinic=clinic))
        outreach_call_log(escalation=_open(other), outcome="reached", by=staff["front_desk"])
    with django_assert_max_num_queries(len(one.captured_queries)):
        client.get(f"/clinics/{clinic.pk}/escalations/")
