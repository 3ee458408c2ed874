"""An expected 4xx is logged as one line without a traceback; a 5xx keeps its traceback; nothing is logged twice."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.test import Client
from django.urls import path

from config.logfilters import ClientErrorsWithoutTraceback
from config.urls import urlpatterns as real_urls


def forbidden(request):
    raise PermissionDenied("Your role may not open this page.")


def suspicious(request):
    raise SuspiciousOperation("odd host")


def boom(request):
    raise RuntimeError("a bug")


urlpatterns = [path("forbidden/", forbidden), path("suspicious/", suspicious), path("boom/", boom), *real_urls]
pytestmark = [pytest.mark.urls("tests.config.test_request_logging"), pytest.mark.django_db]


@pytest.fixture
def console() -> Iterator[io.StringIO]:
    """What the configured console handler writes during the test."""
    handlers = [
        h for h in logging.getLogger().handlers
        if any(isinstance(f, ClientErrorsWithoutTraceback) for f in h.filters)
    ]
    assert len(handlers) == 1
    handler = handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    stream = io.StringIO()
    previous = handler.setStream(stream)
    yield stream
    handler.setStream(previous)


def test_a_403_is_one_line_without_a_traceback(console):
    Client().get("/forbidden/")

    lines = console.getvalue().splitlines()
    assert len(lines) == 1
    assert "WARNING django.request Forbidden (Permission denied): /forbidden/" in lines[0]


def test_a_suspicious_request_is_one_line_without_a_traceback(console):
    Client().get("/suspicious/")

    lines = console.getvalue().splitlines()
    assert len(lines) == 1
    assert "odd host" in lines[0]


def test_an_api_400_is_one_line(console, api_as):
    api_as("front_desk").post("/api/v1/patients/", {}, format="json")

    lines = console.getvalue().splitlines()
    assert len(lines) == 1
    assert "Bad Request: /api/v1/patients/" in lines[0]


def test_a_500_keeps_its_traceback(console):
    Client(raise_request_exception=False).get("/boom/")

    assert "Traceback" in console.getvalue()
    assert console.getvalue().count("Traceback") == 1


def test_django_records_reach_the_console_once_under_debug_too():
    """Django's default config gives `django` a console handler of its own under DEBUG, besides root's."""
    assert logging.getLogger("django").handlers == []
    assert logging.getLogger("django").propagate
