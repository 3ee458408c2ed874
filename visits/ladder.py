"""The missed-dose ladder: days without medication and the escalations they call for.

Pure code, no ORM (STYLE.md "Pure domain code"): plain dates and values in, plain values out.

DOMAIN.md §4: what matters clinically is *days without medication*: clinic-local dates since the last
date covered by a dose (an observed dose, or a take-home dose actually handed out for that date).
Closure days covered by take-homes, guest dosing and declared pauses are neither attended nor missed.
Default ladder (Australian national guidelines §3.5; NHS "3-day rule"), configurable per rule set:
1 day check-in text, 2 outreach, 3 hold, 4 clinician review, 5+ re-induction.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import date, timedelta

from scheduler.rules import INJECTIONS as INJECTIONS  # one list (the sweep reads ladder.INJECTIONS)
from scheduler.rules import LADDER_STEPS, Ladder

ORAL_DAILY = frozenset({"methadone", "buprenorphine"})
DIAMORPHINE = "diamorphine"

CHECKIN_TEXT = "checkin_text"
# Ladder steps that become Escalation rows; the check-in text is a decision handed to the task.
ESCALATION_STEPS: tuple[str, ...] = tuple(step for step in LADDER_STEPS if step != CHECKIN_TEXT)
# While one of these is open the patient may not be dosed (visits.services.visit_complete refuses).
BLOCKING_KINDS = frozenset({"hold", "clinician_review", "reinduction"})

_DAY = timedelta(days=1)

Interval = tuple[date, date]  # (first, last) covered dates, both inclusive


def cover_end(visit_date: date, covered_through: date | None, take_home_doses: int) -> date:
    """Last date covered by a completed visit: its own dose plus the take-homes handed out with it."""
    if covered_through is not None:
        return max(visit_date, covered_through)
    return visit_date + timedelta(days=take_home_doses)


def last_covered_date(covered: Iterable[Interval], through: date, default: date) -> date:
    """The latest covered date on or before `through` (intervals may overlap); `default` if none."""
    best = default
    for first, last in covered:
        if first <= through:
            best = max(best, min(last, through))
    return best


def days_without_medication(
    *,
    covered: Iterable[Interval] | Collection[date],
    exempt: Collection[date],
    last_covered: date,
    through: date,
) -> int:
    """Consecutive clinic-local dates without medication in (last_covered, through].

    `covered` is intervals (first, last) or plain dates; a covered date after `last_covered` moves the
    start of the streak forward (the streak counts only since the *last* covered date). Exempt dates
    (pauses, guest dosing, closures nobody could have dosed on, dates outside the plan) neither count
    nor break the streak.
    """
    intervals = [(c, c) if isinstance(c, date) else c for c in covered]
    start = last_covered_date(intervals, through, last_covered)
    if through <= start:
        return 0
    days = (through - start).days
    return days - sum(1 for d in set(exempt) if start < d <= through)


def ladder_steps_reached(ladder: Ladder, consecutive: int) -> list[str]:
    """Every step whose threshold `consecutive` has reached, in ladder order."""
    return [step for step in LADDER_STEPS if consecutive >= getattr(ladder, step)]


def escalation_kinds(ladder: Ladder, medication: str, consecutive: int) -> list[str]:
    """The ladder steps reached for an oral daily plan (including "checkin_text", which is no row).

    Diamorphine counts sessions, not days: `consecutive` missed sessions at or above the outreach
    step call for outreach (DOMAIN §4: "each session counts separately"); re-titration is decided
    on days without any session (see `retitration_needed`). Injections are decided by their window
    (see `injection_kinds`), so they get nothing here.
    """
    if consecutive <= 0:
        return []
    if medication in ORAL_DAILY:
        return ladder_steps_reached(ladder, consecutive)
    if medication == DIAMORPHINE:
        return [step for step in (CHECKIN_TEXT, "outreach") if consecutive >= getattr(ladder, step)]
    return []


def retitration_needed(days_without_session: int, retitration_days: int) -> bool:
    """DOMAIN §4: after an interruption of several days the diamorphine dose is re-titrated (overdose risk)."""
    return days_without_session >= retitration_days


def injection_kinds(*, visit_date: date, latest: date | None, today: date, restart: bool = False) -> list[str]:
    """A missed injection: overdue (staff outreach) inside its window, clinician action past it (DOMAIN §4).

    Issue #15, three distinct tiers (naltrexone XR practice, DOMAIN §1): inside the window (Vivitrol: up to 7 days
    late) the injection is given as planned, staff only rebook; past it a clinician review (the opioid-free check);
    past the rule set's `restart_after_days` (`restart`, see `restart_needed`) a re-start instead of the review."""
    kinds: list[str] = []
    if latest is None or visit_date <= latest:
        kinds.append("overdue_injection")
    if restart:
        kinds.append("restart")
    elif latest is not None and today > latest:
        kinds.append("clinician_review")
    return kinds


