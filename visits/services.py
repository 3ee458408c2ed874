"""Writes to the ledger: booking, rescheduling, check-in, completion, cancelling, excusing.

Every status change is a compare-and-swap (`filter(pk=..., status__in=...).update(...)`), so two
people acting on one visit at once cannot both succeed. Capacity is enforced by locking the
window rows (SELECT ... FOR UPDATE) before counting their visits. Conditional updates bypass model
signals, so each service writes its own audit entry with the acting user.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from auditlog.context import disable_auditlog
from auditlog.diff import model_instance_diff
from auditlog.models import LogEntry
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from scheduler.engine import covered_through
from scheduler.errors import RuleViolation, StateConflict
from scheduler.models import Clinic, DosingWindow, Patient, Plan
from scheduler.permissions import CLINICAL, DOSING, has_role
from scheduler.rules import INJECTIONS, takehome_limit, treatment_day
from scheduler.selectors import calendar_for_clinic, rules_for_clinic
from scheduler.timeutil import local_date
from visits import cows, guard
from visits.models import KIND_CHOICES, OPEN_STATUSES, Assessment, Visit
from visits.selectors import (
    FREES_ITS_PLACE,
    Slot,
    booked_counts,
    closure_for,
    effective_treatment_start,
    expected_take_homes,
    guard_doses,
    guard_escalations,
    guard_lookback_days,
    is_split,
    no_window_reason,
    order_in_force,
    plan_facts,
    session_share,
    share_of,
    slots_for,
    split_session,
)

KINDS = frozenset(value for value, _ in KIND_CHOICES)
PLAN_KINDS = frozenset({"dose", "injection"})
# DOMAIN §4: from the third missed day no dose is given until a clinician has acted.
HOLD_KINDS = ("hold", "clinician_review", "reinduction")
# Booking further ahead than this is a typing mistake, and keeps instants inside datetime's range.
MAX_DAYS_AHEAD = 366


# --- audit ---------------------------------------------------------------------------------------


def _log(visit: Visit, by: Any, changes: dict[str, list[Any]], action: int = LogEntry.Action.UPDATE) -> None:
    """One audit entry with the acting user; the request's remote address is added by auditlog's middleware."""
    LogEntry.objects.log_create(
        visit,
        action=action,
        changes={name: [_text(old), _text(new)] for name, (old, new) in changes.items()},
        actor=by if getattr(by, "pk", None) else None,
        force_log=True,
    )


def _text(value: Any) -> str | None:
    if value is None:
        return "None"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(getattr(value, "pk", value))


def _swap(visit: Visit, from_statuses: Iterable[str], by: Any, **fields: Any) -> Visit:
    """Compare-and-swap: apply `fields` only if the visit is still in one of `from_statuses`."""
    allowed = tuple(from_statuses)
    fields["updated"] = timezone.now()
    changed = Visit.objects.filter(pk=visit.pk, status__in=allowed).update(**fields)
    if changed != 1:
        current = Visit.objects.filter(pk=visit.pk).values_list("status", flat=True).first()
        raise StateConflict(_state_text(current or "deleted"))
    before = {name: getattr(visit, _attname(name)) for name in fields if name != "updated"}
    for name, value in fields.items():
        setattr(visit, name, value)
    _log(visit, by, {name: [old, fields[name]] for name, old in before.items() if old != _plain(fields[name])})
    return visit


def _attname(name: str) -> str:
    field = Visit._meta.get_field(name)
    return str(getattr(field, "attname", name))


def _plain(value: Any) -> Any:
    return getattr(value, "pk", value)


def _state_text(status: str) -> str:
    return f"This visit is already {status.replace('_', ' ')}."


def _require_status(visit: Visit, allowed: Iterable[str]) -> None:
    if visit.status not in tuple(allowed):
        raise StateConflict(_state_text(visit.status))


# --- the dosing guard ------------------------------------------------------------------------------
# Whether a dose may be booked, checked in or given is decided in one place, visits.guard.check. These
# load its plain values under a lock on the patient row, so two nurses dosing one patient under two
# plans at the same moment are serialised: the second sees the first's dose and is refused.

def _lock_patient(patient_id: int) -> None:
    Patient.objects.select_for_update().filter(pk=patient_id).values_list("pk", flat=True).first()


def dose_guard(
    *,
    plan: Plan,
    clinic: Clinic,
    step: str,
    day: date,
    visit_id: int | None = None,
    take_home_doses: int = 0,
    take_home_reason: str = "",
    by: Any = None,
    expected_take_homes: int | None = None,
    dose_mg: Decimal | None = None,
    dose_reason: str = "",
    treatment_day: int | None = None,
    first_dose_of_plan: bool = False,
    cows_total: int | None = None,
) -> None:
    """Lock the patient row, load what the guard needs and raise its refusal (409, or 400 with a field)."""
    _lock_patient(plan.patient_id)
    rules = rules_for_clinic(clinic)
    attempt = guard.Attempt(
        step=step, plan=plan_facts(plan), date=day, at=timezone.now(), visit_id=visit_id,
        take_home_doses=take_home_doses, take_home_reason=take_home_reason,
        may_exceed_calendar=has_role(by, CLINICAL), expected_take_homes=expected_take_homes,
        dose_mg=dose_mg, dose_reason=dose_reason, treatment_day=treatment_day,
        first_dose_of_plan=first_dose_of_plan, cows_total=cows_total,
    )
    refusal = guard.check(
        attempt,
        doses=guard_doses([plan.patient_id], day, guard_lookback_days(rules)).get(plan.patient_id, []),
        escalations=guard_escalations([plan.patient_id]).get(plan.patient_id, []),
        rules=rules, tz=clinic.timezone,
    )
    if refusal is None:
        return
    if refusal.status_code == 400:
        raise RuleViolation(refusal.message, refusal.field)
    raise StateConflict(refusal.message, refusal.field)


# --- booking ---------------------------------------------------------------------------------------


def _plan_for(*, patient: Patient, kind: str, day: date, plan: Plan | None) -> Plan | None:
    if kind not in KINDS:
        raise RuleViolation(f"Unknown kind {kind!r}; use one of {', '.join(sorted(KINDS))}.", "kind")
    if plan is not None and plan.patient_id != patient.pk:
        raise RuleViolation("This plan belongs to another patient.", "plan")
    if kind not in PLAN_KINDS:
        return plan
    if plan is None:
        plan = _active_plan(patient, kind, day)
    elif plan.status != "active":
        raise RuleViolation(f"Plan #{plan.pk} is {plan.status}; only an active plan can have visits booked.", "plan")
    if (kind == "injection") != (plan.medication in INJECTIONS):
        raise RuleViolation(f"A {plan.medication} plan has {_kind_for(plan)} visits, not {kind} visits.", "kind")
    if not plan.active_on(day):
        raise RuleViolation(f"Plan #{plan.pk} is not active on {day.isoformat()}.", "date")
    return plan


def _kind_for(plan: Plan) -> str:
    return "injection" if plan.medication in INJECTIONS else "dose"


def _active_plan(patient: Patient, kind: str, day: date) -> Plan:
    for plan in Plan.objects.filter(patient=patient, status="active").order_by("id"):
        if _kind_for(plan) == kind and plan.active_on(day):
            return plan
    raise RuleViolation(f"A {kind} visit needs a plan, and the patient has no active plan for one.", "plan")


def _service(kind: str, plan: Plan | None) -> str:
    if kind in PLAN_KINDS:
        assert plan is not None  # _plan_for guarantees it
        return plan.medication
    return kind


@dataclass(frozen=True)
class _Booking:
    window: DosingWindow
    start: datetime
    end: datetime


def _open_slots(clinic: Clinic, day: date, service: str) -> list[Slot]:
    """The day's windows offering `service` that have not ended yet, or a RuleViolation saying why not."""
    today = local_date(timezone.now(), clinic.timezone)
    if day < today:
        raise RuleViolation(f"{day.isoformat()} is in the past (today is {today.isoformat()} at the clinic).", "date")
    if day > today + timedelta(days=MAX_DAYS_AHEAD):
        raise RuleViolation(f"Visits can be booked at most {MAX_DAYS_AHEAD} days ahead.", "date")
    closure = closure_for(clinic, day, service)
    if closure is not None:
        why = f": {closure.reason}" if closure.reason else ""
        raise RuleViolation(f"The clinic is closed for {service} on {day.isoformat()}{why}.", "date")
    slots = slots_for(clinic, day, service)
    if not slots:
        raise RuleViolation(no_window_reason(day, service), "date")
    now = timezone.now()
    open_slots = [s for s in slots if s.end > now]
    if not open_slots:
        raise RuleViolation(f"Every window offering {service} on {day.isoformat()} has already ended.", "date")
    return open_slots


