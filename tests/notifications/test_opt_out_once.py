"""One confirmation per opt-out (DOMAIN.md §5; issue #15): a second STOP is recorded, never answered."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine

from notifications.models import InboundMessage, Message
from scheduler.models import Patient
from tests.factories import PatientFactory

from .test_webhooks import inbound

pytestmark = pytest.mark.django_db


def test_a_second_stop_is_recorded_but_sends_no_second_confirmation(patient):
    with time_machine.travel(datetime(2026, 3, 2, 15, 0, tzinfo=UTC), tick=False):
        first = inbound("STOP", sid="SMstop1")
    with time_machine.travel(datetime(2026, 3, 2, 16, 0, tzinfo=UTC), tick=False):
        second = inbound("stop", sid="SMstop2")

    assert first.content.decode().count("<Message>") == 1
    assert second.status_code == 200 and "<Message>" not in second.content.decode()
    assert Message.objects.filter(patient=patient, purpose="opt_out_confirmation").count() == 1
    assert list(InboundMessage.objects.order_by("id").values_list("provider_id", "handled_as")) == [
        ("SMstop1", "opt_out"),
        ("SMstop2", "opt_out"),
    ]
    patient.refresh_from_db()
    # The opt-out keeps the time of the first STOP.
    assert patient.sms_opted_out_at == datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def test_a_different_opt_out_word_after_stop_is_not_confirmed_again(patient):
    inbound("STOP", sid="SMa")
    response = inbound("UNSUBSCRIBE", sid="SMb")

    assert "<Message>" not in response.content.decode()
    assert Message.objects.filter(purpose="opt_out_confirmation").count() == 1


def test_stop_after_opting_back_in_is_a_new_opt_out_and_is_confirmed(patient):
    inbound("STOP", sid="SM1")
    inbound("START", sid="SM2")
    response = inbound("STOP", sid="SM3")

    assert response.content.decode().count("<Message>") == 1
    assert Message.objects.filter(patient=patient, purpose="opt_out_confirmation").count() == 2


def test_a_shared_number_is_confirmed_only_for_the_patient_it_newly_opts_out(patient, other_clinic):
    already = PatientFactory(clinic=other_clinic, phone=patient.phone, sms_opted_out=True)

    response = inbound("STOP")

    assert response.content.decode().count("<Message>") == 1
    assert list(Message.objects.filter(purpose="opt_out_confirmation").values_list("patient_id", flat=True)) == [
        patient.pk
    ]
    assert Patient.objects.filter(pk__in=[patient.pk, already.pk], sms_opted_out=True).count() == 2
