"""Issue #15: the FHIR care plan says alternate-day buprenorphine as it is (one double dose every 2 days)."""

from __future__ import annotations

from fhir.mapping import _repeat, pattern_words
from scheduler.models import Plan


def _plan(**fields) -> Plan:
    return Plan(medication="buprenorphine", attendance_weekdays=list(range(7)), **fields)


def test_an_alternate_day_plan_repeats_every_2_days_and_says_so():
    plan = _plan(interval_days=2)
    assert _repeat(plan)["period"] == 2
    assert "a double dose every 48 hours (alternate days)" in pattern_words(plan)


def test_a_daily_plan_repeats_every_day():
    plan = _plan()
    assert _repeat(plan)["period"] == 1
    assert "double dose" not in pattern_words(plan)