def _pick_by_start(slots: list[Slot], start: datetime, clinic: Clinic, service: str) -> list[Slot]:
    if start < timezone.now():
        raise RuleViolation("start is in the past.", "start")
    chosen = [s for s in slots if s.start <= start < s.end]
    if not chosen:
        local = timezone.localtime(start, timezone=_zone(clinic)).strftime("%Y-%m-%d %H:%M")
        raise RuleViolation(f"No window offering {service} contains {local} (clinic time).", "start")
    return chosen


def _zone(clinic: Clinic) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(clinic.timezone)


def _overlapping(patient: Patient, day: date, exclude_visit: int | None) -> list[Visit]:
    qs = Visit.objects.filter(patient=patient, date__range=(day - timedelta(days=1), day + timedelta(days=1)))
    qs = qs.exclude(status__in=FREES_ITS_PLACE).exclude(start=None).exclude(end=None)
    if exclude_visit is not None:
        qs = qs.exclude(pk=exclude_visit)
    return list(qs.only("id", "start", "end", "kind", "date"))


def _reserve(
    *, clinic: Clinic, patient: Patient, day: date, service: str, start: datetime | None, exclude_visit: int | None
) -> _Booking:
    """Choose a window with room for the patient and lock it until the transaction ends.

    Called inside the caller's transaction: the patient row is locked first (one booking per patient
    at a time, so the overlap check holds), then the candidate windows in id order (no deadlocks);
    counting their visits after the lock makes capacity exact under concurrency.
    """
    slots = _open_slots(clinic, day, service)
    if start is not None:
        slots = _pick_by_start(slots, start, clinic, service)
    Patient.objects.select_for_update().filter(pk=patient.pk).values_list("pk", flat=True).first()
    locked = {w.pk: w for w in DosingWindow.objects.select_for_update().filter(pk__in=[s.window.pk for s in slots])}
    counts = booked_counts(list(locked), day, exclude_visit=exclude_visit)
    existing = _overlapping(patient, day, exclude_visit)
    clash: Visit | None = None
    for slot in slots:
        window = locked.get(slot.window.pk)
        if window is None:
            continue  # deleted meanwhile
        begin = start or slot.start
        other = next((v for v in existing if v.start < slot.end and v.end > begin), None)  # type: ignore[operator]
        if other is not None:
            clash = clash or other
            continue
        if counts.get(window.pk, 0) < window.capacity:
            return _Booking(window, begin, slot.end)
    if clash is not None:
        raise StateConflict(f"The patient is already booked at that time (visit #{clash.pk}, {clash.kind}).")
    raise StateConflict(_full_text(slots, day))


