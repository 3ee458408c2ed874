"""The dosing guard: whether a dose or injection may be booked, checked in or given now.

Pure code, no ORM (STYLE.md "Pure domain code"): `check` takes plain values — the plan acted on, the
patient's completed doses across all their plans, their open escalations, the rule set, the instant —
and answers None (go ahead) or a Refusal whose text names the rule and its source, in words a nurse
understands. `visits.services` loads those values under a lock on the patient row and calls it for
every booking, reschedule, check-in and completion, whichever shell (API, pages, admin, commands)
asked. The rules are API.md "Additions in v1.1" and DOMAIN.md §1–§4; every number comes from the
clinic's rule set or the plan.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from scheduler.rules import INJECTIONS, Rules

_Date = date  # `date` is shadowed by the dataclass fields below

ORAL = frozenset({"methadone", "buprenorphine"})
SPLIT = frozenset({"methadone"})  # issue #14: may be split into two sessions a day (doses_per_day 2)
DIAMORPHINE = "diamorphine"
BOOK, CHECK_IN, COMPLETE = "book", "check_in", "complete"
# DOMAIN §4: from the third missed day no dose or injection is given until a clinician has acted.
BLOCKING_KINDS = frozenset({"hold", "clinician_review", "reinduction"})
# DOMAIN §4: after an interruption of several days the diamorphine dose must be re-titrated first.
RETITRATION = "retitration"
# DOMAIN §1 (naltrexone XR practice): about 14+ days late is a re-start, which a clinician decides.
RESTART = "restart"

MEDICATION_NAMES = {
    "methadone": "Methadone",
    "buprenorphine": "Buprenorphine",
    "diamorphine": "Diamorphine",
    "naltrexone_xr": "Naltrexone XR (Vivitrol)",
    "buprenorphine_xr_monthly": "Sublocade",
    "buprenorphine_xr_weekly": "Brixadi weekly",
    "buprenorphine_xr_monthly_brixadi": "Brixadi monthly",
}
KIND_NAMES = {
    "hold": "hold",
    "clinician_review": "clinician review",
    "reinduction": "re-induction",
    "retitration": "re-titration",
    "restart": "re-start",
}
# Where each injection minimum comes from (DOMAIN §1), for the refusal's text.
INJECTION_SOURCES = {
    "buprenorphine_xr_monthly": "label",
    "buprenorphine_xr_weekly": "label: weekly ±2 days",
    "buprenorphine_xr_monthly_brixadi": "label: monthly ±7 days",
    "naltrexone_xr": "every 4 weeks, label; early window per the rule set",
}


@dataclass(frozen=True)
class PlanFacts:
    id: int
    medication: str
    doses_per_day: int = 1
    min_interval_minutes: int = 0
    interval_days: int | None = None


@dataclass(frozen=True)
class DoseFacts:
    """A completed dose or injection visit of the patient, under any of their plans."""

    visit_id: int
    plan_id: int | None
    medication: str
    date: date
    completed_at: datetime | None = None
    covered_through: _Date | None = None
    take_home_doses: int = 0
    dose_mg: Decimal | None = None


@dataclass(frozen=True)
class OpenEscalation:
    id: int
    plan_id: int | None
    medication: str | None
    kind: str
    reason: str
    created: datetime


@dataclass(frozen=True)
class Attempt:
    step: str  # BOOK (booking and rescheduling), CHECK_IN or COMPLETE
    plan: PlanFacts
    date: date  # the visit's clinic-local date
    at: datetime  # the instant: now for a completion
    visit_id: int | None = None
    take_home_doses: int = 0
    take_home_reason: str = ""
    may_exceed_calendar: bool = False  # a clinician or admin
    expected_take_homes: int | None = None  # what the plan's calendar expects at this visit
    dose_mg: Decimal | None = None  # the amount to give now (issue #14)
    dose_reason: str = ""  # a clinician's documented reason (methadone first-day limits)
    treatment_day: int | None = None  # of the visit, re-admission counted
    first_dose_of_plan: bool = False  # no completed dose under this plan yet (an induction)
    cows_total: int | None = None  # the highest COWS recorded for the patient on the visit's date


@dataclass(frozen=True)
class Refusal:
    rule: str
    message: str
    status_code: int = 409
    field: str | None = None


def check(
    attempt: Attempt,
    *,
    doses: Iterable[DoseFacts],
    escalations: Iterable[OpenEscalation],
    rules: Rules,
    tz: str,
) -> Refusal | None:
    """None if the attempt may go ahead, else the first rule it breaks."""
    done = [d for d in doses if d.visit_id != attempt.visit_id]
    open_escalations = list(escalations)
    rules_in_order = (
        _on_hold, _covered, _already_dosed, _injection_too_soon, _opioid_free, _session_too_soon, _take_homes,
        _amounts, _induction,
    )
    for rule in rules_in_order:
        refusal = rule(attempt, done, open_escalations, rules, tz)
        if refusal is not None:
            if rule in ABOUT_THE_AMOUNT and refusal.field is None:
                # A page shows these beside the amount given (StateConflict.field), never by reading the words.
                refusal = replace(refusal, field="dose_mg")
            return refusal
    return None


# --- wording ---------------------------------------------------------------------------------------------


def day_text(d: date) -> str:
    """"Mon 4 Jan" (one date format for every refusal)."""
    return f"{d:%a} {d.day} {d:%b}"


def _local(at: datetime, tz: str) -> datetime:
    return at.astimezone(ZoneInfo(tz))


def _ago(days: int) -> str:
    return "today" if days == 0 else "yesterday" if days == 1 else f"{days} days ago"


def _minutes(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 120:
        return "1 minute" if minutes == 1 else f"{minutes} minutes"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def medication_name(medication: str) -> str:
    return MEDICATION_NAMES.get(medication, medication)


# --- the rules -----------------------------------------------------------------------------------------


def _on_hold(
    attempt: Attempt, done: Sequence[DoseFacts], escalations: Sequence[OpenEscalation], rules: Rules, tz: str
) -> Refusal | None:
    """API.md v1.1: an open hold, clinician review or re-induction on any plan blocks every dose of the patient;
    re-titration blocks diamorphine; a re-start blocks that injection. Booking and check-in stay possible:
    the patient has to come in to be seen."""
    if attempt.step != COMPLETE:
        return None
    medication = attempt.plan.medication
    for e in sorted(escalations, key=lambda e: (e.created, e.id)):
        blocks = (
            e.kind in BLOCKING_KINDS
            or (e.kind == RETITRATION and medication == DIAMORPHINE)
            or (e.kind == RESTART and e.medication == medication)
        )
        if not blocks:
            continue
        since = day_text(_local(e.created, tz).date())
        what = "dose or injection" if e.kind in BLOCKING_KINDS else f"{medication_name(medication)} dose"
        return Refusal(
            f"open {e.kind}",
            f"plan on hold: {KIND_NAMES.get(e.kind, e.kind)} since {since} — {e.reason}. No {what} for this "
            f"patient until a clinician resolves it (DOMAIN §4; escalation #{e.id}).",
        )
    return None


def _covered(
    attempt: Attempt, done: Sequence[DoseFacts], escalations: Sequence[OpenEscalation], rules: Rules, tz: str
) -> Refusal | None:
    """API.md v1.1: no observed dose on a date already covered by take-homes handed out earlier."""
    medication = attempt.plan.medication
    if medication not in ORAL:
        return None
    for d in done:
        if d.medication == medication and d.covered_through is not None and d.date < attempt.date <= d.covered_through:
            if d.take_home_doses == 0:
                # Issue #15: alternate-day buprenorphine's double dose covers the day after it, with no bottle.
                return Refusal(
                    "covered by take-homes",
                    f"{medication_name(medication)}: {day_text(attempt.date)} is covered by the double dose given on "
                    f"{day_text(d.date)} (alternate-day dosing). No observed dose on a covered date; never "
                    "double-dose to catch up (DOMAIN §1, §4).",
                )
            return Refusal(
                "covered by take-homes",
                f"{medication_name(medication)}: {day_text(attempt.date)} is covered by take-homes until "
                f"{day_text(d.covered_through)} ({d.take_home_doses} handed out on {day_text(d.date)}). "
                "One dose a day: no observed dose on a covered date (DOMAIN §1, §4).",
            )
    return None


def _already_dosed(
    attempt: Attempt, done: Sequence[DoseFacts], escalations: Sequence[OpenEscalation], rules: Rules, tz: str
) -> Refusal | None:
    """API.md v1.1: one observed dose per medication and clinic-local date across plans; diamorphine at most
    the plan's sessions a day across plans."""
    medication = attempt.plan.medication
    same_day = [d for d in done if d.medication == medication and d.date == attempt.date]
    if medication == DIAMORPHINE:
        if attempt.step == COMPLETE and len(same_day) >= attempt.plan.doses_per_day:
            return Refusal(
                "sessions per day",
                f"Diamorphine: {len(same_day)} of {attempt.plan.doses_per_day} supervised sessions already given "
                f"on {day_text(attempt.date)} (the plan's sessions a day, across all plans).",
            )
        return None
    if medication in SPLIT and attempt.plan.doses_per_day > 1:
        # Issue #14: a methadone split dose is two sessions a day (their amounts sum in _amounts).
        if len(same_day) < attempt.plan.doses_per_day:
            return None
        return Refusal(
            "split-dose sessions per day",
            f"{medication_name(medication)}: {len(same_day)} of {attempt.plan.doses_per_day} split-dose sessions "
            f"already given on {day_text(attempt.date)}; never double-dose to catch up (DOMAIN §4).",
        )
    if not same_day:
        return None
    given = same_day[0]
    noun = "injection" if medication in INJECTIONS else "observed dose"
    return Refusal(
        "one dose a day",
        f"{medication_name(medication)}: already given on {day_text(attempt.date)} (visit #{given.visit_id}). "
        f"One {noun} per medication per day across all plans; never double-dose to catch up (DOMAIN §4).",
    )


