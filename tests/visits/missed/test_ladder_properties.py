"""The pure ladder: days without medication and the steps they reach (no database)."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from scheduler.rules import Ladder
from visits import ladder

BASE = date(2026, 11, 1)
offsets = st.integers(min_value=0, max_value=60)
date_sets = st.sets(offsets.map(lambda n: BASE + timedelta(days=n)), max_size=30)


@st.composite
def ladders(draw) -> Ladder:
    steps = sorted(draw(st.sets(st.integers(min_value=1, max_value=20), min_size=5, max_size=5)))
    return Ladder(*steps)


def test_it_counts_every_date_since_the_last_covered_one():
    assert ladder.days_without_medication(covered=[], exempt=set(), last_covered=BASE, through=BASE + timedelta(3)) == 3


def test_it_counts_nothing_when_the_last_covered_date_is_not_past():
    assert ladder.days_without_medication(covered=[], exempt=set(), last_covered=BASE, through=BASE) == 0
    assert ladder.days_without_medication(covered=[], exempt=set(), last_covered=BASE, through=BASE - timedelta(1)) == 0


def test_a_take_home_interval_moves_the_start_of_the_streak():
    covered = [(BASE + timedelta(1), BASE + timedelta(3))]
    assert (
        ladder.days_without_medication(covered=covered, exempt=set(), last_covered=BASE, through=BASE + timedelta(5))
        == 2
    )


def test_the_default_ladder_reaches_hold_at_three_review_at_four_and_reinduction_at_five():
    default = Ladder()
    assert ladder.escalation_kinds(default, "methadone", 1) == ["checkin_text"]
    assert ladder.escalation_kinds(default, "methadone", 2) == ["checkin_text", "outreach"]
    assert ladder.escalation_kinds(default, "methadone", 3)[-1] == "hold"
    assert ladder.escalation_kinds(default, "buprenorphine", 4)[-1] == "clinician_review"
    assert ladder.escalation_kinds(default, "methadone", 9)[-1] == "reinduction"


def test_diamorphine_sessions_only_reach_outreach_and_injections_nothing():
    assert ladder.escalation_kinds(Ladder(), "diamorphine", 7) == ["checkin_text", "outreach"]
    assert ladder.escalation_kinds(Ladder(), "naltrexone_xr", 7) == []


def test_the_reason_names_the_rule_and_its_number():
    reason = ladder.escalation_reason("hold", 3, Ladder())
    assert reason.startswith("3 consecutive days without medication (hold at 3: no dose until a clinician reviews")
    assert "take-homes suspended" in reason


def test_a_missed_injection_is_overdue_inside_its_window_and_needs_a_clinician_past_it():
    due, latest = date(2026, 11, 2), date(2026, 11, 9)
    assert ladder.injection_kinds(visit_date=due, latest=latest, today=latest) == ["overdue_injection"]
    assert ladder.injection_kinds(visit_date=due, latest=latest, today=latest + timedelta(1)) == [
        "overdue_injection",
        "clinician_review",
    ]


@given(covered=date_sets, exempt=date_sets, last=offsets, through=offsets)
def test_the_count_never_exceeds_the_dates_in_range(covered, exempt, last, through):
    last_covered, end = BASE + timedelta(last), BASE + timedelta(through)
    n = ladder.days_without_medication(covered=covered, exempt=exempt, last_covered=last_covered, through=end)
    assert 0 <= n <= max(0, (end - last_covered).days)


@given(covered=date_sets, exempt=date_sets, last=offsets, through=offsets)
def test_the_count_is_the_uncovered_non_exempt_dates_after_the_last_covered_one(covered, exempt, last, through):
    last_covered, end = BASE + timedelta(last), BASE + timedelta(through)
    start = max([last_covered, *[d for d in covered if d <= end]])
    expected = sum(1 for i in range(1, (end - start).days + 1) if start + timedelta(i) not in exempt)
    assert ladder.days_without_medication(covered=covered, exempt=exempt, last_covered=last_covered, through=end) == (
        max(0, expected)
    )


@given(covered=date_sets, exempt=date_sets, extra=date_sets, last=offsets, through=offsets)
def test_more_exempt_or_covered_dates_never_raise_the_count(covered, exempt, extra, last, through):
    last_covered, end = BASE + timedelta(last), BASE + timedelta(through)
    base = ladder.days_without_medication(covered=covered, exempt=exempt, last_covered=last_covered, through=end)
    more_exempt = ladder.days_without_medication(
        covered=covered, exempt=exempt | extra, last_covered=last_covered, through=end
    )
    more_covered = ladder.days_without_medication(
        covered=covered | extra, exempt=exempt, last_covered=last_covered, through=end
    )
    assert more_exempt <= base
    assert more_covered <= base


@given(exempt=date_sets, last=offsets, through=offsets)
def test_exempt_dates_outside_the_streak_never_change_the_count(exempt, last, through):
    last_covered, end = BASE + timedelta(last), BASE + timedelta(through)
    inside = {d for d in exempt if last_covered < d <= end}
    assert ladder.days_without_medication(covered=[], exempt=exempt, last_covered=last_covered, through=end) == (
        ladder.days_without_medication(covered=[], exempt=inside, last_covered=last_covered, through=end)
    )


@given(ladder_=ladders(), n=st.integers(min_value=0, max_value=30))
def test_steps_reached_grow_with_the_count_and_keep_ladder_order(ladder_, n):
    now = ladder.escalation_kinds(ladder_, "methadone", n)
    later = ladder.escalation_kinds(ladder_, "methadone", n + 1)
    assert now == later[: len(now)]
    assert all(n >= getattr(ladder_, step) for step in now)
    assert all(n < getattr(ladder_, step) for step in set(ladder.ESCALATION_STEPS) - set(now) - {"checkin_text"})
