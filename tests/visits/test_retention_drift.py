"""The drift list: kept visits falling by the rule set's drift_drop_ratio (boundaries), a first missed day after a
28-day streak, and the rule set's optional field."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from notifications.analytics import drift_of
from scheduler.rules import PRESETS, Rules, preset_rules

TODAY = date(2026, 11, 16)
RECENT_FROM = TODAY - timedelta(days=27)
BEFORE_FROM = RECENT_FROM - timedelta(days=56)


def kept(first: date, n: int, every: int = 1) -> list[tuple[date, str]]:
    return [(first + timedelta(days=i * every), "completed") for i in range(n)]


@pytest.mark.parametrize(
    ("recent", "before", "drifting"),
    [
        (15, 40, True),  # 3.75 a week against 5: down exactly 25% -> on the list
        (16, 40, False),  # down 20%
        (0, 8, True),
        (10, 0, False),  # nothing before: no fall to measure
    ],
)
def test_a_fall_of_exactly_the_ratio_counts_and_less_does_not(recent, before, drifting):
    visits = kept(BEFORE_FROM, before) + kept(RECENT_FROM, recent)
    result = drift_of(1, visits, today=TODAY, drop_ratio=0.25)
    assert (result is not None) == drifting
    if drifting:
        assert (result.recent, result.before, result.falling) == (recent, before, True)


def test_the_threshold_comes_from_the_rule_set():
    visits = kept(BEFORE_FROM, 40) + kept(RECENT_FROM, 15)
    assert drift_of(1, visits, today=TODAY, drop_ratio=0.3) is None
    assert drift_of(1, visits, today=TODAY, drop_ratio=0.25).drop == pytest.approx(0.25)


def test_a_first_missed_day_after_28_attended_days_is_drift_and_after_27_is_not():
    missed_on = TODAY - timedelta(days=2)
    for streak, expected in ((28, missed_on), (27, None)):
        visits = [*kept(missed_on - timedelta(days=streak), streak), (missed_on, "missed")]
        visits += kept(missed_on + timedelta(days=1), 2)
        result = drift_of(1, visits, today=TODAY, drop_ratio=0.9)
        assert (result.missed_on if result else None) == expected
        if result:
            assert result.streak == 28


def test_a_missed_day_before_the_last_four_weeks_is_not_news():
    missed_on = RECENT_FROM - timedelta(days=1)
    visits = [*kept(missed_on - timedelta(days=30), 30), (missed_on, "missed"), *kept(RECENT_FROM, 28)]
    assert drift_of(1, visits, today=TODAY, drop_ratio=0.9) is None


def test_drift_drop_ratio_defaults_to_a_quarter_when_a_stored_rule_set_lacks_it():
    stored = {k: v for k, v in PRESETS["US federal 2024"].items() if k != "drift_drop_ratio"}
    assert Rules.from_dict(stored).drift_drop_ratio == 0.25
    assert preset_rules("US federal 2001").drift_drop_ratio == 0.25
    assert Rules.from_dict({**stored, "drift_drop_ratio": 0.4}).to_dict()["drift_drop_ratio"] == 0.4


@pytest.mark.parametrize("bad", [0, 1, 1.5, True, "0.3", None])
def test_drift_drop_ratio_must_be_a_share_between_0_and_1(bad):
    with pytest.raises(ValueError, match="drift_drop_ratio"):
        Rules.from_dict({**PRESETS["US federal 2024"], "drift_drop_ratio": bad})
