"""Retention in treatment and the interval arithmetic of the manager reports: pure code, no ORM.

Definitions (one place, so the API, the CSV and the dashboard agree):
- A *dose* is a completed dose or injection visit; it *covers* its own day through its `covered_through` date
  (take-home doses), or for a long-acting injection through the day before the next one is due.
- *Days without medication* between two doses: the days after the first dose's cover and before the next dose.
- *Episodes*: a patient's doses of one medication, split where `readmission_gap_days` or more days pass without
  medication (the rule set's readmission gap: DOMAIN §3, "90+ days away restarts the clock").
- *Leaving treatment*: 30 or more days without medication (LEAVE_DAYS). The episode ends at its last dose
  before that gap; its time in treatment is (that dose - episode start) days. An episode with no such gap, whose
  last cover reaches within 30 days of today, is *censored* at today: still in treatment, time (today - start).
- Kaplan–Meier survival of "still in treatment", Greenwood's variance, and a 95% interval on the
  **log-log** scale (Kalbfleisch–Prentice; the default of R's `survfit(conf.type="log-log")` and of lifelines):
  the interval always stays inside [0, 1].
- Wilson score interval for a proportion (Wilson 1927; Newcombe 1998 method 3).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

LEAVE_DAYS = 30
Z95 = 1.959963984540054  # the 97.5th percentile of the standard normal


@dataclass(frozen=True)
class Dose:
    day: date
    covered_through: date  # >= day


@dataclass(frozen=True)
class Episode:
    patient_id: int
    medication: str
    start: date
    last_dose: date  # the episode's last dose (after a return within the readmission gap, still the same episode)
    doses: int
    left_on: date | None  # the last dose before 30+ days without medication; None while still in treatment
    duration_days: int  # to leaving (left_on - start) or to censoring (today - start)

    @property
    def left(self) -> bool:
        return self.left_on is not None

    @property
    def cohort(self) -> str:
        return quarter_of(self.start)


def quarter_of(day: date) -> str:
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def days_without(previous: Dose, following_day: date) -> int:
    """Days after `previous`'s cover and before `following_day` (0 when the cover reaches it)."""
    return max((following_day - previous.covered_through).days - 1, 0)


def split_episodes(doses: Iterable[Dose], *, readmission_gap_days: int) -> list[list[Dose]]:
    """Doses in date order, split where `readmission_gap_days` or more days pass without medication."""
    ordered = sorted(doses, key=lambda d: d.day)
    episodes: list[list[Dose]] = []
    for dose in ordered:
        if episodes and days_without(_cover_of(episodes[-1]), dose.day) < readmission_gap_days:
            episodes[-1].append(dose)
        else:
            episodes.append([dose])
    return episodes


def _cover_of(doses: Sequence[Dose]) -> Dose:
    # The furthest cover so far (a take-home supply may outlast a later same-day dose).
    last = max(doses, key=lambda d: d.covered_through)
    return Dose(doses[-1].day, max(last.covered_through, doses[-1].day))


def episode_of(patient_id: int, medication: str, doses: Sequence[Dose], today: date) -> Episode:
    """One episode: its leaving (the first 30+ days without medication, or 30+ days uncovered before today)."""
    start = doses[0].day
    left_on: date | None = None
    for i in range(1, len(doses)):
        if days_without(_cover_of(doses[:i]), doses[i].day) >= LEAVE_DAYS:
            left_on = doses[i - 1].day
            break
    if left_on is None and days_without(_cover_of(doses), today + timedelta(days=1)) >= LEAVE_DAYS:
        left_on = doses[-1].day
    duration = (left_on - start).days if left_on is not None else (today - start).days
    return Episode(patient_id, medication, start, doses[-1].day, len(doses), left_on, max(duration, 0))


