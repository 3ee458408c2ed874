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
