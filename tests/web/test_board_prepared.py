"""The board page's query is compiled once per zone, page and filter and run with each request's clinic, day and
window (issue #16). It must send the very SQL the ORM sends and give the very rows `list(queryset)` gives: every
field, the annotations, the patient and the plan."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from scheduler.models import Clinic
from tests.factories import ClinicFactory, PatientFactory, PlanFactory, WindowFactory
from tests.web.conftest import TODAY
from visits.generation import visits_generate
from visits.models import Visit
from web import selectors

pytestmark = pytest.mark.django_db


def _fields(obj: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(obj).items() if k != "_state"}


def _same_rows(clinic: Clinic, day: Any, page: int, window_id: int | None) -> list[Visit]:
    with CaptureQueriesContext(connection) as orm:
        expected = list(selectors.board_page_query(clinic=clinic, day=day, page=page, window_id=window_id))
    with CaptureQueriesContext(connection) as prepared:
        rows = selectors.board_page(clinic=clinic, day=day, page=page, window_id=window_id)
    assert [q["sql"] for q in prepared.captured_queries] == [q["sql"] for q in orm.captured_queries]
    assert [v.pk for v in rows] == [v.pk for v in expected]
    for got, want in zip(rows, expected, strict=True):
        assert got.clinic is clinic
        assert _fields(got) == _fields(want)  # every column and annotation (slot, prior dose date, plan_has_dose)
        assert _fields(got.patient) == _fields(want.patient)
        assert (got.plan is None) == (want.plan is None)
        if want.plan is not None:
            assert _fields(got.plan) == _fields(want.plan)
    return rows


def _day(clinic: Clinic, n: int, now: Any) -> None:
    """n plan rows: in the generated window, an early window, or booked for a time without a window; some with a
    completed dose before the day, some missed; and a counselling visit with no plan and no window."""
    early = WindowFactory(clinic=clinic, start="06:00", end="07:00")
    plans = [PlanFactory(patient=PatientFactory(clinic=clinic), start_date=TODAY - timedelta(days=20))
             for _ in range(n)]
    visits_generate(plans=plans, today=TODAY, horizon_days=1)
    for i, visit in enumerate(Visit.objects.filter(clinic=clinic, date=TODAY).order_by("id")):
        fields: dict[str, Any] = {}
        if i % 4 == 1:
            fields.update(window=None, start=now + timedelta(minutes=i), end=now + timedelta(minutes=i + 15))
        elif i % 4 == 2:
            fields["window"] = early
        if i % 3 == 0:  # a completed dose before the day: the row's prior dose date
            Visit.objects.create(patient=visit.patient, clinic=clinic, plan=visit.plan, kind="dose",
                                 status="completed", date=TODAY - timedelta(days=1 + i % 4))
        if i % 5 == 0:
            fields["status"] = "missed"
        Visit.objects.filter(pk=visit.pk).update(**fields)
    Visit.objects.create(patient=plans[0].patient, clinic=clinic, kind="counselling", date=TODAY)  # no plan, window


def test_every_page_is_the_orms_page(clinic, morning):
    _day(clinic, 60, morning)
    pages = [_same_rows(clinic, TODAY, page, None) for page in (1, 2, 3)]
    assert sum(len(p) for p in pages) == 61
    assert any(v.plan is None for v in pages[-1] + pages[0])


def test_a_windows_pages_and_another_zone_and_day_are_the_orms(clinic, morning):
    _day(clinic, 30, morning)
    window = clinic.windows.order_by("start").first()
    assert _same_rows(clinic, TODAY, 1, window.pk)
    elsewhere = ClinicFactory(timezone="Europe/London")
    _day(elsewhere, 30, morning)
    assert _same_rows(elsewhere, TODAY, 2, None)
    assert _same_rows(clinic, TODAY, 2, None)  # the compiled query of the first zone, run again
    yesterday = _same_rows(clinic, TODAY - timedelta(days=1), 1, None)  # the completed doses before the day
    assert yesterday and all(v.date == TODAY - timedelta(days=1) for v in yesterday)


def test_a_page_is_one_query(clinic, morning, django_assert_num_queries):
    _day(clinic, 30, morning)
    selectors.board_page(clinic=clinic, day=TODAY, page=1)
    with django_assert_num_queries(1):
        assert len(selectors.board_page(clinic=clinic, day=TODAY, page=1)) == selectors.BOARD_PAGE_SIZE
