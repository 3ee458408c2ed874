"""Issue #15: Brixadi monthly is its own medication with its label's ±7-day window; Sublocade keeps its own rule
(at least 26 days apart, up to 2 weeks late). Both windows are rule-set data."""

from __future__ import annotations

from datetime import date, time, timedelta

from scheduler.engine import Calendar, Closure, Day, PlanSpec, Window, plan_days
from scheduler.rules import BRIXADI_MONTHLY, INJECTIONS, MEDICATIONS, PRESETS, Rules, preset_rules

RULES = preset_rules()
START = date(2026, 1, 5)  # a Monday
SUBLOCADE = "buprenorphine_xr_monthly"
MON_TO_SAT = (Window(5, frozenset(range(6)), time(9), time(12), INJECTIONS),)


def _calendar(*closed: date) -> Calendar:
    return Calendar("America/Chicago", MON_TO_SAT, tuple(Closure(d, reason="holiday") for d in closed))


def _injections(plan: PlanSpec, cal: Calendar, rules: Rules = RULES, days: int = 90) -> list[Day]:
    return [d for d in plan_days(plan, cal, rules, START, START + timedelta(days=days)) if d.expected == "visit"]


def test_brixadi_monthly_is_a_medication_and_an_injection_with_its_own_window():
    assert BRIXADI_MONTHLY in MEDICATIONS and BRIXADI_MONTHLY in INJECTIONS
    brixadi, sublocade = RULES.injection_windows[BRIXADI_MONTHLY], RULES.injection_windows[SUBLOCADE]
    assert (brixadi.interval_days, brixadi.early_days, brixadi.late_days) == (28, 7, 7)
    assert (sublocade.interval_days, sublocade.early_days, sublocade.late_days) == (28, 2, 14)


def test_brixadi_monthly_is_planned_every_28_days_allowed_7_days_either_side():
    second = _injections(PlanSpec(BRIXADI_MONTHLY, START), _calendar())[1]
    target = START + timedelta(28)
    assert (second.date, second.target_date) == (target, target)
    assert (second.earliest, second.latest) == (target - timedelta(7), target + timedelta(7))


def test_a_long_closure_moves_brixadi_inside_plus_minus_7_and_sublocade_only_later():
    target = START + timedelta(28)  # Monday 2 Feb
    # Closed from 4 days before the due date to 5 days after it.
    closed = [target + timedelta(i) for i in range(-4, 6)]
    brixadi = _injections(PlanSpec(BRIXADI_MONTHLY, START), _calendar(*closed))[1]
    assert brixadi.date == target - timedelta(5)  # nearest open day, 5 early: inside Brixadi's 7
    sublocade = _injections(PlanSpec(SUBLOCADE, START), _calendar(*closed))[1]
    # Sublocade may come 2 days early at most: it goes late, to Monday (Sunday has no window).
    assert sublocade.date == target + timedelta(7)
    assert sublocade.earliest == target - timedelta(2)


def test_closed_past_brixadis_window_leaves_it_unplanned_where_sublocade_still_fits():
    target = START + timedelta(28)
    closed = [target + timedelta(i) for i in range(-7, 11)]
    cal = _calendar(*closed)
    brixadi = plan_days(PlanSpec(BRIXADI_MONTHLY, START), cal, RULES, target, target)[0]
    assert brixadi.expected == "none" and "no open day in the allowed window" in brixadi.reason
    assert _injections(PlanSpec(SUBLOCADE, START), cal)[1].date == target + timedelta(11)


def test_a_rule_set_without_a_brixadi_monthly_window_loads_the_labels_and_a_clinic_may_set_its_own():
    stored = {**PRESETS["US federal 2024"]}
    stored["injection_windows"] = {k: v for k, v in stored["injection_windows"].items() if k != BRIXADI_MONTHLY}
    assert Rules.from_stored(stored).injection_windows[BRIXADI_MONTHLY] == RULES.injection_windows[BRIXADI_MONTHLY]
    assert Rules.from_dict(stored).injection_windows[BRIXADI_MONTHLY].late_days == 7
    own = {**stored["injection_windows"], BRIXADI_MONTHLY: {"interval_days": 28, "early_days": 5, "late_days": 5}}
    rules = Rules.from_dict({**stored, "injection_windows": own})
    second = _injections(PlanSpec(BRIXADI_MONTHLY, START), _calendar(), rules)[1]
    assert second.latest == second.target_date + timedelta(5)