def _full_text(slots: list[Slot], day: date) -> str:
    if len(slots) == 1:
        w = slots[0].window
        return f"The window {w.start:%H:%M}–{w.end:%H:%M} on {day.isoformat()} is full ({w.capacity} visits)."
    return f"Every window on {day.isoformat()} that could take this visit is full."


# Atomic on its own; inside a caller's transaction no savepoint of its own (two round trips a booking, issue #16):
# a refusal is raised, never caught here, and the caller's atomic block (notifications.replanning.visit_book,
# which every shell calls) rolls back to its own savepoint. A caller that catches a refusal and goes on in the
# same transaction must wrap the call in an atomic block of its own, as the call-back booking does.
@transaction.atomic(savepoint=False)
def visit_book(
    *, patient: Patient, kind: str, date: date, plan: Plan | None = None, start: datetime | None = None, by: Any
) -> Visit:
    """Book a manual visit into the window of `date` offering its service (409 if full or double-booked)."""
    plan = _plan_for(patient=patient, kind=kind, day=date, plan=plan)
    clinic = patient.clinic
    if plan is not None and kind in PLAN_KINDS:
        dose_guard(plan=plan, clinic=clinic, step=guard.BOOK, day=date, by=by)
    booking = _reserve(
        clinic=clinic, patient=patient, day=date, service=_service(kind, plan), start=start, exclude_visit=None
    )
    with disable_auditlog():
        visit = Visit.objects.create(
            patient=patient, clinic=clinic, plan=plan, kind=kind, date=date, start=booking.start, end=booking.end,
            window=booking.window, status="scheduled", source="manual", edited=True, reason="booked by staff",
        )
    _log(visit, by, {k: list(v) for k, v in model_instance_diff(None, visit).items()}, LogEntry.Action.CREATE)
    return visit


