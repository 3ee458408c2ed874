"""Transports: console masks the number, Twilio errors are classified, get_transport follows settings."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import requests
from twilio.base.exceptions import TwilioRestException

from notifications import transports
from notifications.transports import (
    ConsoleTransport,
    MemoryTransport,
    TransportError,
    TwilioTransport,
    classify_twilio_error,
    get_transport,
)


def test_console_prints_a_masked_number(capsys):
    provider_id = ConsoleTransport().send(to="+12125551234", body="Hi Maria", message_id=7)
    assert capsys.readouterr().out == "SMS to ***1234: Hi Maria\n"
    assert provider_id.startswith("console-7-")


def test_get_transport_follows_the_setting(settings):
    settings.SMS_BACKEND = "memory"
    assert isinstance(get_transport(), MemoryTransport)
    settings.SMS_BACKEND = "console"
    assert isinstance(get_transport(), ConsoleTransport)


def test_get_transport_reuses_one_transport_per_backend(settings):
    settings.SMS_BACKEND = "memory"
    first = get_transport()
    assert get_transport() is first  # no new client (Twilio: HTTP session, TLS) per text
    settings.SMS_BACKEND = "console"
    assert isinstance(get_transport(), ConsoleTransport)
    settings.SMS_BACKEND = "memory"
    assert get_transport() is first


@pytest.mark.parametrize(
    ("status", "code", "permanent"),
    [
        (400, 21610, True),
        (400, 21211, True),
        (400, 21614, True),
        (400, 21602, True),
        (429, 20429, False),
        (500, None, False),
        (503, 20503, False),
    ],
)
def test_twilio_errors_are_classified(status, code, permanent):
    error = classify_twilio_error(TwilioRestException(status, "https://api.twilio.com/x", "msg", code=code))
    assert error.permanent is permanent
    assert error.code == (str(code) if code else "")


@pytest.fixture
def fake_twilio(monkeypatch, settings):
    settings.TWILIO_ACCOUNT_SID = "AC123"
    settings.TWILIO_AUTH_TOKEN = "token"
    settings.TWILIO_MESSAGING_SERVICE_SID = "MG123"
    settings.PUBLIC_BASE_URL = "https://dosewise.example.org"
    calls: list[dict] = []
    outcome: dict = {}

    def create(**kwargs):
        calls.append(kwargs)
        if "raise" in outcome:
            raise outcome["raise"]
        return SimpleNamespace(sid="SMabc")

    transport = TwilioTransport()
    transport.client = SimpleNamespace(messages=SimpleNamespace(create=create))
    return transport, calls, outcome


def test_twilio_sends_with_the_messaging_service_and_status_callback(fake_twilio):
    transport, calls, _ = fake_twilio
    assert transport.send(to="+12125551234", body="Hi", message_id=1) == "SMabc"
    assert calls == [
        {
            "to": "+12125551234",
            "body": "Hi",
            "messaging_service_sid": "MG123",
            "status_callback": "https://dosewise.example.org/api/v1/sms/status/",
        }
    ]


def test_a_twilio_timeout_is_temporary(fake_twilio):
    transport, _, outcome = fake_twilio
    outcome["raise"] = requests.Timeout("read timed out")
    with pytest.raises(TransportError) as caught:
        transport.send(to="+12125551234", body="Hi", message_id=1)
    assert caught.value.permanent is False


def test_the_memory_transport_raises_queued_failures_first():
    transports.memory_failures.append(TransportError("boom", permanent=False))
    with pytest.raises(TransportError):
        MemoryTransport().send(to="+1", body="x", message_id=1)
    assert MemoryTransport().send(to="+1", body="x", message_id=2).startswith("SM")
