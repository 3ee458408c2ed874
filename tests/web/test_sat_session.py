"""The session store (config.sessions): SESSION_COOKIE_AGE stays an idle timeout, but an unchanged session is written
at most once every SESSION_REFRESH_SECONDS instead of on every request (issue #16, saturation)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.contrib.sessions.models import Session
from django.db import connection
from django.test.utils import CaptureQueriesContext

from config.sessions import SESSION_REFRESH_SECONDS
from tests.web.conftest import MORNING

pytestmark = pytest.mark.django_db


def _expiry(client) -> object:
    return Session.objects.get(session_key=client.session.session_key).expire_date


def _get(client, url: str, at) -> list[str]:
    """The request's statements on the session table."""
    with time_machine.travel(at, tick=False), CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return [q["sql"] for q in ctx.captured_queries if "django_session" in q["sql"]]


@pytest.fixture
def logged_in(client_as, clinic):
    with time_machine.travel(MORNING, tick=False):
        client = client_as("front_desk")
    return client, f"/api/v1/clinics/{clinic.pk}/"


def test_unchanged_session_is_read_not_written_within_the_refresh(logged_in, settings):
    client, url = logged_in
    _get(client, url, MORNING)
    before = _expiry(client)
    statements = _get(client, url, MORNING + timedelta(seconds=SESSION_REFRESH_SECONDS - 1))
    assert len(statements) == 1 and statements[0].lstrip().upper().startswith("SELECT")
    assert _expiry(client) == before


def test_unchanged_session_is_written_once_the_refresh_has_passed(logged_in, settings):
    client, url = logged_in
    _get(client, url, MORNING)
    later = MORNING + timedelta(seconds=SESSION_REFRESH_SECONDS + 1)
    statements = _get(client, url, later)
    assert any(s.lstrip().upper().startswith("UPDATE") for s in statements)
    assert _expiry(client) == later + timedelta(seconds=settings.SESSION_COOKIE_AGE)


def test_idle_timeout_never_longer_than_the_cookie_age_after_the_last_request(logged_in, settings):
    client, url = logged_in
    last = MORNING
    for seconds in range(0, 5 * SESSION_REFRESH_SECONDS, 25):
        last = MORNING + timedelta(seconds=seconds)
        _get(client, url, last)
        expiry = _expiry(client)
        assert last + timedelta(seconds=settings.SESSION_COOKIE_AGE - SESSION_REFRESH_SECONDS) <= expiry
        assert expiry <= last + timedelta(seconds=settings.SESSION_COOKIE_AGE)
    # Idle past the expiry: the next request is no longer logged in.
    with time_machine.travel(expiry + timedelta(seconds=1), tick=False):
        assert client.get(url).status_code in (401, 403)


def test_changed_session_is_written_at_once(logged_in):
    client, url = logged_in
    _get(client, url, MORNING)
    with time_machine.travel(MORNING + timedelta(seconds=1), tick=False):
        session = client.session
        session["marker"] = "x"
        session.save()
        store = type(session)(session.session_key)
        assert store.load()["marker"] == "x"
        store["marker"] = "y"
        store.save()
        assert type(session)(session.session_key).load()["marker"] == "y"