def injection_minimum_days(rules: Rules, medication: str) -> int | None:
    """The fewest days between two injections of `medication`: the rule set's interval less its early window
    (Sublocade label: at least 26 days = 28 − 2)."""
    window = rules.injection_windows.get(medication)
    if window is None:
        return None
    return window.interval_days - window.early_days


def _injection_too_soon(
    attempt: Attempt, done: Sequence[DoseFacts], escalations: Sequence[OpenEscalation], rules: Rules, tz: str
) -> Refusal | None:
    """API.md v1.1: an injection no earlier than its minimum after the last completed injection."""
    medication = attempt.plan.medication
    minimum = injection_minimum_days(rules, medication) if medication in INJECTIONS else None
    if minimum is None:
        return None
    earlier = [d for d in done if d.medication == medication and d.date < attempt.date]
    if not earlier:
        return None
    last = max(earlier, key=lambda d: d.date)
    days = (attempt.date - last.date).days
    if days >= minimum:
        return None
    source = INJECTION_SOURCES.get(medication, "rule set")
    return Refusal(
        "injection minimum",
        f"{medication_name(medication)}: at least {minimum} days between injections ({source}); last injection "
        f"{day_text(last.date)}, {_ago(days)}; next from {day_text(last.date + timedelta(days=minimum))}.",
    )


