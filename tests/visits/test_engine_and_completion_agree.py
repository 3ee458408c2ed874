"""Issue #11: the engine and completion agree. For every plan the engine accepts, completing each planned visit
with the take-homes its calendar expects is accepted by the dosing guard and the rule set's limit; closure runs
longer than a tier allows are refused when the plan or the closure is saved, never at the window."""

from __future__ import annotations

import contextlib
from datetime import UTC, date, datetime, time, timedelta

import pytest
import time_machine
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from scheduler import engine
from scheduler.errors import RuleViolation
from scheduler.rules import PRESETS
from scheduler.selectors import calendar_for_clinic, plan_spec, rules_for_clinic
from scheduler.services import closure_create, plan_create
from tests.factories import ClinicFactory, PatientFactory, WindowFactory, make_staff
from tests.visits.conftest import make_visit
from visits import services

pytestmark = pytest.mark.django_db

START = date(2026, 11, 2)  # a Monday
WEEKS = 3


def _clinic(preset: str):
    clinic = ClinicFactory(name="Agreement clinic", sms_name="Riverside Health")
    clinic.rule_set.name, clinic.rule_set.rules = preset, dict(PRESETS[preset])
    clinic.rule_set.save()
    WindowFactory(
        clinic=clinic,
        weekdays=[0, 1, 2, 3, 4, 5],
        start=time(7),
        end=time(10),
        services=["methadone", "buprenorphine"],
        capacity=50,
    )
    return clinic


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@example(  # nine closed days from Tuesday on treatment day 1: refused at save, or completion would refuse 8
    preset="US federal 2024",
    medication="methadone",
    weekdays={0, 1, 2, 3, 4, 5},
    every_weeks=1,
    days_in_treatment=0,
    closures=set(),
    closed_block=(1, 9),
)
@given(
    preset=st.sampled_from(sorted(PRESETS)),
    medication=st.sampled_from(["methadone", "buprenorphine"]),
    weekdays=st.sets(st.integers(0, 5), min_size=1, max_size=6),
    every_weeks=st.integers(1, 2),
    days_in_treatment=st.sampled_from([0, 10, 13, 29, 89, 179, 270, 365, 800]),
    closures=st.sets(st.integers(1, 7 * WEEKS - 1), max_size=3),
    closed_block=st.tuples(st.integers(1, 10), st.integers(0, 9)),
)
def test_completing_each_visit_with_its_planned_take_homes_is_accepted(
    preset, medication, weekdays, every_weeks, days_in_treatment, closures, closed_block
):
    with time_machine.travel(datetime(2026, 11, 2, 10, 0, tzinfo=UTC), tick=False) as clock:
        clinic = _clinic(preset)
        first, length = closed_block  # a run of closed days (a renovation, a holiday week)
        for offset in sorted(closures | set(range(first, first + length))):
            with contextlib.suppress(RuleViolation):  # refused at save: the point of the rule
                closure_create(clinic=clinic, date=START + timedelta(days=offset), reason="holiday")
        patient = PatientFactory(clinic=clinic)
        try:
            plan = plan_create(
                patient=patient,
                data={
                    "medication": medication,
                    "start_date": START,
                    "treatment_start": START - timedelta(days=days_in_treatment),
                    "attendance_weekdays": sorted(weekdays),
                    "attendance_every_weeks": every_weeks,
                },
            )
        except RuleViolation:
            assume(False)  # the engine (or the save-time check) did not accept this plan
        nurse = make_staff("nurse", [clinic])
        window = clinic.windows.get()
        days = engine.plan_days(
            plan_spec(plan),
            calendar_for_clinic(clinic),
            rules_for_clinic(clinic),
            START,
            START + timedelta(days=7 * WEEKS - 1),
        )
        for day in days:
            if day.expected != engine.VISIT:
                continue
            clock.move_to(datetime.combine(day.date, time(13), tzinfo=UTC))
            visit = make_visit(patient, window=window, plan=plan, day=day.date, source="plan", planned_date=day.date)
            done = services.visit_complete(visit=visit, by=nurse, take_home_doses=day.take_home_doses)
            assert done.take_home_doses == day.take_home_doses


def test_a_closure_run_longer_than_the_tier_is_refused_when_the_closure_is_saved(frozen):
    clinic = _clinic("US federal 2024")
    patient = PatientFactory(clinic=clinic, mrn="EARLY-1")
    plan_create(patient=patient, data={"medication": "methadone", "start_date": START})  # treatment day 1 today
    # Closed Tuesday 3 .. Tuesday 10 November: 8 days (Sunday has no window), while the patient is on days 1–14.
    for offset in range(1, 8):
        if (START + timedelta(days=offset)).weekday() != 6:
            closure_create(clinic=clinic, date=START + timedelta(days=offset), reason="renovation")
    with pytest.raises(RuleViolation) as refused:
        closure_create(clinic=clinic, date=START + timedelta(days=8), reason="renovation")
    assert "more take-home doses at once than the rule set allows" in refused.value.message
    assert "MRN EARLY-1: the visit on Mon 2 Nov would hand out 8 take-home doses" in refused.value.message
    assert "at most 7 take-home doses at once on treatment days 1–14" in refused.value.message


def test_a_plan_that_would_meet_such_a_closure_run_is_refused_when_saved(frozen):
    clinic = _clinic("US federal 2024")
    for offset in range(1, 9):
        if (START + timedelta(days=offset)).weekday() != 6:
            closure_create(clinic=clinic, date=START + timedelta(days=offset), reason="renovation")
    patient = PatientFactory(clinic=clinic)
    with pytest.raises(RuleViolation) as refused:
        plan_create(patient=patient, data={"medication": "methadone", "start_date": START})
    assert refused.value.field == "start_date"
    assert "would hand out 8 take-home doses" in refused.value.message
    # A patient past day 14 (14 at once) is fine with the same closures.
    other = PatientFactory(clinic=clinic)
    plan_create(
        patient=other,
        data={"medication": "methadone", "start_date": START, "treatment_start": START - timedelta(days=20)},
    )


@pytest.fixture
def frozen():
    with time_machine.travel(datetime(2026, 11, 2, 10, 0, tzinfo=UTC), tick=False) as traveller:
        yield traveller
