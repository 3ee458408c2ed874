"""Completing a visit checks take_home_doses against the clinic's rule set on that treatment day.

The limit holds for everyone; these tests complete as a clinician with a reason, who may hand out more than
the plan's calendar expects (the dosing guard's rule, tested in test_dosing_guard.py) but never above the limit."""

from __future__ import annotations

from datetime import timedelta

import pytest

from scheduler.errors import RuleViolation
from scheduler.rules import PRESETS
from tests.factories import ClosureFactory, PlanFactory
from tests.visits.conftest import MONDAY, NOW, make_visit
from visits import services

pytestmark = pytest.mark.django_db
REASON = "travel approved by the prescriber"


@pytest.fixture
def complete_on_day(patient, oral_window, staff, frozen):
    """Complete a fresh visit on MONDAY for a plan whose treatment day that date is `day`."""

    def run(day: int, doses: int, medication: str = "methadone"):
        start = MONDAY - timedelta(days=day - 1)
        plan = PlanFactory(patient=patient, medication=medication, start_date=start, treatment_start=start)
        visit = make_visit(patient, window=oral_window, plan=plan)
        return services.visit_complete(
            visit=visit, by=staff["clinician"], take_home_doses=doses, take_home_reason=REASON
        )

    return run


@pytest.mark.parametrize(
    ("day", "allowed"),
    [(1, 7), (14, 7), (15, 14), (30, 14), (31, 28), (400, 28)],
)
def test_us_federal_2024_allows_the_tier_supply_and_refuses_one_more(complete_on_day, day, allowed):
    assert complete_on_day(day, allowed).take_home_doses == allowed
    with pytest.raises(RuleViolation) as refused:
        complete_on_day(day, allowed + 1)
    assert refused.value.field == "take_home_doses"
    assert f"(treatment day {day})" in refused.value.message


def test_the_refusal_names_the_limit_and_the_treatment_day(api_as, patient, oral_window, frozen):
    start = MONDAY - timedelta(days=2)
    plan = PlanFactory(patient=patient, start_date=start, treatment_start=start)
    visit = make_visit(patient, window=oral_window, plan=plan)
    body = {"take_home_doses": 8, "take_home_reason": REASON}
    response = api_as("clinician").post(f"/api/v1/visits/{visit.pk}/complete/", body, format="json")
    assert response.status_code == 400
    message = response.json()["take_home_doses"][0]
    assert "US federal 2024" in message
    assert message.endswith("at most 7 take-home doses at once on treatment days 1–14 (treatment day 3)")
    visit.refresh_from_db()
    assert visit.status == "scheduled"


@pytest.fixture
def federal_2001(clinic):
    rule_set = clinic.rule_set
    rule_set.name = "US federal 2001"
    rule_set.rules = dict(PRESETS["US federal 2001"])
    rule_set.save()
    return rule_set


def test_us_federal_2001_allows_one_take_home_in_the_first_90_days(federal_2001, complete_on_day):
    assert complete_on_day(30, 1).take_home_doses == 1
    with pytest.raises(RuleViolation) as refused:
        complete_on_day(30, 2)
    assert "US federal 2001: at most 1 take-home dose at once on treatment days 1–90" in refused.value.message
    assert "(treatment day 30)" in refused.value.message


def test_us_federal_2001_does_not_count_closure_doses(federal_2001, clinic, complete_on_day):
    # 42 CFR 8.12(i)(3) (2001): limits are beyond closure-day take-homes.
    ClosureFactory(clinic=clinic, date=MONDAY + timedelta(days=1), reason="Holiday")
    assert complete_on_day(30, 2).take_home_doses == 2


def test_us_federal_2024_counts_closure_doses(clinic, complete_on_day):
    ClosureFactory(clinic=clinic, date=MONDAY + timedelta(days=1), reason="Holiday")
    with pytest.raises(RuleViolation):
        complete_on_day(3, 8)


def test_buprenorphine_is_not_limited_by_the_methadone_tiers(complete_on_day):
    assert complete_on_day(3, 28, medication="buprenorphine").take_home_doses == 28


def test_diamorphine_is_never_taken_home(complete_on_day):
    with pytest.raises(RuleViolation) as refused:
        complete_on_day(100, 1, medication="diamorphine")
    assert refused.value.field == "take_home_doses"


def test_negative_take_home_doses_are_refused(visit, staff):
    with pytest.raises(RuleViolation) as refused:
        services.visit_complete(visit=visit, by=staff["nurse"], take_home_doses=-1)
    assert refused.value.field == "take_home_doses"


def test_negative_take_home_doses_answer_400_over_http(api_as, visit):
    response = api_as("nurse").post(f"/api/v1/visits/{visit.pk}/complete/", {"take_home_doses": -1}, format="json")
    assert response.status_code == 400
    assert "take_home_doses" in response.json()


def test_omitted_take_home_doses_default_to_none_handed_out(api_as, visit):
    response = api_as("nurse").post(f"/api/v1/visits/{visit.pk}/complete/", {}, format="json")
    assert response.status_code == 200
    assert response.json()["take_home_doses"] == 0
    assert response.json()["covered_through"] == "2026-11-02"


def test_covered_through_counts_the_take_home_days(complete_on_day):
    visit = complete_on_day(20, 6)
    assert visit.covered_through == MONDAY + timedelta(days=6)


def test_us_federal_2001_caps_take_home_days_per_week_across_visits(federal_2001, patient, oral_window, staff, frozen):
    # Treatment days 91–180: at most 2 take-homes at once and 2 a week beyond closure days (2001 table).
    start = MONDAY - timedelta(days=99)
    plan = PlanFactory(patient=patient, start_date=start, treatment_start=start)
    monday = make_visit(patient, window=oral_window, plan=plan)
    assert (
        services.visit_complete(
            visit=monday, by=staff["clinician"], take_home_doses=2, take_home_reason=REASON
        ).take_home_doses
        == 2
    )
    thursday = MONDAY + timedelta(days=3)
    frozen.move_to(NOW + timedelta(days=3))
    visit = make_visit(patient, window=oral_window, plan=plan, day=thursday)
    with pytest.raises(RuleViolation) as refused:
        services.visit_complete(visit=visit, by=staff["clinician"], take_home_doses=1, take_home_reason=REASON)
    assert "at most 2 take-home days a week beyond closure days" in refused.value.message
    assert "3 take-home days in the week of 2026-11-02" in refused.value.message
    # Saturday's take-home is for Sunday, a closure day (no window offers methadone on Sundays here):
    # it is beyond the weekly cap, so it is allowed.
    saturday = MONDAY + timedelta(days=5)
    frozen.move_to(NOW + timedelta(days=5))
    visit = make_visit(patient, window=oral_window, plan=plan, day=saturday)
    assert (
        services.visit_complete(
            visit=visit, by=staff["clinician"], take_home_doses=1, take_home_reason=REASON
        ).take_home_doses
        == 1
    )
