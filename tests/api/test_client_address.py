"""Throttling and the login lockout see one client address, and a made-up X-Forwarded-For changes nothing."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.test import RequestFactory
from rest_framework.test import APIClient

from config.lockout import client_ip
from config.throttling import AnonRateThrottle

URL = "/api/v1/auth/token/"


@pytest.fixture
def two_per_minute(monkeypatch):
    """A small anonymous rate for this test only (each test starts with no throttle history: tests/conftest.py)."""
    monkeypatch.setattr(AnonRateThrottle, "THROTTLE_RATES", {"user": "1000/min", "anon": "2/min"})


def request_with(remote: str, forwarded: str | None = None):
    meta = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **meta)


def test_a_made_up_forwarded_for_does_not_escape_the_anonymous_throttle(db, two_per_minute):
    answers = [
        APIClient().post(URL, {}, format="json", REMOTE_ADDR="203.0.113.7", HTTP_X_FORWARDED_FOR=f"10.0.0.{i}")
        for i in range(3)
    ]

    assert [answer.status_code for answer in answers] == [400, 400, 429]
    assert answers[2]["Content-Type"] == "application/json"


def test_another_client_keeps_its_own_allowance(db, two_per_minute):
    for _ in range(2):
        APIClient().post(URL, {}, format="json", REMOTE_ADDR="203.0.113.7")

    assert APIClient().post(URL, {}, format="json", REMOTE_ADDR="203.0.113.8").status_code == 400


def test_without_proxies_the_connection_address_is_the_client(settings):
    settings.NUM_PROXIES = 0

    assert client_ip(request_with("203.0.113.7", "198.51.100.1")) == "203.0.113.7"


def test_behind_one_proxy_the_address_it_saw_is_the_client(settings):
    settings.NUM_PROXIES = 1

    # The client sent "1.2.3.4" itself; the proxy appended the address it saw.
    assert client_ip(request_with("10.0.0.2", "1.2.3.4, 198.51.100.1")) == "198.51.100.1"


def test_behind_two_proxies_the_outer_proxy_decides(settings):
    settings.NUM_PROXIES = 2

    assert client_ip(request_with("10.0.0.3", "1.2.3.4, 198.51.100.1, 10.0.0.2")) == "198.51.100.1"


def test_a_forwarded_entry_that_is_no_address_falls_back_to_the_connection(settings):
    settings.NUM_PROXIES = 1

    assert client_ip(request_with("10.0.0.2", "not-an-address")) == "10.0.0.2"


def test_the_throttle_and_the_lockout_count_the_same_address(settings):
    settings.NUM_PROXIES = 1
    request = request_with("10.0.0.2", "1.2.3.4, 198.51.100.1")

    assert AnonRateThrottle().get_ident(request) == client_ip(request) == "198.51.100.1"


def test_the_lockout_records_the_connection_address_not_a_made_up_one(anon, staff):
    anon.post(URL, {"username": "nurse_user", "password": "wrong"}, format="json",
              REMOTE_ADDR="203.0.113.7", HTTP_X_FORWARDED_FOR="1.2.3.4")

    assert AccessAttempt.objects.get().ip_address == "203.0.113.7"


def test_num_proxies_reaches_drf(settings):
    assert "NUM_PROXIES" in settings.REST_FRAMEWORK
