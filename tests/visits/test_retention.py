"""Pure statistics of visits.retention: episodes, leaving, Kaplan–Meier with Greenwood log-log intervals, Wilson.

The textbook figures: Freireich's 6-MP leukaemia remission data (Gehan 1965), as in Kleinbaum & Klein,
"Survival Analysis" ch. 2 and R's `survfit(conf.type="log-log")`; Newcombe (1998) Table I for Wilson's interval.
"""

from __future__ import annotations

import math
import random
from datetime import date, timedelta

import pytest

from visits.retention import (
    Dose,
    Episode,
    days_without,
    episode_of,
    episodes,
    kaplan_meier,
    quarter_of,
    split_episodes,
    survival_at,
    wilson_interval,
)

TODAY = date(2026, 11, 2)
SIX_MP_TIMES = [6, 6, 6, 6, 7, 9, 10, 10, 11, 13, 16, 17, 19, 20, 22, 23, 25, 32, 32, 34, 35]
SIX_MP_EVENTS = [1, 1, 1, 0, 1, 0, 1, 0, 0, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0]
# time: (at risk, survival, Greenwood SE, log-log lower, log-log upper)
SIX_MP_TABLE = {
    6: (21, 0.857, 0.0764, 0.620, 0.952),
    7: (17, 0.807, 0.0869, 0.563, 0.923),
    10: (15, 0.753, 0.0963, 0.503, 0.889),
    13: (12, 0.690, 0.1068, 0.432, 0.849),
    16: (11, 0.627, 0.1141, 0.368, 0.805),
    22: (7, 0.538, 0.1282, 0.268, 0.747),
    23: (6, 0.448, 0.1346, 0.188, 0.680),
}


def daily(start: date, days: int) -> list[Dose]:
    return [Dose(start + timedelta(days=i), start + timedelta(days=i)) for i in range(days)]


def test_kaplan_meier_matches_the_textbook_6mp_table_with_log_log_intervals():
    steps = {s.time: s for s in kaplan_meier(SIX_MP_TIMES, [bool(e) for e in SIX_MP_EVENTS]) if s.events}
    assert sorted(steps) == sorted(SIX_MP_TABLE)
    for time, (at_risk, survival, se, lower, upper) in SIX_MP_TABLE.items():
        step = steps[time]
        assert step.at_risk == at_risk
        assert step.survival == pytest.approx(survival, abs=5e-4)
        assert step.std_err == pytest.approx(se, abs=5e-5)
        assert (step.lower, step.upper) == (pytest.approx(lower, abs=5e-4), pytest.approx(upper, abs=5e-4))


def test_kaplan_meier_counts_a_censoring_at_an_event_time_as_still_at_risk():
    # 4 subjects: an event and a censoring at 5, then an event at 8 among the 2 left.
    steps = kaplan_meier([5, 5, 8, 9], [True, False, True, False])
    assert [(s.time, s.at_risk, s.events, s.censored) for s in steps] == [(5, 4, 1, 1), (8, 2, 1, 0), (9, 1, 0, 1)]
    assert steps[0].survival == pytest.approx(0.75)
    assert steps[1].survival == pytest.approx(0.375)


def test_kaplan_meier_agrees_with_a_direct_product_limit_on_random_cohorts():
    rng = random.Random(17)
    for _ in range(50):
        n = rng.randint(1, 40)
        times = [rng.randint(0, 200) for _ in range(n)]
        events = [rng.random() < 0.6 for _ in range(n)]
        steps = kaplan_meier(times, events)
        survival, var = 1.0, 0.0
        for t in sorted(set(times)):
            at_risk = sum(1 for x in times if x >= t)
            d = sum(1 for x, e in zip(times, events, strict=True) if x == t and e)
            if d:
                survival *= 1 - d / at_risk
                var += d / (at_risk * (at_risk - d)) if at_risk > d else math.inf
            step = next(s for s in steps if s.time == t)
            assert step.survival == pytest.approx(survival)
            assert 0.0 <= step.lower <= step.survival <= step.upper <= 1.0