@transaction.atomic
def visit_reschedule(*, visit: Visit, date: date, start: datetime | None = None, by: Any) -> Visit:
    """Move a scheduled visit to another date or window; regeneration leaves it alone afterwards."""
    _lock_patient(visit.patient_id)  # patient before visit, like every other path: no deadlock
    visit = _locked(visit)
    _require_status(visit, ["scheduled"])
    service = visit.plan.medication if visit.plan is not None and visit.kind in PLAN_KINDS else visit.kind
    if visit.plan is not None and not visit.plan.active_on(date):
        raise RuleViolation(f"Plan #{visit.plan_id} is not active on {date.isoformat()}.", "date")
    if visit.plan is not None and visit.kind in PLAN_KINDS:
        dose_guard(plan=visit.plan, clinic=visit.clinic, step=guard.BOOK, day=date, visit_id=visit.pk, by=by)
    booking = _reserve(
        clinic=visit.clinic, patient=visit.patient, day=date, service=service, start=start, exclude_visit=visit.pk
    )
    # planned_date stays: the moved visit still stands for its planned slot, so generation never recreates it.
    return _swap(
        visit, ["scheduled"], by, date=date, start=booking.start, end=booking.end, window=booking.window, edited=True
    )


def _locked(visit: Visit) -> Visit:
    return Visit.objects.select_for_update(of=("self",)).select_related("plan", "clinic", "patient").get(pk=visit.pk)


# --- the visit itself ------------------------------------------------------------------------------


def _clinic_today(visit: Visit) -> date:
    return local_date(timezone.now(), visit.clinic.timezone)


def _not_in_future(visit: Visit, what: str) -> None:
    today = _clinic_today(visit)
    if visit.date > today:
        raise RuleViolation(f"This visit is on {visit.date.isoformat()}; it can be {what} on that day, not before.")


@transaction.atomic
def visit_check_in(*, visit: Visit, by: Any, bottles_returned: bool | None = None, bottles_note: str = "") -> Visit:
    """scheduled → checked_in. A failed take-home bottle return (DOMAIN §6) is recorded on the visit."""
    _lock_patient(visit.patient_id)
    visit = _locked(visit)
    _require_status(visit, ["scheduled"])
    _not_in_future(visit, "checked in")
    if visit.plan is not None and visit.kind in PLAN_KINDS:
        dose_guard(plan=visit.plan, clinic=visit.clinic, step=guard.CHECK_IN, day=visit.date, visit_id=visit.pk, by=by)
    visit = _swap(
        visit, ["scheduled"], by, status="checked_in", checked_in_at=timezone.now(), checked_in_by=by,
        bottles_returned=bottles_returned, bottles_note=(bottles_note or "")[:300],
    )
    from visits.screening import drug_screen_draw  # issue #15; screening builds on this module

    return drug_screen_draw(visit=visit)


