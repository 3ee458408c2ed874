"""Random drug screens, the pure part (no ORM): whether today's visit is a screen, and whether a patient is behind.

42 CFR 8.12(f)(6) (2024): at least 8 random drug tests a year per patient in an opioid treatment program. A screen
must come by surprise: a patient who could tell from the schedule which visit is a screen could prepare for it.
So every visit carries a chance; the chance is the screens still due spread over the visit days left in the year,
which rises as the year runs out with screens due (and reaches 1 when as many screens are due as visit days are
left), and never falls below a floor once the target is met, so the ninth screen is as unguessable as the first.
Drawing k of n visit days with chance (k left)/(n left) picks a uniformly random set of k days: no weekday or window
is favoured beyond how often the patient comes. The draw aims to be done before the last eighth of each period
(the catch-up days, 45 of a year): a patient still due then, because they missed visits, is screened at each visit
until the target is met, so missed visits never leave a year short.

Early treatment (issue #15, rule-set `drug_screens_first_90_days`): the first 90 days are split into that many
equal periods with one screen due in each (3 = monthly); the chance is the larger of the year's and the period's.

Call-backs [PRACTICE, DOMAIN §1]: `callback_chance` spreads a yearly rate over the draws of a year (one draw per
texting hour of each day the patient holds take-homes).
"""

from __future__ import annotations

import random
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

# A patient whose yearly screens are done is still screened now and then (about 1 visit day in 25).
SURPRISE_FLOOR = 0.04
YEAR_DAYS = 365
EARLY_DAYS = 90
# The last eighth of a period (calendar days) is for catching up screens a missed visit left due.
CATCH_UP_SHARE = 8


@dataclass(frozen=True)
class ScreenDraw:
    screen: bool
    chance: float


def screen_chance(*, screens_done: int, visit_days_left: int, target: int) -> float:
    """The chance that today's visit is a screen. `visit_days_left` counts today."""
    due = max(0, target - screens_done)
    if due == 0:
        return SURPRISE_FLOOR
    if visit_days_left <= due:
        return 1.0
    return max(SURPRISE_FLOOR, due / visit_days_left)


@dataclass(frozen=True)
class Goal:
    """Screens still wanted in a period: `done` of `target` so far, `visit_days_left` (today included) to go."""

    done: int
    target: int
    visit_days_left: int


def screen_draw(
    *, screens_done: int, visit_days_left: int, target: int, rng: random.Random, early: Goal | None = None
) -> ScreenDraw:
    """Draw whether today's visit is a screen. The caller passes `random.SystemRandom()` in production (an
    unguessable draw) and a seeded `random.Random` in tests. `early`: the early-treatment period's goal."""
    chance = screen_chance(screens_done=screens_done, visit_days_left=visit_days_left, target=target)
    if early is not None:
        chance = max(
            chance,
            screen_chance(screens_done=early.done, visit_days_left=max(early.visit_days_left, 1), target=early.target),
        )
    return ScreenDraw(screen=rng.random() < chance, chance=chance)


def year_end(start: date, today: date) -> date:
    """The first day after the patient's current program year (years counted from day 1)."""
    years = max((today - start).days, 0) // YEAR_DAYS + 1
    return start + timedelta(days=YEAR_DAYS * years)


def early_period(start: date, today: date, screens: int) -> tuple[date, date] | None:
    """[first, after) of the early-treatment period `today` falls in, or None (off, or past day 90): the first
    90 days split evenly into `screens` periods, one screen due in each."""
    offset = (today - start).days
    if screens <= 0 or not 0 <= offset < EARLY_DAYS:
        return None
    i = offset * screens // EARLY_DAYS
    return start + timedelta(days=EARLY_DAYS * i // screens), start + timedelta(days=EARLY_DAYS * (i + 1) // screens)


def draw_for_day(
    *,
    today: date,
    program_start: date,
    visit_days: Sequence[date],
    screened: Iterable[date],
    target: int,
    early_screens: int,
    rng: random.Random,
    known_until: date | None = None,
) -> ScreenDraw:
    """The day's draw from plain dates: `visit_days` the patient's distinct open visit days (ascending; today
    counts whether listed or not), `screened` the days they were screened before today (a sample found invalid
    left out). The ledger (visits.screening.drug_screen_draw) and the simulated year both call this.
    `known_until`: the last day the calendar is generated (the rolling horizon); visit days after it are estimated
    at the rate the patient comes until then, so a year's screens are spread over the year, not the horizon."""
    past = [d for d in screened if d < today]
    here = 0 if _between(visit_days, today, today + timedelta(days=1)) else 1  # today is a visit day

    def left_until(first: date, after: date) -> int:
        """Visit days left before the period's catch-up days (today counted); 1 once they have begun, so any
        screen still due is certain."""
        main_end = after - timedelta(days=(after - first).days // CATCH_UP_SHARE)
        if today >= main_end:
            return 1
        if known_until is None or main_end <= known_until + timedelta(days=1):
            return max(_between(visit_days, today, main_end) + here, 1)
        known = _between(visit_days, today, known_until + timedelta(days=1)) + here
        rate = known / ((known_until - today).days + 1)
        return max(known + round(rate * (main_end - known_until - timedelta(days=1)).days), 1)

    done = sum(1 for d in past if d > today - timedelta(days=YEAR_DAYS))
    end = year_end(program_start, today)
    year_days = left_until(end - timedelta(days=YEAR_DAYS), end)
    early = None
    period = early_period(program_start, today, early_screens)
    if period is not None:
        first, after = period
        early = Goal(done=sum(1 for d in past if first <= d), target=1, visit_days_left=left_until(first, after))
    return screen_draw(screens_done=done, visit_days_left=year_days, target=target, rng=rng, early=early)


def _between(days: Sequence[date], first: date, after: date) -> int:
    """How many of the ascending `days` lie in [first, after)."""
    return bisect_left(days, after) - bisect_left(days, first)


def callback_chance(*, per_year: int, draws_per_day: int) -> float:
    """The chance that one draw calls a take-home holder back: `per_year` spread over a year of draws."""
    if per_year <= 0 or draws_per_day <= 0:
        return 0.0
    return min(1.0, per_year / (YEAR_DAYS * draws_per_day))


def callback_draw(*, per_year: int, draws_per_day: int, rng: random.Random) -> bool:
    return rng.random() < callback_chance(per_year=per_year, draws_per_day=draws_per_day)


def weekday_spread(days: Sequence[date]) -> list[int]:
    """Screens per weekday (Monday first), for reports and the simulated year."""
    counts = [0] * 7
    for d in days:
        counts[d.weekday()] += 1
    return counts


def screens_expected(*, days_in_program: int, target: int) -> float:
    """Screens a patient should have had in the last 365 days: the yearly target pro rata for a patient in the
    program less than a year (day 1 is the first day of treatment)."""
    return target * min(max(days_in_program, 0), YEAR_DAYS) / YEAR_DAYS


def behind_pace(*, screens_done: int, days_in_program: int, target: int) -> bool:
    """Fewer screens in the last 365 days than target × days-in-program / 365 (capped at a year)."""
    return screens_done < screens_expected(days_in_program=days_in_program, target=target)