def session_interval_minutes(rules: Rules, plan: PlanFacts) -> int:
    """The plan's interval, never below the rule set's floor (Diaphin label: at least 30 minutes)."""
    return max(plan.min_interval_minutes, rules.diamorphine_min_interval_minutes)


def _session_too_soon(
    attempt: Attempt, done: Sequence[DoseFacts], escalations: Sequence[OpenEscalation], rules: Rules, tz: str
) -> Refusal | None:
    """API.md v1.1: diamorphine sessions at least the interval apart in elapsed time, across midnight too."""
    if attempt.step != COMPLETE or attempt.plan.medication != DIAMORPHINE:
        return None
    interval = timedelta(minutes=session_interval_minutes(rules, attempt.plan))
    given = [d.completed_at for d in done if d.medication == DIAMORPHINE and d.completed_at is not None]
    recent = [at for at in given if at <= attempt.at and attempt.at - at < interval]
    if not recent:
        return None
    last = max(recent)
    return Refusal(
        "session interval",
        f"Diamorphine: at least {_minutes(interval)} between sessions (the plan's interval; rule-set floor "
        f"{rules.diamorphine_min_interval_minutes} minutes, Diaphin label); last session at "
        f"{_local(last, tz):%H:%M} on {day_text(_local(last, tz).date())}, {_minutes(attempt.at - last)} ago; "
        f"next from {_local(last + interval, tz):%H:%M}.",
    )


