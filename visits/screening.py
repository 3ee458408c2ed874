"""Random drug screens and random call-backs (issue #15; DOMAIN §1).

Drug screens: 42 CFR 8.12(f)(6) (2024) asks for at least 8 random drug tests a year per patient. At check-in the
pure picker (visits.screens) decides by surprise whether the visit is a screen; nurses and clinicians record the
result. Call-backs [PRACTICE, DOMAIN §1]: a patient holding take-homes is called back and must come within 24 h
with all their take-home bottles. Clinicians start one by hand, and an hourly draw (`callbacks_drawn`, rule-set
`callback_rates`: more a year for larger supplies) picks holders by surprise; the orchestrator
(notifications.replanning) books the visit and sends a neutral text. Staff count the bottles brought against those
handed out (`callback_bottles_record`); a call-back missed (the sweep marks it, `callbacks_missed_escalate` raises
it) or short raises a `callback` escalation and suspends earned take-homes as a hold does.
Screens: results `negative`, `positive` (with substances), `refused` (counts as positive), `invalid` (no screen:
drawn again later); a positive or refused one raises a `screen_review` escalation (a clinician reviews take-home
eligibility; not a hold).
"""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, Max, Min, Q, QuerySet
from django.utils import timezone

from scheduler.errors import RuleViolation, StateConflict
from scheduler.models import Clinic, Patient, Plan
from scheduler.permissions import CLINICAL, DOSING, FRONT_DESK, has_role, scope_to_clinics
from scheduler.rules import callbacks_per_year
from scheduler.selectors import rules_for_clinic
from scheduler.services import takehomes_suspend
from scheduler.timeutil import local_date
from visits import screens
from visits.models import DRUG_SCREEN_RESULT_CHOICES, OPEN_STATUSES, SCREEN_POSITIVE_RESULTS, Escalation, Visit
from visits.services import _locked, _require_status, _swap

logger = logging.getLogger(__name__)
RESULTS = frozenset(value for value, _ in DRUG_SCREEN_RESULT_CHOICES)
YEAR = timedelta(days=screens.YEAR_DAYS)


# --- drug screens ----------------------------------------------------------------------------------


def _program_start(patient_id: int) -> date | None:
    """Day 1 of the patient's treatment: the earliest treatment start among their plans."""
    return Patient.objects.filter(pk=patient_id).aggregate(start=Min("plans__treatment_start"))["start"]


def _counted_screens() -> QuerySet[Visit]:
    """Visits drawn for a screen that count toward the target: an invalid sample is no screen (retested later)."""
    return Visit.objects.filter(drug_screen=True).exclude(drug_screen_result="invalid")


def screens_in_last_year(*, patient_ids: list[int], today: date) -> dict[int, int]:
    """Per patient, the screens (invalid samples left out) in the 365 days up to and including `today`."""
    rows = (
        _counted_screens().filter(patient_id__in=patient_ids, date__gt=today - YEAR, date__lte=today)
        .values("patient_id")
        .annotate(n=Count("id"))
    )
    return {row["patient_id"]: row["n"] for row in rows}


def drug_screen_draw(*, visit: Visit, rng: random.Random | None = None) -> Visit:
    """At check-in: mark the visit a drug screen when the draw says so. Called by visits.services.visit_check_in
    inside its transaction, the visit just checked in. The draw is unguessable (SystemRandom) unless a test
    passes a seeded Random. At most one screen a day. The pure rule is visits.screens.draw_for_day."""
    today = visit.date
    if Visit.objects.filter(patient_id=visit.patient_id, date=today, drug_screen=True).exists():
        return visit
    start = _program_start(visit.patient_id) or today
    visit_days = list(
        Visit.objects.filter(
            patient_id=visit.patient_id, status__in=OPEN_STATUSES, date__gte=today,
            date__lt=screens.year_end(start, today),
        )
        .order_by("date")
        .values_list("date", flat=True)
        .distinct()
    )
    screened = list(
        _counted_screens().filter(patient_id=visit.patient_id, date__gt=min(today - YEAR, start), date__lt=today)
        .values_list("date", flat=True)
    )
    rules = rules_for_clinic(visit.clinic)
    draw = screens.draw_for_day(
        today=today, program_start=start, visit_days=visit_days, screened=screened,
        target=rules.drug_screens_per_year, early_screens=rules.drug_screens_first_90_days,
        rng=rng or random.SystemRandom(), known_until=today + timedelta(days=settings.GENERATION_HORIZON_DAYS - 1),
    )
    if not draw.screen:
        return visit
    # No audit entry of its own: the draw is part of the check-in just logged, and only this draw sets the flag;
    # the result a person records is audited (drug_screen_record).
    if Visit.objects.filter(pk=visit.pk, status="checked_in").update(drug_screen=True) == 1:
        visit.drug_screen = True
    return visit


