"""Issue #16: the visit list of one of the user's clinics on one date (`?clinic=&date=`, and nothing else asked) reads
its count and its page with statements compiled once a thread (api.visits.views.ClinicDayVisits). Every page's
status and JSON bytes are those of the ORM's filtered queryset, for two clinics in turn, any page size, the last
page, a page past the end and an empty day; other filters, and another clinic's id, take the path they took."""

from __future__ import annotations

from datetime import time, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.test import APIClient

from api.visits.views import ClinicDayVisits, VisitViewSet
from scheduler.timeutil import local_instant
from tests.factories import PatientFactory, WindowFactory
from tests.visits.conftest import MONDAY, make_visit
from visits.models import Visit

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


# --- the page rendered from its columns (issue #16, h3) ------------------------------------------------------------


@pytest.fixture
def every_field(days, plan, oral_window, staff):
    """MONDAY visits with every field of VisitSerializer set (ids, dates, instants, decimals, JSON lists, booleans,
    texts with characters JSON escapes), one without times, beside `days`' visits of every status."""
    clinic, _ = days
    at = local_instant(MONDAY, oral_window.start, clinic.timezone)
    full = {
        "status": "completed", "source": "plan", "planned_date": MONDAY - timedelta(days=1), "session": 2,
        "edited": True, "reason": 'moved "by" staff <é>\n', "expected_take_home_doses": 2,
        "target_date": MONDAY + timedelta(days=3), "earliest": MONDAY, "latest": MONDAY + timedelta(days=2),
        "take_home_doses": 2, "dose_mg": Decimal("62.50"), "dose_reason": "declined part",
        "take_home_mg": ["60.00", "57.5"], "covered_through": MONDAY + timedelta(days=2),
        "checked_in_at": at + timedelta(minutes=3, microseconds=7), "checked_in_by": staff["front_desk"],
        "completed_at": at + timedelta(minutes=20), "completed_by": staff["nurse"], "bottles_returned": False,
        "bottles_note": "one short", "status_reason": "ok", "missed_at": at + timedelta(hours=5),
        "drug_screen": True, "drug_screen_result": "positive", "drug_screen_substances": ["cocaine", "fentanyl"],
        "callback_bottles_handed_out": 3, "callback_bottles_brought": 0,
    }
    make_visit(plan.patient, window=oral_window, plan=plan, **full)
    make_visit(PatientFactory(clinic=clinic), window=oral_window, kind="callback", bottles_returned=True,
               drug_screen_substances=[], take_home_mg=[], dose_mg=Decimal("0.00"))
    untimed = make_visit(PatientFactory(clinic=clinic), window=oral_window)
    Visit.objects.filter(pk=untimed.pk).update(start=None, end=None)
    return clinic


def test_every_field_of_the_page_rendered_from_columns_is_the_serializers(api_as, every_field, monkeypatch):
    api = api_as("front_desk")
    ours = pages(api, every_field.pk, MONDAY)
    assert ours == the_orms(monkeypatch, lambda: pages(api, every_field.pk, MONDAY))
    body = api.get(f"/api/v1/visits/?clinic={every_field.pk}&date={MONDAY}&page_size=500").json()
    assert body["count"] == 16
    filled = next(row for row in body["results"] if row["dose_mg"] == "62.50")
    assert all(value not in (None, "", []) for value in filled.values())  # the fixture left no field empty
    assert any(row["start"] is None for row in body["results"])


def test_a_page_renders_each_row_as_to_representation_does(every_field):
    from django.db.models import F

    from api.visits.views import VisitSerializer

    day = ClinicDayVisits(every_field.pk, MONDAY)
    rows = day[0:100]
    instances = list(
        Visit.objects.filter(clinic=every_field, date=MONDAY).annotate(clinic_timezone=F("clinic__timezone"))
        .order_by("date", "start", "id")
    )
    assert rows == [VisitSerializer(visit).data for visit in instances]
    assert [list(row) for row in rows] == [list(VisitSerializer.Meta.fields)] * len(rows)  # the declared order


def test_columns_are_only_for_model_rows_without_related_objects():
    from scheduler.prepared import AS_CLINIC, PreparedQuery

    with pytest.raises(ValueError):
        PreparedQuery(Visit.objects.filter(clinic_id=AS_CLINIC).values("id")).run_columns({AS_CLINIC: 1})
    with pytest.raises(ValueError):
        PreparedQuery(Visit.objects.filter(clinic_id=AS_CLINIC).select_related("clinic")).run_columns({AS_CLINIC: 1})
