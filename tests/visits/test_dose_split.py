"""Issue #14: methadone split doses — the order is the daily total, each of the two sessions gives its share."""

from __future__ import annotations

from datetime import time, timedelta
from decimal import Decimal

import pytest

from scheduler.models import DoseOrder
from tests.factories import PlanFactory
from tests.visits.conftest import MONDAY, make_visit
from visits.selectors import dose_due_mg, doses_due_mg

pytestmark = pytest.mark.django_db


@pytest.fixture
def split_plan(patient):
    return PlanFactory(patient=patient, medication="methadone", start_date=MONDAY - timedelta(days=60),
                       treatment_start=MONDAY - timedelta(days=60), doses_per_day=2, split_first_share=60)


def test_dose_due_is_the_order_in_force_times_the_sessions_share(patient, split_plan, oral_window, frozen):
    first = make_visit(patient, window=oral_window, plan=split_plan, source="plan", planned_date=MONDAY, session=0)
    second = make_visit(patient, window=oral_window, plan=split_plan, source="plan", planned_date=MONDAY, session=1)
    assert dose_due_mg(first) is None  # no order yet
    DoseOrder.objects.create(plan=split_plan, dose_mg=Decimal(90), effective_date=MONDAY - timedelta(days=3))
    DoseOrder.objects.create(plan=split_plan, dose_mg=Decimal(100), effective_date=MONDAY + timedelta(days=1))
    assert (dose_due_mg(first), dose_due_mg(second)) == (Decimal("54.00"), Decimal("36.00"))
    assert doses_due_mg([first, second]) == {first.pk: Decimal("54.00"), second.pk: Decimal("36.00")}


def test_an_even_split_by_default_and_a_whole_dose_when_not_split(patient, split_plan, oral_window, frozen):
    split_plan.split_first_share = None
    split_plan.save()
    DoseOrder.objects.create(plan=split_plan, dose_mg=Decimal("85"), effective_date=MONDAY)
    second = make_visit(patient, window=oral_window, plan=split_plan, source="plan", planned_date=MONDAY, session=1)
    assert dose_due_mg(second) == Decimal("42.50")
    other = PlanFactory(patient=patient, medication="buprenorphine", start_date=MONDAY)
    DoseOrder.objects.create(plan=other, dose_mg=Decimal(16), effective_date=MONDAY)
    assert dose_due_mg(make_visit(patient, window=oral_window, plan=other)) == Decimal("16.00")
    counselling = make_visit(patient, window=oral_window, kind="counselling")
    assert dose_due_mg(counselling) is None


def test_a_hand_booked_visit_of_a_split_plan_is_the_next_session_of_the_day(patient, split_plan, clinic, frozen):
    window = clinic.windows.get(start=time(7, 0))
    DoseOrder.objects.create(plan=split_plan, dose_mg=Decimal(100), effective_date=MONDAY)
    morning = make_visit(patient, window=window, plan=split_plan, source="manual")
    assert dose_due_mg(morning) == Decimal("60.00")
    morning.status, morning.dose_mg = "completed", Decimal(60)
    morning.save()
    evening = make_visit(patient, window=window, plan=split_plan, source="manual")
    assert dose_due_mg(evening) == Decimal("40.00")