# A substance as the nurse writes it: letters, digits, spaces, hyphens ("THC", "6-MAM", "cocaine").
_SUBSTANCE = re.compile(r"\w[\w .+/-]*")
SUBSTANCES_MAX = 20
SUBSTANCE_CHARS_MAX = 40


def _substances(result: str, substances: Iterable[Any] | None) -> list[str]:
    given = list(substances or [])
    if result != "positive":
        if given:
            raise RuleViolation(
                f"substances: only a positive result names substances (this is {result}).", "substances"
            )
        return []
    found: list[str] = []
    for raw in given:
        name = raw.strip() if isinstance(raw, str) else raw
        if not isinstance(name, str) or not _SUBSTANCE.fullmatch(name) or len(name) > SUBSTANCE_CHARS_MAX:
            raise RuleViolation(
                f"substances: each a name of letters and digits (at most {SUBSTANCE_CHARS_MAX} characters), got "
                f"{raw!r}.", "substances",
            )
        if name.lower() not in (f.lower() for f in found):
            found.append(name)
    if not found:
        raise RuleViolation("substances: a positive result names what was found (one or more).", "substances")
    if len(found) > SUBSTANCES_MAX:
        raise RuleViolation(f"substances: at most {SUBSTANCES_MAX}.", "substances")
    return found


def _takehome_plan(patient_id: int, day: date) -> Any:
    """The plan whose take-homes a review or a call-back is about: the plan of the patient's latest completed dose
    with take-homes up to `day`, else their first active plan (None without one)."""
    supply = _supply(patient_id, day)
    if supply is not None and supply.plan_id is not None:
        return supply.plan
    return Plan.objects.filter(patient_id=patient_id, status="active").order_by("id").first()


def _review_after_screen(visit: Visit, result: str) -> Escalation:
    """Issue #15: a positive or refused screen raises a clinician review of take-home eligibility. Not a hold: the
    patient is dosed as planned; a clinician decides on take-homes (the plan's take-home review) and resolves it."""
    plan = visit.plan if visit.plan_id is not None else _takehome_plan(visit.patient_id, visit.date)
    what = "refused" if result == "refused" else "positive"
    escalation, _ = Escalation.objects.get_or_create(
        patient_id=visit.patient_id, clinic_id=visit.clinic_id, plan=plan, kind="screen_review",
        anchor_date=visit.date,
        defaults={
            "visit": visit,
            "reason": f"Drug screen on {visit.date.isoformat()} {what}"
            + (" (a refused screen counts as positive)" if what == "refused" else "")
            + ": review take-home eligibility.",
        },
    )
    return escalation


@transaction.atomic
def drug_screen_record(
    *, visit: Visit, result: str, by: Any, substances: Iterable[Any] | None = None
) -> Visit:
    """A nurse or clinician records the screen's result (audited). Only a visit drawn for a screen, checked in or
    completed, and once: a result already recorded is not overwritten. A positive result names its substances;
    a positive or refused one raises a clinician review of take-home eligibility (`screen_review`, not a hold)."""
    if not has_role(by, DOSING):
        raise PermissionDenied("Only nurses, clinicians and admins record drug screen results.")
    if result not in RESULTS:
        raise RuleViolation(f"result: one of {', '.join(sorted(RESULTS))}, got {result!r}.", "result")
    found = _substances(result, substances)
    visit = _locked(visit)
    if not visit.drug_screen:
        raise StateConflict("This visit was not drawn for a drug screen.")
    _require_status(visit, ["checked_in", "completed"])
    if visit.drug_screen_result:
        raise StateConflict(f"This drug screen's result is already recorded ({visit.drug_screen_result}).")
    visit = _swap(visit, ["checked_in", "completed"], by, drug_screen_result=result, drug_screen_substances=found)
    if result in SCREEN_POSITIVE_RESULTS:
        _review_after_screen(visit, result)
    return visit


