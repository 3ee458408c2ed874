"""Issue #16: the visit list of one of the user's clinics on one date (`?clinic=&date=`, and nothing else asked) reads
its count and its page with statements compiled once a thread (api.visits.views.ClinicDayVisits). Every page's
status and JSON bytes are those of the ORM's filtered queryset, for two clinics in turn, any page size, the last
page, a page past the end and an empty day; other filters, and another clinic's id, take the path they took."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.test import APIClient

from api.visits.views import ClinicDayVisits, VisitViewSet
from tests.factories import PatientFactory, WindowFactory
from tests.visits.conftest import MONDAY, make_visit

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen")]
STATUSES = ("scheduled", "checked_in", "completed", "missed", "cancelled", "excused")


@pytest.fixture
def days(clinic, other_clinic, oral_window, counselling_window):
    """Visits of both clinics on MONDAY (ties of start included) and on other days."""
    for n in range(13):
        patient = PatientFactory(clinic=clinic)
        window = oral_window if n % 3 else counselling_window
        make_visit(patient, window=window, status=STATUSES[n % len(STATUSES)], kind="dose" if n % 3 else "counselling")
        make_visit(patient, window=window, day=MONDAY + timedelta(days=1 + n % 2))
    london = WindowFactory(clinic=other_clinic, start=time(8, 0), end=time(10, 0), services=["methadone"])
    for n in range(4):
        make_visit(PatientFactory(clinic=other_clinic), window=london, status=STATUSES[n])
    return clinic, other_clinic


def pages(client: APIClient, clinic_id: int, day, extra: str = "") -> list[tuple[int, bytes]]:
    answers = []
    for query in (
        "",
        "&page_size=5",
        "&page_size=5&page=2",
        "&page_size=5&page=last",
        "&page_size=5&page=9",
        "&page_size=13",
        "&page_size=500",
    ):
        response = client.get(f"/api/v1/visits/?clinic={clinic_id}&date={day}{query}{extra}")
        answers.append((response.status_code, response.content))
    return answers


def the_orms(monkeypatch, ask):
    with monkeypatch.context() as m:
        m.setattr(VisitViewSet, "filter_backends", [DjangoFilterBackend])
        return ask()


def test_every_page_is_the_orms_page_byte_for_byte(api_as, days, monkeypatch, admin_user):
    clinic, other = days
    front_desk = api_as("front_desk")
    superuser = APIClient()
    superuser.force_authenticate(admin_user)
    for client, clinic_ids in ((front_desk, [clinic.pk]), (superuser, [clinic.pk, other.pk, clinic.pk])):
        for clinic_id in clinic_ids:
            for day in (MONDAY, MONDAY + timedelta(days=1), MONDAY - timedelta(days=30)):
                ours = pages(client, clinic_id, day)
                assert ours == the_orms(monkeypatch, lambda: pages(client, clinic_id, day))  # noqa: B023
                assert {status for status, _ in ours} <= {200, 404}
    assert pages(front_desk, clinic.pk, MONDAY)[0][1].count(b'"id"') == 13


def test_the_days_list_reads_a_compiled_count_and_page_and_other_filters_read_as_before(api_as, days):
    clinic, other = days
    api = api_as("front_desk")
    api.get(f"/api/v1/visits/?clinic={clinic.pk}&date={MONDAY}")
    with CaptureQueriesContext(connection) as day:
        assert api.get(f"/api/v1/visits/?clinic={clinic.pk}&date={MONDAY}").json()["count"] == 13
    assert len(day.captured_queries) == 2
    assert not any(" IN (" in q["sql"] for q in day.captured_queries)  # the clinic is one of theirs: no scope
    with CaptureQueriesContext(connection) as filtered:
        body = api.get(f"/api/v1/visits/?clinic={clinic.pk}&date={MONDAY}&status=missed").json()
    assert body["count"] == 2 and len(filtered.captured_queries) == 2
    assert all(" IN (" in q["sql"] for q in filtered.captured_queries)  # the user's scope, as before
    assert api.get(f"/api/v1/visits/?clinic={other.pk}&date={MONDAY}").status_code == 404
    assert api.get(f"/api/v1/visits/?clinic={clinic.pk}&date=2026-13-01").status_code == 400


def test_an_empty_slice_reads_nothing(clinic, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert ClinicDayVisits(clinic.pk, MONDAY)[0:0] == []


def test_the_filters_form_class_is_built_once_and_still_names_a_bad_value(api_as, days):
    from django.http import QueryDict

    from api.visits.views import ScreenFilter, VisitFilter

    first, again = (VisitFilter(data=QueryDict("date=2026-11-02")) for _ in range(2))
    assert first.get_form_class() is again.get_form_class()
    assert first.form is not again.form and first.form.fields["date"] is not again.form.fields["date"]
    assert ScreenFilter(data=QueryDict("")).get_form_class() is not first.get_form_class()
    response = api_as("front_desk").get("/api/v1/visits/?date=2026-02-30&status=nope")
    assert response.status_code == 400 and set(response.json()) >= {"date", "status"}