def _take_homes(
    attempt: Attempt, done: Sequence[DoseFacts], escalations: Sequence[OpenEscalation], rules: Rules, tz: str
) -> Refusal | None:
    """API.md v1.1: take-homes never above what the plan's calendar expects for this visit, unless a clinician
    or admin gives a reason (the rule set's limit for the treatment day is checked in every case)."""
    if attempt.step != COMPLETE or attempt.take_home_doses <= 0 or attempt.expected_take_homes is None:
        return None
    expected = attempt.expected_take_homes
    if attempt.take_home_doses <= expected:
        return None
    if attempt.may_exceed_calendar and attempt.take_home_reason.strip():
        return None
    plural = "dose" if expected == 1 else "doses"
    who = (
        "give a take_home_reason to hand out more"
        if attempt.may_exceed_calendar
        else "only a clinician can hand out more, with a reason"
    )
    return Refusal(
        "take-homes above the calendar",
        f"{medication_name(attempt.plan.medication)}: the plan's calendar expects {expected} take-home {plural} at "
        f"this visit on {day_text(attempt.date)}, not {attempt.take_home_doses} (the clinician's take-home "
        f"decision); {who}.",
    )


def _mg(value: Decimal) -> str:
    return f"{value.normalize():f} mg"


def _amounts(
    attempt: Attempt, done: Sequence[DoseFacts], escalations: Sequence[OpenEscalation], rules: Rules, tz: str
) -> Refusal | None:
    """Issue #14: amount limits, rule-set data with their sources (scheduler.rules presets)."""
    if attempt.step != COMPLETE or attempt.dose_mg is None:
        return None
    medication, amount = attempt.plan.medication, attempt.dose_mg
    today = [d.dose_mg for d in done if d.medication == medication and d.date == attempt.date and d.dose_mg]
    given = sum(today, Decimal(0))
    if medication == "buprenorphine" and given + amount > rules.buprenorphine_daily_max_mg:
        return Refusal(
            "buprenorphine daily total",
            f"Buprenorphine: never more than {rules.buprenorphine_daily_max_mg} mg on one day (guideline); "
            f"{_mg(given)} given on {day_text(attempt.date)}, {_mg(amount)} more would make {_mg(given + amount)}.",
        )
    if medication == DIAMORPHINE:
        if amount > rules.diamorphine_session_max_mg:
            return Refusal(
                "diamorphine per session",
                f"Diamorphine: at most {rules.diamorphine_session_max_mg} mg in one session (Diaphin label); "
                f"{_mg(amount)} asked.",
            )
        if given + amount > rules.diamorphine_daily_max_mg:
            return Refusal(
                "diamorphine per day",
                f"Diamorphine: at most {rules.diamorphine_daily_max_mg} mg a day (Diaphin label); {_mg(given)} "
                f"given on {day_text(attempt.date)}, {_mg(amount)} more would make {_mg(given + amount)}.",
            )
    documented = attempt.may_exceed_calendar and attempt.dose_reason.strip()
    if medication == "methadone" and attempt.treatment_day == 1 and not documented:
        if not today and amount > rules.methadone_first_dose_max_mg:
            return Refusal(
                "methadone first dose",
                f"Methadone: the first dose is at most {rules.methadone_first_dose_max_mg} mg "
                f"(42 CFR 8.12(h)(3)(ii)); {_mg(amount)} asked. A clinician may document why with a dose_reason.",
            )
        if given + amount > rules.methadone_first_day_max_mg:
            return Refusal(
                "methadone first day",
                f"Methadone: at most {rules.methadone_first_day_max_mg} mg in total on the first day "
                f"(42 CFR 8.12(h)(3)(ii)); {_mg(given)} given, {_mg(amount)} more would make "
                f"{_mg(given + amount)}. A clinician may document why with a dose_reason.",
            )
    return None


