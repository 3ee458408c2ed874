"""Issue #14: each take-home bottle's amount — the order in force on the date it covers by default, above it a 409,
stored on the visit and used by the controlled-drug report and FHIR MedicationDispense."""

from __future__ import annotations

from datetime import timedelta

import pytest
from auditlog.models import LogEntry

from tests.factories import PlanFactory
from tests.visits.conftest import MONDAY

pytestmark = pytest.mark.django_db


@pytest.fixture
def plan(patient):
    """A stable methadone patient (treatment day 61): take-homes within the rule set's limit."""
    start = MONDAY - timedelta(days=60)
    return PlanFactory(patient=patient, medication="methadone", start_date=start, treatment_start=start)


def order(api, plan, dose_mg, day):
    response = api.post(f"/api/v1/plans/{plan.pk}/orders/", {"dose_mg": dose_mg, "effective_date": day.isoformat()},
                        format="json")
    assert response.status_code == 201, response.content


def complete(api, visit, **body):
    return api.post(f"/api/v1/visits/{visit.pk}/complete/", body, format="json")


TAKE_HOMES = {"take_home_doses": 2, "take_home_reason": "travel"}


def test_bottles_default_to_the_order_in_force_on_the_date_each_covers(api_as, plan, visit):
    order(api_as("clinician"), plan, "60", MONDAY)
    order(api_as("clinician"), plan, "50", MONDAY + timedelta(days=2))  # a taper step on the second bottle's date
    done = complete(api_as("clinician"), visit, **TAKE_HOMES)
    assert done.status_code == 200, done.content
    assert (done.json()["dose_mg"], done.json()["take_home_mg"]) == ("60.00", ["60.00", "50.00"])
    assert api_as("front_desk").get(f"/api/v1/visits/{visit.pk}/").json()["take_home_mg"] == ["60.00", "50.00"]
    entry = LogEntry.objects.get_for_object(visit).filter(action=LogEntry.Action.UPDATE).order_by("-id").first()
    assert "take_home_mg" in entry.changes_dict


def test_a_bottle_above_its_order_is_refused_and_less_needs_a_reason(api_as, plan, visit):
    order(api_as("clinician"), plan, "60", MONDAY)
    above = complete(api_as("clinician"), visit, take_home_mg=["60", "65"], **TAKE_HOMES)
    assert above.status_code == 409
    assert "the take-home bottle for Wed 4 Nov holds 65 mg, more than the order in force" in above.json()["detail"]
    wrong = complete(api_as("clinician"), visit, take_home_mg=["60"], **TAKE_HOMES)
    assert wrong.status_code == 400 and "one amount per take-home bottle (2), not 1" in str(wrong.json())
    less = complete(api_as("clinician"), visit, take_home_mg=["60", "55"], **TAKE_HOMES)
    assert less.status_code == 400 and "dose_reason" in less.json()
    none = complete(api_as("nurse"), visit, take_home_mg=["60"])
    assert none.status_code == 400 and "take_home_mg" in none.json()
    done = complete(api_as("clinician"), visit, take_home_mg=["60", "55"], dose_reason="reducing", **TAKE_HOMES)
    assert done.status_code == 200, done.content
    assert done.json()["take_home_mg"] == ["60.00", "55.00"]


def test_the_controlled_drug_report_counts_each_bottles_amount(api_as, plan, visit, clinic):
    order(api_as("clinician"), plan, "60", MONDAY)
    complete(api_as("clinician"), visit, take_home_mg=["60", "45"], dose_reason="reducing", **TAKE_HOMES)
    url = f"/api/v1/reports/controlled-drugs/?clinic={clinic.pk}&date_from=2026-11-02&date_to=2026-11-02"
    row = api_as("manager").get(url).json()["rows"][0]
    assert (row["mg_given"], row["take_home_doses"], row["take_home_mg"]) == ("60.00", 2, "105.00")


def test_a_later_order_never_rewrites_the_bottles_handed_out(api_as, plan, visit):
    order(api_as("clinician"), plan, "60", MONDAY)
    complete(api_as("clinician"), visit, **TAKE_HOMES)
    order(api_as("clinician"), plan, "40", MONDAY + timedelta(days=1))
    visit.refresh_from_db()
    assert visit.take_home_mg == ["60.00", "60.00"]