def test_an_interval_with_no_events_yet_is_the_point_itself():
    (step,) = kaplan_meier([10, 10], [False, False])
    assert (step.survival, step.lower, step.upper) == (1.0, 1.0, 1.0)


def test_survival_at_a_day_nobody_reached_is_not_estimable_unless_everyone_had_left():
    steps = kaplan_meier([10, 20], [True, False])
    assert survival_at(steps, 90, 2).survival is None
    assert survival_at(steps, 15, 2).survival == pytest.approx(0.5)
    assert survival_at(steps, 15, 2).at_risk == 1
    assert survival_at(kaplan_meier([10, 20], [True, True]), 90, 2).survival == 0.0
    assert survival_at(steps, 5, 2).survival == 1.0


@pytest.mark.parametrize(
    ("successes", "n", "lower", "upper"),
    [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611), (1, 29, 0.0061, 0.1718)],
)
def test_wilson_interval_matches_newcombes_table(successes, n, lower, upper):
    low, high = wilson_interval(successes, n)
    assert (low, high) == (pytest.approx(lower, abs=5e-5), pytest.approx(upper, abs=5e-5))


def test_wilson_interval_of_nothing_is_none_and_of_all_reaches_one():
    assert wilson_interval(0, 0) is None
    assert wilson_interval(29, 29)[1] == 1.0
    with pytest.raises(ValueError):
        wilson_interval(5, 4)


def test_days_without_medication_start_after_the_take_home_cover():
    dose = Dose(date(2026, 1, 1), date(2026, 1, 7))
    assert days_without(dose, date(2026, 1, 8)) == 0
    assert days_without(dose, date(2026, 1, 10)) == 2


def test_a_new_episode_starts_only_after_the_readmission_gap_without_medication():
    first = Dose(date(2026, 1, 1), date(2026, 1, 1))
    # 89 days without medication (2 Jan .. 31 Mar): the same episode; 90 days: a new one.
    same = Dose(date(2026, 1, 1) + timedelta(days=90), date(2026, 4, 1))
    new = Dose(date(2026, 1, 1) + timedelta(days=91), date(2026, 4, 2))
    assert len(split_episodes([first, same], readmission_gap_days=90)) == 1
    assert len(split_episodes([new, first], readmission_gap_days=90)) == 2


def test_thirty_days_without_medication_is_leaving_at_the_last_dose_and_twenty_nine_is_not():
    start = date(2026, 1, 5)
    doses = daily(start, 10)
    back_after_29 = [*doses, Dose(doses[-1].day + timedelta(days=30), doses[-1].day + timedelta(days=30))]
    back_after_30 = [*doses, Dose(doses[-1].day + timedelta(days=31), doses[-1].day + timedelta(days=31))]
    still = episode_of(1, "methadone", back_after_29, back_after_29[-1].day)
    assert still.left_on is None
    left = episode_of(1, "methadone", back_after_30, back_after_30[-1].day)
    assert left.left_on == date(2026, 1, 14)
    assert left.duration_days == 9


def test_an_episode_whose_last_cover_is_within_thirty_days_of_today_is_censored_at_today():
    start = TODAY - timedelta(days=100)
    ep = episode_of(7, "methadone", daily(start, 72), TODAY)  # last dose 29 days ago: 28 days without
    assert (ep.left, ep.duration_days) == (False, 100)
    gone = episode_of(7, "methadone", daily(start, 70), TODAY)  # last dose 31 days ago: 30 days without
    assert (gone.left, gone.left_on, gone.duration_days) == (True, start + timedelta(days=69), 69)


def test_episodes_ignore_future_doses_and_name_their_quarter():
    doses = {(3, "buprenorphine"): [*daily(date(2026, 9, 30), 3), Dose(TODAY + timedelta(days=2), TODAY)]}
    (ep,) = episodes(doses, readmission_gap_days=90, today=TODAY)
    assert isinstance(ep, Episode)
    assert (ep.start, ep.doses, ep.cohort) == (date(2026, 9, 30), 3, "2026-Q3")
    assert quarter_of(date(2026, 10, 1)) == "2026-Q4"