def screens_for_user(user: Any) -> QuerySet[Visit]:
    """Screens (visits drawn for one) in the user's clinics, for GET /api/v1/screens/."""
    return scope_to_clinics(Visit.objects.filter(drug_screen=True), user).select_related("clinic").order_by(
        "-date", "-id"
    )


@dataclass(frozen=True)
class ScreenPace:
    patient: Patient
    screens: int
    expected: float
    days_in_program: int


def screens_due(*, clinic: Clinic, today: date | None = None) -> list[ScreenPace]:
    """Patients of the clinic with an active plan who are behind the yearly pace: fewer screens in the last 365
    days than target × days-in-program / 365 (a year at most). For a report; two queries."""
    today = today or local_date(timezone.now(), clinic.timezone)
    target = rules_for_clinic(clinic).drug_screens_per_year
    patients = list(
        Patient.objects.filter(clinic=clinic, plans__status="active")
        .annotate(program_start=Min("plans__treatment_start"))
        .order_by("last_name", "first_name", "id")
        .distinct()
    )
    counts = screens_in_last_year(patient_ids=[p.pk for p in patients], today=today)
    due = []
    for patient in patients:
        days = (today - patient.program_start).days + 1  # type: ignore[attr-defined]
        done = counts.get(patient.pk, 0)
        if screens.behind_pace(screens_done=done, days_in_program=days, target=target):
            expected = screens.screens_expected(days_in_program=days, target=target)
            due.append(ScreenPace(patient, done, expected, days))
    return due


def screen_report(*, clinic: Clinic, today: date) -> list[dict[str, Any]]:
    """The manager's report (issue #15): per patient with an active plan, screens done in the last 365 days against
    the pace (target × days in program / 365), positives (a refusal counts), the last screen. Two queries."""
    target = rules_for_clinic(clinic).drug_screens_per_year
    patients = list(
        Patient.objects.filter(clinic=clinic, plans__status="active")
        .annotate(program_start=Min("plans__treatment_start"))
        .order_by("last_name", "first_name", "id")
        .distinct()
    )
    counts = {
        row["patient_id"]: row
        for row in _counted_screens()
        .filter(patient_id__in=[p.pk for p in patients], date__gt=today - YEAR, date__lte=today)
        .values("patient_id")
        .annotate(
            n=Count("id"), positive=Count("id", filter=Q(drug_screen_result__in=SCREEN_POSITIVE_RESULTS)),
            pending=Count("id", filter=Q(drug_screen_result="")), last=Max("date"),
        )
        .order_by("patient_id")
    }
    rows = []
    for patient in patients:
        days = (today - patient.program_start).days + 1  # type: ignore[attr-defined]
        row: dict[str, Any] = dict(counts.get(patient.pk, {}))
        done = row.get("n", 0)
        expected = screens.screens_expected(days_in_program=days, target=target)
        rows.append({
            "patient": patient.pk, "mrn": patient.mrn, "first_name": patient.first_name,
            "last_name": patient.last_name, "days_in_program": days, "screens_done": done,
            "screens_expected": round(expected, 1), "behind_pace": done < expected,
            "screens_due_this_year": max(0, target - done), "positive": row.get("positive", 0),
            "awaiting_result": row.get("pending", 0), "last_screen": row.get("last"),
        })
    return rows


# --- call-backs -------------------------------------------------------------------------------------


def holds_take_homes(*, patient: Patient, today: date) -> bool:
    """A completed dose covers a day after today: the patient has take-home bottles at home now."""
    return Visit.objects.filter(patient=patient, status="completed", covered_through__gt=today).exists()


