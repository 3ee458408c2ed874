"""Kaplan–Meier survival and its 95% interval checked against an independent implementation, lifelines (issue #17).

lifelines' KaplanMeierFitter uses the same definitions as visits.retention: the product-limit estimate, Greenwood's
variance and the "exponential Greenwood" (log-log) interval. Random cohorts (hypothesis) with ties, censorings at
event times, all-censored and all-event groups; every time of the estimate is compared, and survival_at (the 90- and
180-day figures of the reports) against lifelines' step function.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from visits.retention import kaplan_meier, survival_at

lifelines = pytest.importorskip("lifelines")

cohorts = st.lists(
    st.tuples(st.integers(min_value=0, max_value=400), st.booleans()),
    min_size=1,
    max_size=120,
)


def _fit(durations: list[int], observed: list[bool]):
    kmf = lifelines.KaplanMeierFitter(alpha=0.05)
    kmf.fit(durations, event_observed=observed)
    return kmf


def _close(ours: float, theirs: float) -> bool:
    if math.isnan(theirs):
        return False
    return math.isclose(ours, theirs, rel_tol=1e-9, abs_tol=1e-9)


@settings(max_examples=150, deadline=None)
@given(cohorts)
def test_survival_and_log_log_interval_match_lifelines_on_random_cohorts(cohort):
    durations = [d for d, _ in cohort]
    observed = [e for _, e in cohort]
    kmf = _fit(durations, observed)
    survival = kmf.survival_function_["KM_estimate"]
    ci = kmf.confidence_interval_
    lower_col, upper_col = ci.columns  # "KM_estimate_lower_0.95", "KM_estimate_upper_0.95"

    steps = kaplan_meier(durations, observed)
    assert [s.time for s in steps] == sorted(set(durations))
    for step in steps:
        assert _close(step.survival, float(survival.loc[step.time])), step
        if 0 < step.survival < 1:
            # lifelines leaves the interval NaN/degenerate where S is 0 or 1; in between both must agree.
            assert _close(step.lower, float(ci.loc[step.time, lower_col])), step
            assert _close(step.upper, float(ci.loc[step.time, upper_col])), step
        table = kmf.event_table.loc[step.time]
        assert step.at_risk == int(table["at_risk"])
        assert step.events == int(table["observed"])
        assert step.censored == int(table["censored"])


@settings(max_examples=100, deadline=None)
@given(cohorts, st.sampled_from([90, 180]))
def test_retention_at_90_and_180_days_matches_lifelines_step_function(cohort, day):
    durations = [d for d, _ in cohort]
    observed = [e for _, e in cohort]
    steps = kaplan_meier(durations, observed)
    figure = survival_at(steps, day, len(durations))
    if figure.survival is None:
        # Nobody followed to `day` and not everyone has left: the reports say "not estimable yet" rather than
        # carrying the last value forward as lifelines' step function would.
        assert max(durations) < day
        return
    kmf = _fit(durations, observed)
    theirs = float(kmf.survival_function_at_times(day).iloc[0])
    assert math.isclose(figure.survival, theirs, rel_tol=1e-9, abs_tol=1e-9)


def test_the_comparison_can_fail():
    """A wrong estimate (censorings counted as events) must disagree with lifelines, or the check above is empty."""
    durations = [3, 5, 5, 8, 12, 12, 15]
    observed = [True, False, True, False, True, False, True]
    wrong = kaplan_meier(durations, [True] * len(durations))
    kmf = _fit(durations, observed)
    survival = kmf.survival_function_["KM_estimate"]
    assert any(not _close(s.survival, float(survival.loc[s.time])) for s in wrong)
