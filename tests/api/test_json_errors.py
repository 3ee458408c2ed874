"""Every error under /api/ answers JSON, whoever raises it; pages keep their HTML error pages."""

from __future__ import annotations

import logging

import pytest
from django.test import Client
from django.urls import path

from config.urls import urlpatterns as real_urls


def boom(request):
    raise RuntimeError("a bug")


urlpatterns = [path("api/v1/boom/", boom), path("boom/", boom), *real_urls]


def test_an_unknown_api_path_answers_a_json_404(api_as):
    response = api_as("nurse").get("/api/v1/nothing-here/")

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found: there is no such resource here (ids are whole numbers)."}


def test_a_non_numeric_id_answers_a_json_404(api_as):
    response = api_as("nurse").get("/api/v1/visits/0.5/")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"


def test_an_unknown_api_path_answers_json_under_debug_too(api_as, settings):
    settings.DEBUG = True

    response = api_as("nurse").get("/api/v1/visits/abc/")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"


def test_a_method_the_endpoint_lacks_answers_a_json_405(api_as):
    response = api_as("admin").put("/api/v1/clinics/", {}, format="json")

    assert response.status_code == 405
    assert response.json() == {"detail": 'Method "PUT" not allowed.'}


def test_a_webhook_refusal_keeps_its_reason_as_json(db):
    response = Client().post("/api/v1/sms/status/", {"MessageSid": "SM1"})

    assert response.status_code == 403
    assert response.json() == {"detail": "Invalid or missing X-Twilio-Signature."}


@pytest.mark.urls("tests.api.test_json_errors")
def test_a_server_error_under_the_api_answers_json_without_the_debug_page(db, settings):
    settings.DEBUG = True
    client = Client(raise_request_exception=False)

    response = client.get("/api/v1/boom/")

    assert response.status_code == 500
    assert response.json() == {"detail": "Server error: the request failed on our side and was logged."}


@pytest.mark.urls("tests.api.test_json_errors")
def test_a_server_error_on_a_page_keeps_the_html_page(db, caplog):
    caplog.set_level(logging.ERROR)
    response = Client(raise_request_exception=False).get("/boom/")

    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")
    assert any(record.exc_info for record in caplog.records)  # a 5xx keeps its traceback


def test_an_unknown_page_keeps_the_html_404_page(staff):
    client = Client()
    client.force_login(staff["nurse"])

    response = client.get("/no-such-page/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    assert b"Not found" in response.content
