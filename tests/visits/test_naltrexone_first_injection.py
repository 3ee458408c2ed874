"""Issue #14: a naltrexone plan says from when its first injection may be given (the last opioid dose or take-home
+ the rule set's opioid-free days), and the engine and generation never place it earlier."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from tests.factories import PlanFactory
from tests.visits.conftest import MONDAY, make_visit
from visits.generation import visits_generate
from visits.models import Visit

pytestmark = pytest.mark.django_db


@pytest.fixture
def methadone(patient):
    start = MONDAY - timedelta(days=60)
    return PlanFactory(patient=patient, medication="methadone", start_date=start, treatment_start=start,
                       end_date=MONDAY + timedelta(days=4))


def last_dose(patient, plan, window, day, take_homes=0):
    return make_visit(patient, window=window, plan=plan, day=day, status="completed", dose_mg=Decimal(10),
                      take_home_doses=take_homes, covered_through=day + timedelta(days=take_homes),
                      completed_at=datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=13))


def test_the_plan_and_its_calendar_say_from_when_and_the_first_injection_is_not_before(
    api_as, patient, methadone, oral_window, frozen
):
    last_dose(patient, methadone, oral_window, MONDAY + timedelta(days=4))  # Fri 6 Nov
    naltrexone = PlanFactory(patient=patient, medication="naltrexone_xr", start_date=MONDAY + timedelta(days=5))
    body = api_as("front_desk").get(f"/api/v1/plans/{naltrexone.pk}/").json()
    assert body["first_injection_from"] == "2026-11-13"
    rows = api_as("nurse").get(
        f"/api/v1/plans/{naltrexone.pk}/calendar/?date_from=2026-11-07&date_to=2026-11-20"
    ).json()
    assert {r["first_injection_from"] for r in rows} == {"2026-11-13"}
    assert [r["date"] for r in rows if r["expected"] == "visit"] == ["2026-11-13"]
    visits_generate(horizon_days=28, plans=[naltrexone], today=MONDAY)
    first = Visit.objects.filter(plan=naltrexone).order_by("date").first()
    assert first is not None and first.date == date(2026, 11, 13)
    assert api_as("nurse").get(f"/api/v1/plans/{methadone.pk}/").json()["first_injection_from"] is None


def test_take_homes_count_as_opioid_days_and_a_closed_weekend_moves_it_later(
    api_as, patient, methadone, oral_window, frozen
):
    last_dose(patient, methadone, oral_window, MONDAY + timedelta(days=4), take_homes=2)  # covers Sun 8 Nov
    naltrexone = PlanFactory(patient=patient, medication="naltrexone_xr", start_date=MONDAY + timedelta(days=5))
    assert api_as("nurse").get(f"/api/v1/plans/{naltrexone.pk}/").json()["first_injection_from"] == "2026-11-15"
    rows = api_as("nurse").get(
        f"/api/v1/plans/{naltrexone.pk}/calendar/?date_from=2026-11-07&date_to=2026-11-25"
    ).json()
    # Sunday 15 Nov has no naltrexone window: the first open day after it, never the Friday before.
    assert [r["date"] for r in rows if r["expected"] == "visit"] == ["2026-11-16"]


def test_without_opioid_doses_here_the_plan_starts_as_planned_and_after_an_injection_it_is_null(
    api_as, patient, clinic, frozen
):
    naltrexone = PlanFactory(patient=patient, medication="naltrexone_xr", start_date=MONDAY)
    assert api_as("nurse").get(f"/api/v1/plans/{naltrexone.pk}/").json()["first_injection_from"] is None
    window = clinic.windows.get(services__contains="naltrexone_xr")
    make_visit(patient, window=window, plan=naltrexone, kind="injection", status="completed")
    rows = api_as("nurse").get(
        f"/api/v1/plans/{naltrexone.pk}/calendar/?date_from=2026-11-02&date_to=2026-11-03"
    ).json()
    assert rows[0]["first_injection_from"] is None