def callback_check(*, patient: Patient, by: Any, now: datetime, drawn: bool = False) -> None:
    """Whether this patient may be called back now [PRACTICE, DOMAIN §1]: only a clinician or admin (or the daily
    draw, `drawn`), only a patient holding take-homes, and not one already called back (an open call-back visit).
    The booking itself is notifications.replanning.callback_start (the orchestrator, which sends the text too)."""
    if not drawn and not has_role(by, CLINICAL):
        raise PermissionDenied("Only clinicians and admins start a call-back.")
    today = local_date(now, patient.clinic.timezone)
    if not holds_take_homes(patient=patient, today=today):
        # A conflict with the patient's state (no take-homes held now), not bad input: 409.
        raise StateConflict("This patient holds no take-home doses now; a call-back is for take-home holders.")
    if Visit.objects.filter(patient=patient, kind="callback", status__in=OPEN_STATUSES, date__gte=today).exists():
        raise StateConflict("This patient already has an open call-back visit.")


def callbacks_missed(clinic: Clinic) -> QuerySet[Visit]:
    """Call-back visits the sweep marked missed, newest first, for the escalations page."""
    return (
        Visit.objects.filter(Q(clinic=clinic) & Q(kind="callback", status="missed"))
        .select_related("patient")
        .order_by("-date", "-id")
    )


# --- the call-back draw -----------------------------------------------------------------------------

# The draw runs hourly; a clinic draws in the hours when a text may go out and the patient still has most of
# the day to come: from the rule set's quiet-hours start up to this long before its end.
CALLBACK_LAST_DRAW_BEFORE_END = timedelta(hours=3)