def restart_needed(*, target: date, today: date, restart_after_days: int | None) -> bool:
    """DOMAIN §1 (naltrexone XR practice): about 14+ days late is a re-start, not a late injection."""
    return restart_after_days is not None and (today - target).days >= restart_after_days


def restart_reason(*, target: date, today: date, restart_after_days: int) -> str:
    return (
        f"{(today - target).days} days past the injection due {target.isoformat()} (re-start at "
        f"{restart_after_days} days late: a clinician decides the opioid-free check and re-start before the "
        "next injection)"
    )


_STEP_TEXT = {
    "checkin_text": "check-in text at {n}: no change to dosing",
    "outreach": "outreach at {n}: staff call the patient",
    "hold": "hold at {n}: no dose until a clinician reviews; take-homes suspended; prescriber informed",
    "clinician_review": "clinician review at {n}: a clinician must see the patient before dosing",
    "reinduction": "re-induction at {n}: treatment must be re-started from an induction dose",
}


def escalation_reason(kind: str, consecutive: int, ladder: Ladder) -> str:
    """The reason shown to staff, naming the rule: "3 consecutive days without medication (hold at 3: …)"."""
    step = _STEP_TEXT[kind].format(n=getattr(ladder, kind))
    days = "day" if consecutive == 1 else "days"
    return f"{consecutive} consecutive {days} without medication ({step})"


def session_reason(missed_sessions: int, ladder: Ladder) -> str:
    sessions = "session" if missed_sessions == 1 else "sessions"
    return (
        f"{missed_sessions} consecutive missed supervised {sessions} "
        f"(outreach at {ladder.outreach} sessions: staff call the patient)"
    )


def retitration_reason(days: int, retitration_days: int) -> str:
    return (
        f"{days} days without a supervised session (re-titration at {retitration_days} days: "
        "re-titrate the dose before the next session, overdose risk)"
    )


def injection_reason(
    kind: str,
    *,
    target: date,
    latest: date | None,
    today: date,
    medication: str = "",
    restart_after_days: int | None = None,
) -> str:
    window = f"due {target.isoformat()}" + (f", allowed until {latest.isoformat()}" if latest else "")
    if kind == "overdue_injection":
        return f"missed injection inside its allowed window ({window}): staff outreach to rebook, given as planned"
    days_late = (today - target).days
    restart = f"; re-start from {restart_after_days} days late" if restart_after_days is not None else ""
    if medication == "naltrexone_xr":
        # An antagonist given to someone using opioids precipitates withdrawal: a clinician checks first.
        return (
            f"past the allowed window: opioid-free check by a clinician before the injection "
            f"({window}; {days_late} days late{restart})"
        )
    return f"past the allowed window: a clinician reviews before the next injection is booked ({window}; " + (
        f"{days_late} days late{restart})"
    )


def dates_between(first: date, last: date) -> list[date]:
    """Every date in [first, last] (empty if last < first)."""
    return [first + _DAY * i for i in range((last - first).days + 1)]
