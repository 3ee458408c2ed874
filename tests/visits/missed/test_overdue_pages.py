"""visits.missed._claim_overdue claims overdue visits in (end, id) pages (issue #16): every overdue visit once, across
page boundaries and ties on `end`, visits without an end by their clinic-local date, nothing not yet overdue."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from tests.factories import PatientFactory
from visits import missed
from visits.models import Visit

NOW = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)


@pytest.mark.django_db
def test_every_overdue_visit_once_across_pages_and_ties(monkeypatch):
    monkeypatch.setattr(missed, "OVERDUE_PAGE", 3)
    patient = PatientFactory()
    clinic = patient.clinic
    ended = NOW - timedelta(hours=3)

    def visit(end: datetime | None, day: date, status: str = "scheduled") -> int:
        start = None if end is None else end - timedelta(minutes=30)
        return Visit.objects.create(
            patient=patient, clinic=clinic, kind="counselling", date=day, start=start, end=end, status=status
        ).pk

    tied = [visit(ended, date(2026, 11, 30)) for _ in range(5)]  # five with the same end: pages of 3 split them
    older = [visit(ended - timedelta(days=d), date(2026, 11, 30) - timedelta(days=d)) for d in (1, 2)]
    undated = visit(None, date(2026, 11, 29))  # booked without a time, yesterday: over
    visit(None, date(2026, 11, 30))  # without a time, today: not over yet
    visit(NOW + timedelta(hours=1), date(2026, 11, 30))  # ends later
    visit(NOW - timedelta(minutes=5), date(2026, 11, 30))  # ended inside the grace period
    visit(ended, date(2026, 11, 30), status="completed")
    overdue = sorted([*tied, *older, undated])
    claimed = missed._claim_overdue(NOW, missed._clinic_days(NOW))
    assert [visit_id for visit_id, _, _ in claimed] == overdue
    assert {clinic_id for _, clinic_id, _ in claimed} == {clinic.pk}
    assert sorted(Visit.objects.filter(status="missed").values_list("id", flat=True)) == overdue
    assert missed._claim_overdue(NOW, missed._clinic_days(NOW)) == []  # compare-and-swap: claimed once