def callback_draw_hours(rules: Any) -> int:
    """How many hourly draws a clinic makes a day (at least 1)."""
    start = rules.quiet_hours_start.hour * 60 + rules.quiet_hours_start.minute
    end = rules.quiet_hours_end.hour * 60 + rules.quiet_hours_end.minute - CALLBACK_LAST_DRAW_BEFORE_END.seconds // 60
    return max(1, -(-(end - start) // 60))


def callback_draw_open(rules: Any, local_now: datetime) -> bool:
    """Whether the clinic draws in this hour (clinic-local wall time)."""
    minutes = local_now.hour * 60 + local_now.minute
    start = rules.quiet_hours_start.hour * 60 + rules.quiet_hours_start.minute
    end = rules.quiet_hours_end.hour * 60 + rules.quiet_hours_end.minute - CALLBACK_LAST_DRAW_BEFORE_END.seconds // 60
    return start <= minutes < end


def take_home_holders(*, clinic: Clinic, today: date) -> dict[int, int]:
    """Patients of the clinic holding take-homes today, with the supply they were handed (the largest among the
    doses covering a day after today), without an open call-back. One query."""
    rows = (
        Visit.objects.filter(
            clinic=clinic, status="completed", covered_through__gt=today, take_home_doses__gt=0, date__lte=today,
            patient__plans__status="active",
        )
        .exclude(
            patient_id__in=Visit.objects.filter(kind="callback", status__in=OPEN_STATUSES, date__gte=today).values(
                "patient_id"
            )
        )
        .values("patient_id")
        .annotate(supply=Max("take_home_doses"))
        .order_by("patient_id")
    )
    return {row["patient_id"]: row["supply"] for row in rows}


def callbacks_pick(*, holders: dict[int, int], rules: Any, local_now: datetime, rng: random.Random) -> list[int]:
    """Pure: of `holders` (patient id → take-home supply held), those this hour's draw calls back; nobody outside
    the clinic's drawing hours. Each holder's chance is their supply's yearly rate spread over the year's draws."""
    if not rules.callback_rates or not callback_draw_open(rules, local_now):
        return []
    hours = callback_draw_hours(rules)
    return [
        patient_id
        for patient_id, supply in sorted(holders.items())
        if screens.callback_draw(per_year=callbacks_per_year(rules, supply), draws_per_day=hours, rng=rng)
    ]


def callbacks_drawn(*, clinic: Clinic, now: datetime, rng: random.Random | None = None) -> list[int]:
    """This hour's draw at one clinic: the take-home holders to call back (patient ids). Unguessable
    (SystemRandom) unless a test passes its own; nothing drawn outside the clinic's drawing hours."""
    rules = rules_for_clinic(clinic)
    local_now = timezone.localtime(now, timezone=ZoneInfo(clinic.timezone))
    if not rules.callback_rates or not callback_draw_open(rules, local_now):
        return []
    holders = take_home_holders(clinic=clinic, today=local_now.date())
    return callbacks_pick(holders=holders, rules=rules, local_now=local_now, rng=rng or random.SystemRandom())


# --- bottles at the call-back, missed call-backs ----------------------------------------------------


def _supply(patient_id: int, day: date) -> Visit | None:
    """The take-home supply the patient held on `day`: their latest completed dose with take-homes before it."""
    return (
        Visit.objects.filter(patient_id=patient_id, status="completed", take_home_doses__gt=0, date__lt=day)
        .select_related("plan")
        .order_by("-date", "-id")
        .first()
    )


def _callback_escalation(visit: Visit, reason: str) -> tuple[Escalation | None, list[int]]:
    """A call-back missed or short: an escalation, and the patient's earned take-homes suspended (as a hold
    suspends them, API.md v1.1) until a clinician approves them again. Returns the plans suspended; the
    orchestrator regenerates their visits. Once per call-back visit."""
    if Escalation.objects.filter(visit=visit, kind="callback").exists():
        return None, []
    plan = _takehome_plan(visit.patient_id, visit.date)
    escalation = Escalation.objects.create(
        patient_id=visit.patient_id, clinic_id=visit.clinic_id, plan=plan, visit=visit, kind="callback",
        anchor_date=visit.date, reason=reason[:400],
    )
    suspended = takehomes_suspend(patient_ids=[visit.patient_id], on=visit.date)
    return escalation, suspended


@dataclass(frozen=True)
class BottleCount:
    visit: Visit
    short: bool
    suspended_plan_ids: list[int]


@transaction.atomic
def callback_bottles_record(*, visit: Visit, bottles_brought: int, by: Any) -> BottleCount:
    """At a call-back the patient brings every take-home bottle handed out with their supply, full or empty
    [PRACTICE, DOMAIN §1]; staff count them once (audited). Fewer than handed out raises a `callback` escalation
    and suspends earned take-homes until a clinician approves them again."""
    if not has_role(by, FRONT_DESK):
        raise PermissionDenied("Only front desk, nurses, clinicians and admins count bottles at a call-back.")
    if isinstance(bottles_brought, bool) or not isinstance(bottles_brought, int) or not 0 <= bottles_brought <= 99:
        raise RuleViolation("bottles_brought: a whole number of bottles from 0 to 99.", "bottles_brought")
    visit = _locked(visit)
    if visit.kind != "callback":
        raise StateConflict("This is not a call-back visit; bottles are counted at a call-back.")
    _require_status(visit, ["checked_in", "completed"])
    if visit.callback_bottles_brought is not None:
        raise StateConflict(f"The bottles were already counted ({visit.callback_bottles_brought} brought).")
    supply = _supply(visit.patient_id, visit.date)
    handed_out = supply.take_home_doses if supply is not None else 0
    visit = _swap(
        visit, ["checked_in", "completed"], by, callback_bottles_brought=bottles_brought,
        callback_bottles_handed_out=handed_out,
    )
    if bottles_brought >= handed_out:
        return BottleCount(visit, False, [])
    when = supply.date.isoformat() if supply is not None else "their last visit"
    _, suspended = _callback_escalation(
        visit, f"Call-back on {visit.date.isoformat()}: {bottles_brought} of {handed_out} take-home bottles "
        f"handed out on {when} brought back. Earned take-homes suspended until a clinician approves them again.",
    )
    return BottleCount(visit, True, suspended)


def callbacks_missed_escalate(*, since: date | None = None) -> list[int]:
    """Missed call-back visits without their escalation get one, and the patient's earned take-homes are
    suspended (safe to run twice). Returns the plans suspended. Run after each missed-visit sweep."""
    visits = Visit.objects.filter(kind="callback", status="missed").exclude(escalations__kind="callback")
    if since is not None:
        visits = visits.filter(date__gte=since)
    suspended: list[int] = []
    for visit in visits.select_related("clinic").order_by("id"):
        try:
            with transaction.atomic():
                _, plan_ids = _callback_escalation(
                    visit, f"Call-back on {visit.date.isoformat()} missed: the patient did not come within 24 hours. "
                    "Earned take-homes suspended until a clinician approves them again.",
                )
            suspended += plan_ids
        except Exception:  # noqa: BLE001 — one bad row never stops a sweep (STYLE.md)
            logger.warning("callbacks_missed_escalate: visit %s failed", visit.pk, exc_info=True)
    return suspended
