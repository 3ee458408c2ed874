"""Issue #15: missed injections escalate in distinct tiers, per medication's window (rule-set data).

Vivitrol (naltrexone XR practice, DOMAIN §1): up to 7 days late given as planned (staff rebook, nothing clinical);
8+ days late an opioid-free check (clinician review); past restart_after_days (14) a re-start. Brixadi monthly
(label ±7 days) and Sublocade (up to 2 weeks late) each need a clinician past their own window."""

from __future__ import annotations

from datetime import date, time, timedelta

import pytest

from scheduler.rules import BRIXADI_MONTHLY
from tests.visits.missed.conftest import at, generate, kinds, sweep, visit_on
from visits.models import Escalation

MON = date(2026, 11, 2)


def _late(days: int) -> date:
    return MON + timedelta(days=days)


@pytest.fixture
def injection_window(clinic):
    window = clinic.windows.get(start=time(11, 0))
    window.services = [*window.services, BRIXADI_MONTHLY]
    window.save()
    return window


def _missed_plan(make_plan, medication: str):
    plan = make_plan(medication=medication, start_date=MON)
    generate(plan, MON, days=14)
    sweep(at(MON, 14, 30))  # the 11:00–13:00 window and an hour's grace have passed
    assert visit_on(plan, MON).status == "missed"
    return plan


def test_vivitrol_up_to_7_days_late_is_given_as_planned(make_plan, injection_window):
    plan = _missed_plan(make_plan, "naltrexone_xr")
    for days in range(1, 8):
        sweep(at(_late(days), 20))
    assert kinds(plan) == ["overdue_injection"]
    assert "given as planned" in Escalation.objects.get(plan=plan).reason


def test_vivitrol_8_days_late_needs_an_opioid_free_check_and_15_days_late_a_restart(make_plan, injection_window):
    plan = _missed_plan(make_plan, "naltrexone_xr")
    sweep(at(_late(8), 6))
    review = Escalation.objects.get(plan=plan, kind="clinician_review")
    assert review.reason.startswith("past the allowed window: opioid-free check by a clinician before the injection")
    assert "8 days late; re-start from 14 days late" in review.reason
    for days in range(9, 14):
        sweep(at(_late(days), 6))
    assert kinds(plan) == ["clinician_review", "overdue_injection"]

    sweep(at(_late(15), 6))
    restart = Escalation.objects.get(plan=plan, kind="restart")
    assert restart.reason.startswith("15 days past the injection due 2026-11-02 (re-start at 14 days late")
    assert kinds(plan) == ["clinician_review", "overdue_injection", "restart"]
    assert restart.reason != review.reason


def test_a_vivitrol_patient_first_seen_15_days_late_gets_the_restart_tier_only(make_plan, injection_window):
    plan = _missed_plan(make_plan, "naltrexone_xr")
    sweep(at(_late(15), 6))
    assert kinds(plan) == ["overdue_injection", "restart"]


@pytest.mark.parametrize(
    ("medication", "last_allowed"), [(BRIXADI_MONTHLY, 7), ("buprenorphine_xr_monthly", 14)]
)
def test_brixadi_monthly_and_sublocade_each_need_a_clinician_past_their_own_window(
    make_plan, injection_window, medication, last_allowed
):
    plan = _missed_plan(make_plan, medication)
    assert visit_on(plan, MON).latest == _late(last_allowed)
    sweep(at(_late(last_allowed), 20))
    assert kinds(plan) == ["overdue_injection"]
    sweep(at(_late(last_allowed + 1), 6))
    assert kinds(plan) == ["clinician_review", "overdue_injection"]
    review = Escalation.objects.get(plan=plan, kind="clinician_review")
    assert review.reason.startswith("past the allowed window: a clinician reviews before the next injection")
    assert f"{last_allowed + 1} days late" in review.reason
    sweep(at(_late(30), 6))  # no restart rule for buprenorphine XR in the presets
    assert "restart" not in kinds(plan)
