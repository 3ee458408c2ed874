"""Random drug screens, the pure part (no ORM): whether today's visit is a screen, and whether a patient is behind.

42 CFR 8.12(f)(6) (2024): at least 8 random drug tests a year per patient in an opioid treatment program. A screen
must come by surprise: a patient who could tell from the schedule which visit is a screen could prepare for it.
So every visit carries a chance; the chance is the screens still due spread over the visit days left in the year,
which rises as the year runs out with screens due (and reaches 1 when as many screens are due as visit days are
left), and never falls below a floor once the target is met, so the ninth screen is as unguessable as the first.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

# A patient whose yearly screens are done is still screened now and then (about 1 visit day in 25).
SURPRISE_FLOOR = 0.04
YEAR_DAYS = 365


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


def screen_draw(*, screens_done: int, visit_days_left: int, target: int, rng: random.Random) -> ScreenDraw:
    """Draw whether today's visit is a screen. The caller passes `random.SystemRandom()` in production (an
    unguessable draw) and a seeded `random.Random` in tests."""
    chance = screen_chance(screens_done=screens_done, visit_days_left=visit_days_left, target=target)
    return ScreenDraw(screen=rng.random() < chance, chance=chance)


def screens_expected(*, days_in_program: int, target: int) -> float:
    """Screens a patient should have had in the last 365 days: the yearly target pro rata for a patient in the
    program less than a year (day 1 is the first day of treatment)."""
    return target * min(max(days_in_program, 0), YEAR_DAYS) / YEAR_DAYS


def behind_pace(*, screens_done: int, days_in_program: int, target: int) -> bool:
    """Fewer screens in the last 365 days than target × days-in-program / 365 (capped at a year)."""
    return screens_done < screens_expected(days_in_program=days_in_program, target=target)