@transaction.atomic
def visit_undo_check_in(*, visit: Visit, by: Any) -> Visit:
    """checked_in → scheduled: a check-in made by mistake (the wrong patient at the desk) is undone, audited."""
    _lock_patient(visit.patient_id)
    visit = _locked(visit)
    _require_status(visit, ["checked_in"])
    return _swap(
        visit, ["checked_in"], by, status="scheduled", checked_in_at=None, checked_in_by=None,
        bottles_returned=None, bottles_note="",
    )


@transaction.atomic
def visit_reopen_missed(*, visit: Visit, by: Any) -> Visit:
    """missed → checked_in: the patient arrived after the sweep marked the visit missed, on the same clinic-local
    day, and is at the window now. The dose still goes through the dosing guard at completion (a hold the
    sweep opened blocks it); a missed day is never caught up later (DOMAIN §4: no double-dosing)."""
    _lock_patient(visit.patient_id)
    visit = _locked(visit)
    _require_status(visit, ["missed"])
    today = _clinic_today(visit)
    if visit.date != today:
        raise RuleViolation(
            f"This visit was on {visit.date.isoformat()}; only today's missed visit can be re-opened for a late "
            "arrival (a missed day is never caught up)."
        )
    if visit.plan is not None and visit.kind in PLAN_KINDS:
        dose_guard(plan=visit.plan, clinic=visit.clinic, step=guard.CHECK_IN, day=visit.date, visit_id=visit.pk, by=by)
    return _swap(visit, ["missed"], by, status="checked_in", missed_at=None, checked_in_at=timezone.now(),
                 checked_in_by=by, status_reason="late arrival: re-opened after it was marked missed")


def _counted_days(visit: Visit, service: str, days: list[date], closure_doses_count: bool) -> list[date]:
    """Take-home days that count toward the limits: all of them, or only open days when the rule set
    says closure doses are "beyond" the limit (42 CFR 8.12(i)(3), 2001 text). A weekday on which no
    window offers the service is a closure day like a holiday."""
    if closure_doses_count:
        return days
    calendar = calendar_for_clinic(visit.clinic)
    return [d for d in days if calendar.is_open(d, service)]


def _iso_week(d: date) -> tuple[int, int]:
    year, week, _ = d.isocalendar()
    return year, week


def _week_take_homes(visit: Visit, weeks: set[tuple[int, int]]) -> list[date]:
    """Take-home days already handed out by the plan's other completed visits in these ISO weeks."""
    if not weeks:
        return []
    first = min(date.fromisocalendar(y, w, 1) for y, w in weeks)
    others = Visit.objects.filter(
        plan=visit.plan, status="completed", take_home_doses__gt=0, date__gte=first - timedelta(days=31)
    ).exclude(pk=visit.pk)
    days: list[date] = []
    for other in others.only("date", "take_home_doses"):
        days += [other.date + timedelta(days=i) for i in range(1, other.take_home_doses + 1)]
    return [d for d in days if _iso_week(d) in weeks]


