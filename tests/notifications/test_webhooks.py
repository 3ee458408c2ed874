"""Twilio webhooks: signatures, delivery status only forward, inbound keywords and replies."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from django.test import Client
from twilio.request_validator import RequestValidator

from notifications.models import InboundMessage, Message
from notifications.sending import message_record_sent
from scheduler.models import Patient
from tests.factories import PatientFactory, PlanFactory
from visits.models import StaffTask

from .conftest import make_visit

pytestmark = pytest.mark.django_db
BASE = "https://dosewise.example.org"
STATUS_URL = "/api/v1/sms/status/"
INBOUND_URL = "/api/v1/sms/inbound/"


def post_signed(path: str, params: dict[str, str], *, sign: dict[str, str] | None = None, header: bool = True):
    signature = RequestValidator("test-auth-token").compute_signature(f"{BASE}{path}", sign or params)
    extra = {"HTTP_X_TWILIO_SIGNATURE": signature} if header else {}
    return Client(enforce_csrf_checks=True).post(path, params, **extra)


@pytest.fixture
def sent_message(patient):
    return Message.objects.create(
        patient=patient,
        purpose="reminder",
        body="Hi",
        scheduled_for=datetime.now(UTC),
        status="sent",
        provider_id="SM123",
    )


def status(sid="SM123", value="delivered", error=""):
    params = {"MessageSid": sid, "MessageStatus": value}
    if error:
        params["ErrorCode"] = error
    return post_signed(STATUS_URL, params)


def test_a_signed_status_callback_is_accepted(sent_message):
    assert status().status_code == 204
    sent_message.refresh_from_db()
    assert sent_message.status == "delivered" and sent_message.delivered_at is not None


def test_a_changed_parameter_is_refused_and_changes_nothing(sent_message):
    response = post_signed(
        STATUS_URL,
        {"MessageSid": "SM123", "MessageStatus": "failed"},
        sign={"MessageSid": "SM123", "MessageStatus": "delivered"},
    )
    assert response.status_code == 403
    sent_message.refresh_from_db()
    assert sent_message.status == "sent"


def test_a_missing_signature_is_refused(sent_message):
    assert (
        post_signed(STATUS_URL, {"MessageSid": "SM123", "MessageStatus": "delivered"}, header=False).status_code == 403
    )
    sent_message.refresh_from_db()
    assert sent_message.status == "sent"


def test_a_signature_for_another_url_is_refused(sent_message):
    signature = RequestValidator("test-auth-token").compute_signature(
        f"{BASE}{INBOUND_URL}", {"MessageSid": "SM123", "MessageStatus": "delivered"}
    )
    response = Client().post(
        STATUS_URL, {"MessageSid": "SM123", "MessageStatus": "delivered"}, HTTP_X_TWILIO_SIGNATURE=signature
    )
    assert response.status_code == 403


def test_out_of_order_callbacks_keep_delivered(sent_message):
    status(value="delivered")
    status(value="sent")
    status(value="sending")
    sent_message.refresh_from_db()
    assert sent_message.status == "delivered"


def test_duplicate_callbacks_are_ignored(sent_message):
    status(value="undelivered", error="30003")
    status(value="undelivered", error="30003")
    status(value="failed", error="30005")
    sent_message.refresh_from_db()
    assert (sent_message.status, sent_message.error_code) == ("undelivered", "30003")


def test_a_21610_callback_opts_the_patient_out(sent_message):
    status(value="failed", error="21610")
    sent_message.refresh_from_db()
    assert (sent_message.status, sent_message.error_code) == ("failed", "21610")
    assert Patient.objects.get(pk=sent_message.patient_id).sms_opted_out


def test_a_callback_that_beats_our_write_of_the_provider_id_is_applied_later(patient):
    message = Message.objects.create(
        patient=patient, purpose="reminder", body="Hi", status="sending", scheduled_for=datetime.now(UTC)
    )
    status(sid="SMfast", value="delivered")
    message_record_sent(message_id=message.pk, provider_id="SMfast", now=datetime.now(UTC))
    message.refresh_from_db()
    assert (message.status, message.provider_id) == ("delivered", "SMfast")


# --- inbound ---------------------------------------------------------------------------


def inbound(body: str, sid: str = "SMin1", sender: str = "+12125550123"):
    return post_signed(INBOUND_URL, {"From": sender, "Body": body, "MessageSid": sid})


@pytest.mark.parametrize(
    "word",
    [
        "STOP",
        "stop",
        "  Stop ",
        "STOPALL",
        "UNSUBSCRIBE",
        "CANCEL",
        "END",
        "QUIT",
        "REVOKE",
        "OPTOUT",
        "opt out",
        "Opt  Out",
    ],
)
def test_an_opt_out_keyword_opts_out_at_once_with_one_neutral_confirmation(patient, word):
    response = inbound(word)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/xml")
    patient.refresh_from_db()
    assert patient.sms_opted_out and patient.sms_opted_out_at is not None
    body = response.content.decode()
    assert body.count("<Message>") == 1 and "Riverside Health" in body and "START" in body
    record = Message.objects.get(patient=patient, purpose="opt_out_confirmation")
    assert record.status == "sent" and len(record.body) <= 160


def test_stop_inside_a_sentence_is_not_an_opt_out(patient):
    inbound("please stop by later")
    patient.refresh_from_db()
    assert not patient.sms_opted_out
    assert StaffTask.objects.get().kind == "inbox"


@pytest.mark.parametrize("word", ["START", "unstop", "Yes"])
def test_an_opted_out_patient_opts_back_in(patient, word):
    patient.sms_opted_out = True
    patient.save()
    response = inbound(word)
    patient.refresh_from_db()
    assert not patient.sms_opted_out
    assert "again" in response.content.decode()
    assert Message.objects.filter(patient=patient, purpose="opt_in_confirmation", status="sent").count() == 1


def test_opting_back_in_plans_the_missing_reminders(injection_plan):
    patient = injection_plan.patient
    patient.sms_opted_out = True
    patient.save()
    visit = make_visit(injection_plan, date.today() + __import__("datetime").timedelta(days=20))
    inbound("START")
    assert Message.objects.filter(visit=visit, purpose="reminder").count() == 2


@pytest.mark.parametrize("word", ["HELP", "info"])
def test_help_answers_neutrally_with_the_clinic_phone(patient, word):
    body = inbound(word).content.decode()
    assert "+12125550100" in body and "Riverside Health" in body
    assert Message.objects.filter(patient=patient, purpose="help", status="sent").count() == 1


@pytest.mark.parametrize(
    ("word", "kind"),
    [
        ("C", "confirm"),
        ("c", "confirm"),
        ("YES", "confirm"),
        ("R", "reschedule_request"),
        ("late", "late"),
        ("running 10 min behind", "inbox"),
    ],
)
def test_replies_become_front_desk_tasks(injection_plan, word, kind):
    patient = injection_plan.patient
    visit = make_visit(injection_plan, date.today() + __import__("datetime").timedelta(days=3))
    response = inbound(word)
    assert "<Message>" not in response.content.decode()
    task = StaffTask.objects.get()
    assert (task.kind, task.patient_id, task.clinic_id, task.visit_id) == (
        kind,
        patient.pk,
        patient.clinic_id,
        visit.pk,
    )
    record = InboundMessage.objects.get()
    assert (record.handled_as, record.patient_id, record.task_id) == (kind, patient.pk, task.pk)


def test_the_same_inbound_message_twice_acts_once(patient):
    inbound("R", sid="SMdup")
    second = inbound("R", sid="SMdup")
    assert second.status_code == 200
    assert StaffTask.objects.count() == 1 and InboundMessage.objects.count() == 1


def test_a_number_shared_by_patients_in_two_clinics_reaches_each(patient, other_clinic):
    twin = PatientFactory(clinic=other_clinic, phone=patient.phone)
    inbound("STOP")
    assert Patient.objects.filter(pk__in=[patient.pk, twin.pk], sms_opted_out=True).count() == 2


def test_an_unknown_sender_is_recorded_and_answered_with_nothing(clinic):
    response = inbound("STOP", sender="+15005550006")
    assert "<Message>" not in response.content.decode()
    assert InboundMessage.objects.get().handled_as == "unknown_sender"


def test_an_unsigned_inbound_text_changes_nothing(patient):
    response = post_signed(INBOUND_URL, {"From": patient.phone, "Body": "STOP", "MessageSid": "SMx"}, header=False)
    assert response.status_code == 403
    patient.refresh_from_db()
    assert not patient.sms_opted_out and InboundMessage.objects.count() == 0


def test_a_methadone_patient_reply_creates_an_inbox_task(patient):
    PlanFactory(patient=patient, medication="methadone")
    inbound("where are you open today?")
    assert StaffTask.objects.get().detail.endswith("where are you open today?")
