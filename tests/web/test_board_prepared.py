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


def test_the_days_headings_are_the_orms(clinic, morning):
    _day(clinic, 30, morning)
    elsewhere = ClinicFactory(timezone="Europe/London")
    _day(elsewhere, 10, morning)
    for place in (clinic, elsewhere, clinic):
        with CaptureQueriesContext(connection) as orm:
            expected = list(selectors.board_day_query(clinic=place, day=TODAY))
        with CaptureQueriesContext(connection) as prepared:
            slots, stamp = selectors.board_day(clinic=place, day=TODAY)
        assert [q["sql"] for q in prepared.captured_queries] == [q["sql"] for q in orm.captured_queries]
        assert sum(s.count for s in slots) == sum(row["n"] for row in expected) == Visit.objects.filter(
            clinic=place, date=TODAY).exclude(status="cancelled").count()
        assert stamp == selectors.board_stamp(clinic=place, day=TODAY)
    assert any(s.label.startswith("Booked ") for s in slots) and any(s.label == "06:00–07:00" for s in slots)


def test_a_clinic_is_read_once_compiled_with_its_rule_set_and_only_for_its_users(
    clinic, other_clinic, staff, django_assert_num_queries
):
    from django.contrib.auth import get_user_model
    from django.http import Http404

    from web.access import clinic_or_404

    user = staff["nurse"]
    clinic_or_404(user, clinic.pk)
    with django_assert_num_queries(1):  # the user's clinic ids were read by the first call
        found = clinic_or_404(user, clinic.pk)
        assert found.rule_set is not None  # loaded with it
    want = Clinic.objects.select_related("rule_set").get(pk=clinic.pk)
    assert _fields(found) == _fields(want) and _fields(found.rule_set) == _fields(want.rule_set)
    with pytest.raises(Http404):
        clinic_or_404(user, other_clinic.pk)
    admin = get_user_model().objects.create(username="root", is_superuser=True)
    assert clinic_or_404(admin, other_clinic.pk) == other_clinic
    with pytest.raises(Http404):
        clinic_or_404(admin, other_clinic.pk + 1000)
