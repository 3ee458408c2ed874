"""visits.selectors.guard_doses: the guard's completed doses per patient, read in two index-served parts (issue #16):
the doses since the look-back, and older take-homes that still cover the day; in the model's order."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from tests.factories import PlanFactory
from visits.models import Visit
from visits.selectors import guard_doses

DAY = date(2026, 11, 30)


def _dose(plan, day: date, *, covered: date | None = None, start_hour: int | None = 9, **extra) -> Visit:  # noqa: ANN001
    start = None if start_hour is None else datetime(day.year, day.month, day.day, start_hour, tzinfo=UTC)
    return Visit.objects.create(
        patient=plan.patient, clinic=plan.patient.clinic, plan=plan, kind="dose", date=day, start=start,
        status=extra.pop("status", "completed"), covered_through=covered or day, **extra,
    )


@pytest.mark.django_db
def test_recent_doses_and_old_take_homes_still_covering_the_day_in_date_start_id_order():
    plan = PlanFactory(medication="methadone")
    other = PlanFactory(medication="buprenorphine", patient=plan.patient)
    old_cover = _dose(plan, DAY - timedelta(days=70), covered=DAY + timedelta(days=1))  # before the look-back, covers
    _dose(plan, DAY - timedelta(days=70))  # before the look-back, covering nothing now: left out
    late = _dose(plan, DAY - timedelta(days=3), start_hour=None)  # no start: after the same day's timed dose
    early = _dose(other, DAY - timedelta(days=3), start_hour=8)
    _dose(plan, DAY - timedelta(days=2), status="missed")  # not a dose given
    doses = guard_doses([plan.patient_id], DAY, 62)[plan.patient_id]
    assert [d.visit_id for d in doses] == [old_cover.pk, early.pk, late.pk]
    assert [d.medication for d in doses] == ["methadone", "buprenorphine", "methadone"]


@pytest.mark.django_db
def test_patients_without_plans_have_no_doses():
    assert guard_doses([], DAY, 62) == {}