def _check_take_homes(visit: Visit, doses: int, *, treatment_start: date | None = None) -> None:
    if doses < 0:
        raise RuleViolation("take_home_doses cannot be negative.", "take_home_doses")
    if doses == 0:
        return
    plan = visit.plan
    if visit.kind != "dose" or plan is None:
        raise RuleViolation(f"Only dose visits hand out take-home doses, not {visit.kind} visits.", "take_home_doses")
    if plan.medication == "diamorphine":
        raise RuleViolation("Diamorphine is always given under supervision, never taken home.", "take_home_doses")
    rules = rules_for_clinic(visit.clinic)
    limit = takehome_limit(rules, plan.medication, treatment_day(treatment_start or plan.treatment_start, visit.date))
    if limit.max_supply is None:
        return
    covered = [visit.date + timedelta(days=i) for i in range(1, doses + 1)]
    counted = _counted_days(visit, plan.medication, covered, rules.closure_doses_count)
    if len(counted) > limit.max_supply:
        raise RuleViolation(f"{limit.rule} (treatment day {limit.treatment_day})", "take_home_doses")
    if limit.max_per_week is not None:
        weeks = {_iso_week(d) for d in counted}
        earlier = _counted_days(visit, plan.medication, _week_take_homes(visit, weeks), rules.closure_doses_count)
        for week in sorted(weeks):
            used = sum(1 for d in [*counted, *earlier] if _iso_week(d) == week)
            if used > limit.max_per_week:
                raise RuleViolation(
                    f"{limit.rule} (treatment day {limit.treatment_day}; {used} take-home days in the week of "
                    f"{date.fromisocalendar(*week, 1).isoformat()})",
                    "take_home_doses",
                )


@transaction.atomic
def visit_complete(
    *, visit: Visit, by: Any, take_home_doses: int | None = None, take_home_reason: str = "",
    dose_mg: Decimal | None = None, dose_reason: str = "", take_home_mg: list[Decimal] | None = None,
) -> Visit:
    """scheduled/checked_in → completed, handing out `take_home_doses` within the rule set's limit.

    The dosing guard decides first (holds, covered dates, one dose a day, injection minimums, session
    intervals, take-homes above the plan's calendar, amount limits). Take-homes then excuse the scheduled
    visits on the dates they cover, so the missed sweep never counts them. `dose_mg` defaults to the order in
    force; more than the order is refused, less needs a `dose_reason` (issue #14). A split methadone dose's session
    is held to its share of the order (visits.selectors.dose_due_mg). `take_home_mg` gives each take-home bottle's
    amount (default: the order in force on the date it covers; above it is refused like a dose).
    """
    doses = 0 if take_home_doses is None else take_home_doses
    _lock_patient(visit.patient_id)
    visit = _locked(visit)
    _require_status(visit, OPEN_STATUSES)
    _not_in_future(visit, "completed")
    plan = visit.plan
    start = None
    if plan is not None and visit.kind in PLAN_KINDS:
        rules = rules_for_clinic(visit.clinic)
        start = effective_treatment_start(plan, visit.date, rules)
        # The rule set's limit first (400 naming take_home_doses): it binds everyone, whatever the calendar.
        _check_take_homes(visit, doses, treatment_start=start)
        expected = None
        if doses > 0 and visit.kind == "dose" and plan.medication != "diamorphine":
            expected = expected_take_homes(plan, visit.clinic, visit.date, start, rules)
        dose_mg = _dose_against_order(plan, visit, dose_mg, dose_reason)
        bottles = _bottles_against_orders(plan, visit, doses, take_home_mg, dose_reason)
        dose_guard(
            plan=plan, clinic=visit.clinic, step=guard.COMPLETE, day=visit.date, visit_id=visit.pk,
            take_home_doses=doses, take_home_reason=take_home_reason, by=by, expected_take_homes=expected,
            dose_mg=dose_mg, dose_reason=dose_reason, treatment_day=treatment_day(start, visit.date),
            first_dose_of_plan=not Visit.objects.filter(plan=plan, status="completed").exists(),
            cows_total=Assessment.objects.filter(patient_id=visit.patient_id, visit__date=visit.date)
            .aggregate(best=Max("total"))["best"],
        )
    else:
        _check_take_homes(visit, doses)
        dose_mg, bottles = None, None
    fields: dict[str, Any] = {}
    if dose_mg is not None:
        fields.update(dose_mg=dose_mg, dose_reason=(dose_reason or "").strip()[:300])
    if bottles:
        fields["take_home_mg"] = bottles
    if doses > 0 and take_home_reason.strip():
        fields["status_reason"] = f"take-homes: {take_home_reason.strip()}"[:300]
    visit = _swap(
        visit, OPEN_STATUSES, by, status="completed", take_home_doses=doses,
        covered_through=_covered_through(visit, plan, doses), completed_at=timezone.now(), completed_by=by, **fields,
    )
    if plan is not None and start is not None and start > plan.treatment_start:
        _restart_treatment(plan, start)
    if doses > 0 and plan is not None:
        _excuse_covered(visit, plan, by)
    return visit