def episodes(
    doses_by_patient: dict[tuple[int, str], list[Dose]], *, readmission_gap_days: int, today: date
) -> list[Episode]:
    """All episodes of treatment per (patient, medication); doses after `today` are ignored."""
    out = []
    for (patient_id, medication), doses in sorted(doses_by_patient.items()):
        past = [d for d in doses if d.day <= today]
        for chunk in split_episodes(past, readmission_gap_days=readmission_gap_days):
            out.append(episode_of(patient_id, medication, chunk, today))
    return sorted(out, key=lambda e: (e.start, e.patient_id, e.medication))


# --- Kaplan–Meier ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KMStep:
    time: int
    at_risk: int
    events: int
    censored: int
    survival: float
    std_err: float  # Greenwood standard error of the survival
    lower: float
    upper: float


def kaplan_meier(durations: Sequence[int], observed: Sequence[bool], *, z: float = Z95) -> list[KMStep]:
    """The product-limit estimate at each distinct time with an event or a censoring.

    At a time with both, the censored are counted at risk (censoring happens just after the events). The
    interval is Greenwood's variance carried to the log-log scale: with V = Σ d/(n(n-d)),
    S^exp(±z·√V / ln S) — see the module docstring. Where S is 1 (no events yet) or 0 the interval is [S, S].
    """
    if len(durations) != len(observed):
        raise ValueError("durations and observed must have the same length")
    times = sorted(set(durations))
    at_risk = len(durations)
    survival, greenwood = 1.0, 0.0
    steps = []
    for t in times:
        d = sum(1 for time, event in zip(durations, observed, strict=True) if time == t and event)
        c = sum(1 for time, event in zip(durations, observed, strict=True) if time == t and not event)
        if d:
            survival *= 1 - d / at_risk
            greenwood += d / (at_risk * (at_risk - d)) if at_risk > d else math.inf
        lower, upper = loglog_interval(survival, greenwood, z)
        se = survival * math.sqrt(greenwood) if math.isfinite(greenwood) else 0.0
        steps.append(KMStep(t, at_risk, d, c, survival, se, lower, upper))
        at_risk -= d + c
    return steps


def loglog_interval(survival: float, greenwood_sum: float, z: float = Z95) -> tuple[float, float]:
    if survival <= 0 or survival >= 1 or not math.isfinite(greenwood_sum):
        return survival, survival
    log_s = math.log(survival)
    theta = z * math.sqrt(greenwood_sum) / abs(log_s)
    # S^exp(+θ) is the lower end (a larger power of a number in (0,1) is smaller).
    return survival ** math.exp(theta), survival ** math.exp(-theta)


@dataclass(frozen=True)
class Retention:
    day: int
    survival: float | None  # None when nobody was followed that long (not estimable yet)
    lower: float | None
    upper: float | None
    at_risk: int


def survival_at(steps: Sequence[KMStep], day: int, n: int) -> Retention:
    """S(day): the last step at or before `day`; not estimable when no one was followed to `day`."""
    followed = [s for s in steps if s.time >= day]
    if not followed:
        if steps and steps[-1].survival == 0:
            return Retention(day, 0.0, 0.0, 0.0, 0)  # everyone had left before `day`
        return Retention(day, None, None, None, 0)
    at_risk = followed[0].at_risk
    before = [s for s in steps if s.time <= day]
    if not before:
        return Retention(day, 1.0, 1.0, 1.0, at_risk if at_risk else n)
    last = before[-1]
    return Retention(day, last.survival, last.lower, last.upper, at_risk)


def retention_curve(eps: Sequence[Episode]) -> list[KMStep]:
    return kaplan_meier([e.duration_days for e in eps], [e.left for e in eps])


# --- proportions -----------------------------------------------------------------------------------


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """Wilson score interval for successes/n; None when n is 0."""
    if n <= 0:
        return None
    if not 0 <= successes <= n:
        raise ValueError("successes must lie between 0 and n")
    p = successes / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(centre - half, 0.0), min(centre + half, 1.0)