OPIOIDS = frozenset(
    {
        "methadone", "buprenorphine", "diamorphine", "buprenorphine_xr_monthly", "buprenorphine_xr_weekly",
        "buprenorphine_xr_monthly_brixadi",
    }
)


def _opioid_free(
    attempt: Attempt, done: Sequence[DoseFacts], escalations: Sequence[OpenEscalation], rules: Rules, tz: str
) -> Refusal | None:
    """Issue #14, DOMAIN §1: naltrexone only after the rule set's opioid-free days since the last opioid dose
    given here (an antagonist precipitates withdrawal). Checked when booking and when injecting."""
    if attempt.plan.medication != "naltrexone_xr" or attempt.step == CHECK_IN:
        return None
    opioid = [d for d in done if d.medication in OPIOIDS and d.date <= attempt.date]
    if not opioid:
        return None
    last = max(opioid, key=lambda d: d.covered_through or d.date)
    last_day = max(last.date, last.covered_through or last.date)
    days = (attempt.date - last_day).days
    needed = rules.naltrexone_opioid_free_days
    if days >= needed:
        return None
    return Refusal(
        "opioid-free before naltrexone",
        f"Naltrexone XR: the injection needs {needed} opioid-free days (guideline); last opioid dose "
        f"({medication_name(last.medication)}) covered {day_text(last_day)}, {_ago(days)}; from "
        f"{day_text(last_day + timedelta(days=needed))}.",
    )


def _induction(
    attempt: Attempt, done: Sequence[DoseFacts], escalations: Sequence[OpenEscalation], rules: Rules, tz: str
) -> Refusal | None:
    """Issue #14, DOMAIN §1: buprenorphine's first dose when withdrawal is at least moderate (COWS at or above the
    rule set's threshold), to avoid precipitated withdrawal; a clinician may override with a reason."""
    if attempt.step != COMPLETE or attempt.plan.medication != "buprenorphine" or not attempt.first_dose_of_plan:
        return None
    threshold = rules.buprenorphine_induction_cows_min
    if threshold is None:
        return None  # the clinic's rule set does not ask for it (the presets do not)
    if attempt.cows_total is not None and attempt.cows_total >= threshold:
        return None
    if attempt.may_exceed_calendar and attempt.dose_reason.strip():
        return None
    score = "no COWS recorded today" if attempt.cows_total is None else f"COWS {attempt.cows_total} today"
    return Refusal(
        "buprenorphine induction",
        f"Buprenorphine induction: the first dose needs a COWS of at least {threshold} (guideline: at least "
        f"moderate withdrawal, to avoid precipitated withdrawal); {score}. Record a COWS "
        "(POST …/assessments/), or a clinician may override with a dose_reason.",
    )


# Refusals about the amount given (the amount limits, and buprenorphine's induction threshold, which a clinician
# overrides with the dose's reason): `check` gives them the field dose_mg.
ABOUT_THE_AMOUNT = frozenset({_amounts, _induction})