def _covered_through(visit: Visit, plan: Plan | None, doses: int) -> date:
    """The last date the visit's dose and take-homes cover; an alternate-day buprenorphine dose covers the next
    day too (issue #15), so the guard refuses a catch-up dose there and the missed sweep counts nothing."""
    if plan is None or visit.kind != "dose":
        return visit.date + timedelta(days=doses)
    return covered_through(plan.medication, plan.interval_days, visit.date, doses)


def _dose_against_order(plan: Plan, visit: Visit, dose_mg: Decimal | None, reason: str) -> Decimal | None:
    """The amount to record: the order in force by default; more than the order is refused (409), less needs a
    reason such as "patient declined part" (400 naming dose_reason). Without an order, what the nurse gives. A
    split methadone dose's session is held to its share of the daily total (issue #14)."""
    order = order_in_force(plan.pk, visit.date)
    if dose_mg is not None and dose_mg < 0:
        raise RuleViolation("dose_mg cannot be negative.", "dose_mg")
    if order is None:
        return dose_mg
    session = split_session(visit)
    ordered = share_of(order.dose_mg, plan, session)
    if dose_mg is None:
        return ordered
    if dose_mg > ordered:
        share = ""
        if is_split(plan):
            share = (f"session {session + 1} of the split dose: {session_share(plan, session) * 100:.0f}% of the "
                     f"daily {Decimal(order.dose_mg).normalize():f} mg, ")
        raise StateConflict(
            f"{guard.medication_name(plan.medication)}: {dose_mg.normalize():f} mg is more than the order in force "
            f"({share}{ordered.normalize():f} mg from {guard.day_text(order.effective_date)}, order #{order.pk}); a "
            "clinician changes the order first.",
            "dose_mg",
        )
    if dose_mg < ordered and not (reason or "").strip():
        raise RuleViolation(
            f"{dose_mg.normalize():f} mg is less than the order ({ordered.normalize():f} mg): give a dose_reason, "
            "for example \"patient declined part\".",
            "dose_reason",
        )
    return dose_mg


def _bottles_against_orders(
    plan: Plan, visit: Visit, doses: int, given: list[Decimal] | None, reason: str
) -> list[str | None] | None:
    """Each take-home bottle's amount (issue #14), bottle n covering the visit's date + n: the order in force that
    date by default (a split dose's bottle holds the daily total); above it is refused (409) like a dose, less needs
    a dose_reason (400). Without an order, what the nurse gives (or nothing recorded)."""
    if doses <= 0:
        if given:
            raise RuleViolation("take_home_mg: no take-home bottles are handed out at this visit.", "take_home_mg")
        return None
    if given is not None and len(given) != doses:
        raise RuleViolation(
            f"take_home_mg: give one amount per take-home bottle ({doses}), not {len(given)}.", "take_home_mg"
        )
    amounts: list[str | None] = []
    for n in range(1, doses + 1):
        day = visit.date + timedelta(days=n)
        order = order_in_force(plan.pk, day)
        asked = given[n - 1] if given is not None else None
        if order is None:
            amounts.append(None if asked is None else f"{asked:.2f}")
            continue
        ordered = Decimal(order.dose_mg)
        if asked is None:
            amounts.append(f"{ordered:.2f}")
            continue
        if asked > ordered:
            raise StateConflict(
                f"{guard.medication_name(plan.medication)}: the take-home bottle for {guard.day_text(day)} holds "
                f"{asked.normalize():f} mg, more than the order in force that day ({ordered.normalize():f} mg, order "
                f"#{order.pk}); a clinician changes the order first.",
                "take_home_mg",
            )
        if asked < ordered and not (reason or "").strip():
            raise RuleViolation(
                f"take_home_mg: the bottle for {guard.day_text(day)} holds {asked.normalize():f} mg, less than the "
                f"order ({ordered.normalize():f} mg): give a dose_reason.",
                "dose_reason",
            )
        amounts.append(f"{asked:.2f}")
    return amounts


