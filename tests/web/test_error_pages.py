"""403, 404, 429 and 500 answer in the staff pages' layout, with what to do next."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.views.defaults import server_error

pytestmark = pytest.mark.django_db

LAYOUT = ('href="/static/web/app.css"', 'class="skip-link"', 'class="card narrow error-page"')


def _styled(html: str) -> None:
    for marker in LAYOUT:
        assert marker in html


def test_an_unknown_page_is_a_styled_404_with_a_way_back(client_as):
    response = client_as("nurse").get("/no-such-page/")
    html = response.content.decode()
    assert response.status_code == 404
    _styled(html)
    assert '<h1 id="error-title">Not found</h1>' in html
    assert 'href="/">Back to today\'s board<' in html


def test_another_clinics_patient_is_a_styled_404(client_as, other_patient):
    response = client_as("nurse").get(f"/patients/{other_patient.pk}/")
    assert response.status_code == 404
    _styled(response.content.decode())


def test_a_role_that_may_not_open_a_page_gets_a_styled_403_saying_why(client_as, clinic):
    response = client_as("front_desk").get(f"/clinics/{clinic.pk}/setup/")
    html = response.content.decode()
    assert response.status_code == 403
    _styled(html)
    assert "Not allowed" in html
    assert "Log out" in html


def test_the_500_page_renders_without_a_request_context_in_the_layout():
    response = server_error(RequestFactory().get("/"))
    html = response.content.decode()
    assert response.status_code == 500
    _styled(html)
    assert "Something went wrong" in html
    assert "so nothing is done twice" in html


def test_the_429_page_says_how_long_to_wait_in_minutes():
    html = render_to_string("429.html", {"cooloff_timedelta": timedelta(minutes=15)})
    _styled(html)
    assert "Too many attempts" in html
    assert "Wait 15 minutes and try again." in html


def test_the_429_page_serves_as_the_login_lockouts_template(client, settings, staff):
    settings.AXES_LOCKOUT_TEMPLATE = "429.html"
    settings.AXES_FAILURE_LIMIT = 2
    for _ in range(3):
        response = client.post("/login/", {"username": "nurse_user", "password": "wrong"})
    assert response.status_code == 429
    _styled(response.content.decode())
