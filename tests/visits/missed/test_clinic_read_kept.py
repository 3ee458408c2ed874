"""Issue #16: the worker keeps its last clinic read (`_CLINIC_READ`), and a sweep's read sends the clinics' rows only
when their digest changed: a steady sweep receives one row. Every change the clinic days are built from is seen at
the next read: a clinic added, deleted, moved to another zone or rule set, a rule-set edit, a day recorded or its row
removed, and a new local date. Each case's days equal a read with nothing kept."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine

from scheduler.models import Clinic, RuleSet
from tests.factories import ClinicFactory, RuleSetFactory
from visits import missed
from visits.models import EscalationDay

NOW = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)  # 13:00 in New York, 10:00 in Los Angeles


@pytest.fixture
def reads(monkeypatch) -> list[int]:
    """How many times the days were built from rows (a read whose digest matched and whose dates held builds none)."""
    built: list[int] = []
    days_from = missed._days_from

    def counted(**kwargs):  # noqa: ANN003, ANN202
        built.append(len(kwargs["rows"]))
        return days_from(**kwargs)

    monkeypatch.setattr(missed, "_CLINIC_READ", {})
    monkeypatch.setattr(missed, "_days_from", counted)
    return built


def _cold(now: datetime = NOW) -> list[missed._ClinicDay]:
    """The days read with nothing kept (the kept read restored after)."""
    kept = dict(missed._CLINIC_READ)
    missed._CLINIC_READ.clear()
    try:
        return missed._clinic_days(now)
    finally:
        missed._CLINIC_READ.clear()
        missed._CLINIC_READ.update(kept)


def _seen(reads: list[int], now: datetime = NOW) -> list[missed._ClinicDay]:
    """A read after a change: the days are rebuilt and equal a read with nothing kept."""
    before = len(reads)
    days = missed._clinic_days(now)
    assert len(reads) == before + 1, "the change was not seen: the kept days were returned"
    assert days == _cold(now)
    return days


def _steady(reads: list[int], now: datetime = NOW) -> None:
    before = len(reads)
    assert missed._clinic_days(now) == _cold(now)
    assert len(reads) == before + 1  # the cold read's build only: the steady read built nothing


@pytest.fixture
def chain(clinic) -> list[Clinic]:
    return [clinic, *(ClinicFactory(name=f"Chain clinic {n}", timezone="America/Los_Angeles") for n in range(3))]


def test_a_steady_read_receives_one_row_and_returns_the_same_days(chain, reads):
    first = missed._clinic_days(NOW)
    assert reads == [len(Clinic.objects.all())]
    assert missed._clinic_days(NOW) == first
    assert reads == [len(first)]  # the rows did not come again, nor were the days built again
    _steady(reads)


def test_a_new_or_deleted_clinic_is_seen(chain, reads):
    missed._clinic_days(NOW)
    added = ClinicFactory(name="New clinic", timezone="America/Chicago")
    assert added.pk in {d.clinic_id for d in _seen(reads)}
    _steady(reads)
    added.delete()
    assert added.pk not in {d.clinic_id for d in _seen(reads)}
    _steady(reads)


def test_a_clinic_moved_to_another_zone_or_rule_set_is_seen(chain, reads):
    late = datetime(2026, 12, 1, 6, 30, tzinfo=UTC)  # 01:30 in New York, still Monday in Los Angeles
    missed._clinic_days(late)
    moved = chain[1]
    # A bulk update (no `updated` stamp of the clinic's own): the digest is of the columns themselves.
    Clinic.objects.filter(pk=moved.pk).update(timezone="America/New_York")
    (day,) = [d for d in _seen(reads, late) if d.clinic_id == moved.pk]
    assert day.today == date(2026, 12, 1)
    other = RuleSetFactory(rules={**moved.rule_set.rules, "missed_grace_minutes": 25})
    Clinic.objects.filter(pk=moved.pk).update(rule_set=other)
    (day,) = [d for d in _seen(reads, late) if d.clinic_id == moved.pk]
    assert (day.grace, day.rules_updated) == (25, other.updated)
    _steady(reads, late)


def test_a_rule_set_edit_is_seen(chain, reads):
    missed._clinic_days(NOW)
    rule_set = chain[2].rule_set
    with time_machine.travel(rule_set.updated + timedelta(minutes=1), tick=False):
        rule_set.rules = {**rule_set.rules, "missed_grace_minutes": 25}
        rule_set.save()
    (day,) = [d for d in _seen(reads) if d.clinic_id == chain[2].pk]
    assert (day.grace, day.rules_updated) == (25, RuleSet.objects.get(pk=rule_set.pk).updated)
    _steady(reads)


def test_a_day_recorded_or_its_row_removed_is_seen(chain, reads):
    assert not any(d.recorded for d in missed._clinic_days(NOW))
    clinic = chain[0]
    EscalationDay.objects.create(clinic=clinic, date=date(2026, 11, 30), rules_updated=clinic.rule_set.updated)
    assert [d.clinic_id for d in _seen(reads) if d.recorded] == [clinic.pk]
    _steady(reads)
    EscalationDay.objects.filter(clinic=clinic).delete()
    assert not any(d.recorded for d in _seen(reads))
    _steady(reads)


def test_a_new_local_day_is_seen(chain, reads):
    for c in chain:
        EscalationDay.objects.create(clinic=c, date=date(2026, 11, 30), rules_updated=c.rule_set.updated)
    assert all(d.recorded for d in missed._clinic_days(NOW))
    midnight_in_new_york = datetime(2026, 12, 1, 5, 30, tzinfo=UTC)
    days = missed._clinic_days(midnight_in_new_york)
    assert reads == [len(chain), len(chain)]  # built again, from the kept rows
    assert days == _cold(midnight_in_new_york)
    by_clinic = {d.clinic_id: d for d in days}
    assert by_clinic[chain[0].pk].today == date(2026, 12, 1) and not by_clinic[chain[0].pk].recorded
    assert by_clinic[chain[1].pk].today == date(2026, 11, 30) and by_clinic[chain[1].pk].recorded