def _restart_treatment(plan: Plan, start: date) -> None:
    """Re-admission: treatment day 1 is this dose (auditlog records the change with the request's actor)."""
    plan.treatment_start = start
    plan.save(update_fields=["treatment_start", "updated"])


def _excuse_covered(visit: Visit, plan: Plan, by: Any) -> None:
    """API.md v1.1: the scheduled visits on dates the take-homes cover become excused."""
    assert visit.covered_through is not None
    covered = (
        Visit.objects.select_for_update()
        .filter(
            patient_id=visit.patient_id, kind="dose", plan__medication=plan.medication, status="scheduled",
            date__gt=visit.date, date__lte=visit.covered_through,
        )
        .order_by("id")
    )
    reason = f"covered by take-homes from {visit.date.isoformat()}"
    for other in covered:
        _swap(other, ["scheduled"], by, status="excused", status_reason=reason, edited=True)


@transaction.atomic
def visit_mark_missed(*, visit: Visit, by: Any) -> Visit:
    """A person records a no-show (FHIR `noshow`): scheduled → missed, once the visit's window has ended — the
    same change the missed sweep makes; the next sweep applies the missed-dose ladder to it (DOMAIN §4). A
    checked-in visit is never missed: the patient is in the building."""
    _require_status(visit, ["scheduled"])
    now = timezone.now()
    if visit.end is not None and visit.end > now:
        local = timezone.localtime(visit.end, timezone=_zone(visit.clinic)).strftime("%H:%M")
        raise RuleViolation(f"This visit's window is still open until {local}: it can be marked missed after that.")
    return _swap(visit, ["scheduled"], by, status="missed", missed_at=now)


def _reason(reason: str) -> str:
    text = (reason or "").strip()
    if not text:
        raise RuleViolation("Give a reason.", "reason")
    return text[:300]


@transaction.atomic
def visit_cancel(*, visit: Visit, reason: str, by: Any) -> Visit:
    """scheduled/checked_in → cancelled: the slot is freed; regeneration never recreates the visit."""
    text = _reason(reason)
    _require_status(visit, OPEN_STATUSES)
    return _swap(visit, OPEN_STATUSES, by, status="cancelled", status_reason=text, edited=True)


@transaction.atomic
def visit_excuse(*, visit: Visit, reason: str, by: Any) -> Visit:
    """A visit the patient need not attend (or a missed one a person excuses): it is not counted as missed."""
    text = _reason(reason)
    allowed = (*OPEN_STATUSES, "missed")
    _require_status(visit, allowed)
    return _swap(visit, allowed, by, status="excused", status_reason=text, edited=True)


@transaction.atomic
def assessment_record(*, visit: Visit, items: dict[str, Any], by: Any, scale: str = "cows") -> Assessment:
    """A nurse or clinician scores the COWS at a visit (issue #14); the total is computed, items validated."""
    if not has_role(by, DOSING):
        raise PermissionDenied("Only nurses, clinicians and admins record assessments.")
    if scale != "cows":
        raise RuleViolation("scale: only \"cows\" (the Clinical Opiate Withdrawal Scale) is recorded.", "scale")
    _not_in_future(visit, "assessed")
    try:
        score = cows.total(items)
    except cows.InvalidAssessment as exc:
        raise RuleViolation(str(exc), "items") from exc
    return Assessment.objects.create(
        visit=visit, patient_id=visit.patient_id, scale=scale, items=dict(items), total=score,
        created_by=by if getattr(by, "pk", None) else None,
    )
