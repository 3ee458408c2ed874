"""VisitSerializer's own field loop (issue #16) says exactly what DRF's generic path says, for every field of
visits in every state: scheduled, completed with amounts and take-home bottles, missed, screened, booked."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from rest_framework import serializers

from api.visits.views import INSTANT_FIELDS, VisitSerializer
from tests.visits.conftest import MONDAY, NOW, make_visit
from visits.models import Visit

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen")]


def drf_representation(visit: Visit) -> dict[str, Any]:
    """DRF's generic ModelSerializer output, with the instants in the clinic's zone (what the API promises)."""
    data = serializers.ModelSerializer.to_representation(VisitSerializer(), visit)
    tz = ZoneInfo(visit.clinic.timezone)
    for name in INSTANT_FIELDS:
        value = getattr(visit, name)
        data[name] = value.astimezone(tz).isoformat() if value is not None else None
    return dict(data)


@pytest.fixture
def varied(patient, plan, oral_window, counselling_window, staff) -> list[Visit]:
    nurse = staff["nurse"]
    return [
        make_visit(patient, window=oral_window, plan=plan, source="plan", planned_date=MONDAY),
        make_visit(
            patient, window=oral_window, plan=plan, day=MONDAY - timedelta(days=1), status="completed",
            checked_in_at=NOW - timedelta(hours=2), checked_in_by=nurse, completed_at=NOW - timedelta(hours=1),
            completed_by=nurse, take_home_doses=2, covered_through=MONDAY + timedelta(days=1),
            dose_mg=Decimal("42.5"), take_home_mg=["42.50", "40.00"], dose_reason="declined part",
            bottles_returned=False, bottles_note="one lost", expected_take_home_doses=2,
        ),
        make_visit(
            patient, window=oral_window, plan=plan, day=MONDAY - timedelta(days=2), status="missed",
            missed_at=NOW - timedelta(days=1), drug_screen=True, drug_screen_result="positive",
            drug_screen_substances=["fentanyl", "cocaine"], status_reason="no show",
        ),
        make_visit(patient, window=counselling_window, kind="counselling", day=MONDAY + timedelta(days=3),
                   source="manual", edited=True, reason="booked by staff"),
    ]


def test_each_visit_is_rendered_as_drf_renders_it(varied):
    for visit in Visit.objects.select_related("clinic").filter(pk__in=[v.pk for v in varied]):
        ours = VisitSerializer(visit).data
        assert ours == drf_representation(visit)
        assert list(ours) == list(VisitSerializer().fields)  # the declared order, as before


def test_a_page_is_rendered_as_drf_renders_each_row(varied):
    visits = list(Visit.objects.select_related("clinic").filter(pk__in=[v.pk for v in varied]).order_by("id"))
    page = VisitSerializer(visits, many=True).data
    assert [dict(row) for row in page] == [drf_representation(v) for v in visits]
    completed = next(row for row in page if row["status"] == "completed")
    assert completed["dose_mg"] == "42.50" and completed["completed_by"] is not None
    assert completed["completed_at"].endswith("-05:00")  # New York in November
    missed = next(row for row in page if row["status"] == "missed")
    assert missed["drug_screen_substances"] == ["fentanyl", "cocaine"]


@pytest.fixture
def london(other_clinic, staff, oral_window) -> Visit:
    """A visit in a clinic of another zone, seen by the same manager (the list renders each in its own zone)."""
    from tests.factories import PatientFactory, WindowFactory

    other_clinic.timezone = "Europe/London"
    other_clinic.save(update_fields=["timezone"])
    staff["manager"].staff.clinics.add(other_clinic)
    window = WindowFactory(clinic=other_clinic)
    return make_visit(PatientFactory(clinic=other_clinic), window=window, kind="counselling", source="manual",
                      checked_in_at=NOW)


@pytest.mark.parametrize("query", ["", "?clinic={clinic}", "?date_from=2026-10-01&page_size=2"])
def test_the_list_says_what_the_serializer_says_of_each_visit_with_its_clinic(api_as, varied, london, clinic, query):
    """Issue #16: the list reads each visit's clinic zone as a column, not the clinic: the same JSON as each visit
    serialized with its clinic joined (as the list did)."""
    body = api_as("manager").get("/api/v1/visits/" + query.format(clinic=clinic.pk)).json()
    ids = [row["id"] for row in body["results"]]
    joined = {v.pk: v for v in Visit.objects.select_related("clinic").filter(pk__in=ids)}
    assert body["results"] == [dict(VisitSerializer(joined[pk]).data) for pk in ids]
    assert ids and (london.pk in ids) == ("clinic" not in query and "page_size" not in query)
    if london.pk in ids:
        row = body["results"][ids.index(london.pk)]
        assert row["checked_in_at"] == NOW.astimezone(ZoneInfo("Europe/London")).isoformat()


def test_the_list_of_one_of_the_users_clinics_asks_no_more_whether_it_exists(
    api_as, varied, clinic, other_clinic, django_assert_num_queries
):
    """?clinic= of the user's clinics (their ids read from their clinics, in this request): no query to check it
    exists. Another clinic's id is still a 404."""
    api = api_as("manager")
    api.get("/api/v1/visits/")
    with django_assert_num_queries(2):  # the count and the page (force_authenticate keeps the user, clinic ids read)
        assert api.get(f"/api/v1/visits/?clinic={clinic.pk}").json()["count"] == len(varied)
    assert api.get(f"/api/v1/visits/?clinic={other_clinic.pk}").status_code == 404
