"""The board's orders in force in SQL written once (issue #16): the same orders as the ORM's read, whatever the
plans, dates and orders of the same date."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from scheduler.models import DoseOrder
from tests.factories import PatientFactory, PlanFactory
from tests.web.conftest import MORNING, TODAY
from web import selectors

pytestmark = pytest.mark.django_db


def _as_the_orm_read_them(plan_ids: list[int], day) -> dict[int, DoseOrder]:
    found: dict[int, DoseOrder] = {}
    qs = DoseOrder.objects.filter(plan_id__in=set(plan_ids), effective_date__lte=day)
    for order in qs.order_by("plan_id", "-effective_date", "-created", "-id"):
        found.setdefault(order.plan_id, order)
    return found


def _fields(orders: dict[int, DoseOrder]) -> list[tuple]:
    return [(plan_id, *(getattr(o, f.attname) for f in DoseOrder._meta.concrete_fields))
            for plan_id, o in orders.items()]


def test_the_orders_in_force_are_the_orms(clinic):
    plans = [PlanFactory(patient=PatientFactory(clinic=clinic)) for _ in range(4)]
    a, b, c, _ = plans
    made = [
        (a, "40", -10, 0), (a, "45", -3, 0), (a, "50", 2, 0),  # the latest on or before the day; a later one waits
        (b, "30", -5, 0), (b, "32.5", -5, 60), (b, "31", -5, 30),  # three of one date: the latest created
        (c, "20", 1, 0),  # only a future order: none in force
    ]
    for plan, mg, days, minutes in made:
        with time_machine.travel(MORNING + timedelta(minutes=minutes), tick=False):
            DoseOrder.objects.create(plan=plan, dose_mg=Decimal(mg), effective_date=TODAY + timedelta(days=days))
    with time_machine.travel(MORNING, tick=False):  # two of one date and one instant: the higher id
        for mg in ("60", "61"):
            DoseOrder.objects.create(plan=plans[3], dose_mg=Decimal(mg), effective_date=TODAY)
    ids = [p.pk for p in plans] + [plans[0].pk]
    for day in (TODAY - timedelta(days=6), TODAY, TODAY + timedelta(days=2)):
        got = selectors.orders_in_force(plan_ids=ids, day=day)
        assert _fields(got) == _fields(_as_the_orm_read_them(ids, day))
    got = selectors.orders_in_force(plan_ids=ids, day=TODAY)
    assert [str(o.dose_mg) for o in got.values()] == ["45.00", "32.50", "61.00"]
    assert all(isinstance(o, DoseOrder) and o._state.db == "default" and not o._state.adding for o in got.values())


def test_no_plans_no_query(clinic):
    with CaptureQueriesContext(connection) as ctx:
        assert selectors.orders_in_force(plan_ids=[], day=TODAY) == {}
    assert len(ctx.captured_queries) == 0
