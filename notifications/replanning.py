"""When the calendar or a visit changes, the ledger and the outbox follow — in one transaction.

Imports go one way, notifications → visits → scheduler (STYLE.md): scheduler.services validates and
writes clinics, windows, closures, plans and pauses; visits.generation re-materialises the visits such a
change moves (API.md: "Creating or changing a plan (re)generates its future visits at once");
visits.services books and moves single visits. This module sits on top and re-plans the reminders of
every visit that changed, so the outbox row is written in the same transaction as its cause.
Every shell — API views, pages, admin, commands — calls these instead of the lower services.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from notifications.reminders import callback_text_create, reminders_sync
from scheduler import services as calendar
from scheduler.errors import RuleViolation, StateConflict
from scheduler.models import Clinic, Closure, DosingWindow, Patient, Pause, Plan, RuleSet
from scheduler.timeutil import local_date
from visits import screening
from visits import services as ledger
from visits.generation import GenerationResult, clinic_visits_regenerate, plan_visits_regenerate
from visits.models import Visit
from visits.selectors import slots_for

logger = logging.getLogger(__name__)


def _follow(result: GenerationResult) -> GenerationResult:
    """Reminders for created and changed visits; removed visits' reminders are refused at send time."""
    reminders_visits(visit_ids=[*result.created_ids, *result.changed_ids])
    return result


def reminders_visits(*, visit_ids: Iterable[int]) -> int:
    ids = list(visit_ids)
    return reminders_sync(visit_ids=ids) if ids else 0


def clinic_changed(*, clinic: Clinic, refuse: bool = True) -> GenerationResult:
    """A clinic's windows, closures, zone or rules changed: regenerate its plans, re-plan reminders.

    A visit the change leaves without room in any window (or a window left holding more visits than its
    capacity) raises StateConflict (409) naming the date and the window, and the caller's transaction
    rolls the change back (API.md v1.1). `refuse=False` is for changes no person is waiting on: visits
    without room are left out and staff get a task instead.
    """
    with transaction.atomic():
        return _follow(clinic_visits_regenerate(clinic=clinic, refuse=refuse))


def plan_changed(*, plan: Plan, refuse: bool = True) -> GenerationResult:
    """A plan or its pauses changed: regenerate its visits, re-plan reminders. A visit without room refuses the
    change (409 naming the date and the window) unless `refuse` is False, as in clinic_changed."""
    with transaction.atomic():
        return _follow(plan_visits_regenerate(plan=plan, refuse=refuse))


# --- the calendar -------------------------------------------------------------------------------


def clinic_update(*, clinic: Clinic, data: dict[str, Any]) -> Clinic:
    with transaction.atomic():
        old_timezone = clinic.timezone
        clinic = calendar.clinic_update(clinic=clinic, data=data)
        if clinic.timezone != old_timezone:
            # Window instants are local wall times: a new zone moves every future visit.
            clinic_changed(clinic=clinic)
        return clinic


def rule_set_copy_preset(*, preset_name: str, clinic: Clinic) -> RuleSet:
    with transaction.atomic():
        rule_set = calendar.rule_set_copy_preset(preset_name=preset_name, clinic=clinic)
        clinic_changed(clinic=clinic)
        return rule_set


def rule_set_update(*, clinic: Clinic, rules: dict[str, Any], by: Any = None) -> RuleSet:
    """New rules move the clinic's future visits (take-home days, ladder, grace). No person is refused a
    rule change because a window is full: visits without room are left out and staff get a task."""
    with transaction.atomic():
        rule_set = calendar.rule_set_update(clinic=clinic, rules=rules, by=by)
        clinic_changed(clinic=clinic, refuse=False)
        return rule_set


def window_create(*, clinic: Clinic, value: calendar.WindowInput) -> DosingWindow:
    with transaction.atomic():
        window = calendar.window_create(clinic=clinic, value=value)
        clinic_changed(clinic=clinic)
        return window


def window_update(*, window: DosingWindow, changes: dict[str, Any]) -> DosingWindow:
    with transaction.atomic():
        window = calendar.window_update(window=window, changes=changes)
        clinic_changed(clinic=window.clinic)
        return window


def window_delete(*, window: DosingWindow) -> None:
    with transaction.atomic():
        clinic = window.clinic
        calendar.window_delete(window=window)
        clinic_changed(clinic=clinic)


def closure_create(
    *, clinic: Clinic, date: date, reason: str = "", services: Sequence[str] = (), confirm_past: bool = False
) -> Closure:
    with transaction.atomic():
        closure = calendar.closure_create(
            clinic=clinic, date=date, reason=reason, services=services, confirm_past=confirm_past
        )
        clinic_changed(clinic=clinic)
        return closure


def closure_delete(*, closure: Closure) -> None:
    with transaction.atomic():
        clinic = closure.clinic
        calendar.closure_delete(closure=closure)
        clinic_changed(clinic=clinic)


def holidays_import(
    *, clinic: Clinic, year: int, services: Sequence[str] | None = calendar.ORAL_SERVICES
) -> calendar.HolidayImport:
    with transaction.atomic():
        result = calendar.holidays_import(clinic=clinic, year=year, services=services)
        if result.created:
            clinic_changed(clinic=clinic)
        return result


def plan_create(*, patient: Patient, data: dict[str, Any]) -> Plan:
    with transaction.atomic():
        plan = calendar.plan_create(patient=patient, data=data)
        plan_changed(plan=plan)
        return plan


def plan_update(*, plan: Plan, data: dict[str, Any]) -> Plan:
    with transaction.atomic():
        plan = calendar.plan_update(plan=plan, data=data)
        plan_changed(plan=plan)
        return plan


def plan_takehome_review(*, plan: Plan, by: Any, approved: bool = True, note: str = "") -> Plan:
    """A clinician's take-home decision (API.md v1.1): approving or suspending changes the plan's calendar
    (take-home days or visit days), so its future visits follow at once."""
    with transaction.atomic():
        was = plan.takehome_approved
        plan = calendar.plan_takehome_review(plan=plan, by=by, approved=approved, note=note)
        if plan.takehome_approved != was:
            # Suspending take-homes is a safety decision: full windows never block it. The visit days it adds
            # that find no room are left out and staff get a task to book them (visits.generation).
            plan_changed(plan=plan, refuse=plan.takehome_approved)
        return plan


def pause_create(*, plan: Plan, start: date, end: date, reason: str, note: str = "", actor: Any = None) -> Pause:
    with transaction.atomic():
        pause = calendar.pause_create(plan=plan, start=start, end=end, reason=reason, note=note, actor=actor)
        plan_changed(plan=plan)
        return pause


# --- single visits ------------------------------------------------------------------------------


def visit_book(
    *, patient: Patient, kind: str, date: date, plan: Plan | None = None, start: datetime | None = None, by: Any
) -> Visit:
    with transaction.atomic():
        visit = ledger.visit_book(patient=patient, kind=kind, date=date, plan=plan, start=start, by=by)
        if visit.plan_id is not None:
            # Without a plan a visit has no medication, so no reminder policy plans it a text, and a visit booked
            # in this transaction has no messages to skip: the sync would read the visit and its messages to do
            # nothing (a counselling booking; issue #16, a quarter of a booking's CPU).
            reminders_visits(visit_ids=[visit.pk])
        return visit


def visit_reschedule(*, visit: Visit, date: date, start: datetime | None = None, by: Any) -> Visit:
    with transaction.atomic():
        visit = ledger.visit_reschedule(visit=visit, date=date, start=start, by=by)
        reminders_visits(visit_ids=[visit.pk])
        return visit


def visit_cancel(*, visit: Visit, reason: str, by: Any) -> Visit:
    with transaction.atomic():
        visit = ledger.visit_cancel(visit=visit, reason=reason, by=by)
        reminders_visits(visit_ids=[visit.pk])
        return visit


def visit_excuse(*, visit: Visit, reason: str, by: Any) -> Visit:
    with transaction.atomic():
        visit = ledger.visit_excuse(visit=visit, reason=reason, by=by)
        reminders_visits(visit_ids=[visit.pk])
        return visit


# A drawn call-back leaves the patient this long at least to come: a window closing sooner is skipped.
CALLBACK_LEAD = timedelta(hours=2)


def callback_start(*, patient: Patient, by: Any, drawn: bool = False) -> Visit:
    """A clinician (or the hourly draw, `drawn`) calls a patient holding take-homes back [PRACTICE, DOMAIN §1:
    within 24 h, with all their bottles]: a `callback` visit in the first window offering call-backs that opens
    within the next 24 hours and has room (visits.screening.callback_check says who may be called back), and a
    neutral text asking them to contact the clinic today (notifications.reminders.callback_text_create)."""
    now = timezone.now()
    screening.callback_check(patient=patient, by=by, now=now, drawn=drawn)
    clinic = patient.clinic
    today = local_date(now, clinic.timezone)
    deadline = now + timedelta(hours=24)
    ends_after = now + CALLBACK_LEAD if drawn else now
    for day in (today, today + timedelta(days=1)):
        for slot in slots_for(clinic, day, "callback"):
            if slot.end <= ends_after or slot.start >= deadline:
                continue
            try:
                with transaction.atomic():
                    # A window open now is booked without a start (its own start); a later one by its start.
                    start = slot.start if slot.start > now else None
                    visit = visit_book(patient=patient, kind="callback", date=day, start=start, by=by)
                    callback_text_create(visit=visit, now=now)
                    return visit
            except (RuleViolation, StateConflict):
                continue  # closed, full or the patient is booked then: try the next window
    raise StateConflict("No window offering call-backs has room in the next 24 hours.")


def callbacks_draw(*, now: datetime | None = None, rng: random.Random | None = None) -> list[int]:
    """The hourly call-back draw (issue #15) at every clinic: each take-home holder drawn (rule-set
    `callback_rates`, SystemRandom) is called back. Returns the call-back visits made; a patient with no room in
    the next 24 hours is skipped (drawn again another hour), one failure never stops the others."""
    now = now or timezone.now()
    made: list[int] = []
    for clinic in Clinic.objects.select_related("rule_set").order_by("id"):
        try:
            drawn = screening.callbacks_drawn(clinic=clinic, now=now, rng=rng)
        except Exception:  # noqa: BLE001 — one bad clinic never stops the draw (STYLE.md)
            logger.warning("callbacks_draw: clinic %s failed", clinic.pk, exc_info=True)
            continue
        for patient in Patient.objects.filter(pk__in=drawn).select_related("clinic").order_by("id"):
            try:
                made.append(callback_start(patient=patient, by=None, drawn=True).pk)
            except (StateConflict, RuleViolation) as exc:
                logger.info("callbacks_draw: patient %s not called back: %s", patient.pk, type(exc).__name__)
    return made


def callback_bottles_record(*, visit: Visit, bottles_brought: int, by: Any) -> Visit:
    """Staff count the bottles brought to a call-back; a short count suspends earned take-homes, so the patient's
    calendar follows at once (take-home days become visit days; no full window refuses a safety decision)."""
    with transaction.atomic():
        count = screening.callback_bottles_record(visit=visit, bottles_brought=bottles_brought, by=by)
        _regenerate(count.suspended_plan_ids)
        return count.visit


def callback_check_in(
    *, visit: Visit, by: Any, bottles_brought: int, bottles_returned: bool | None = None, bottles_note: str = ""
) -> Visit:
    """Check-in of a call-back visit with its bottle count, in one transaction."""
    with transaction.atomic():
        visit = ledger.visit_check_in(
            visit=visit, by=by, bottles_returned=bottles_returned, bottles_note=bottles_note
        )
        return callback_bottles_record(visit=visit, bottles_brought=bottles_brought, by=by)


def callbacks_missed_escalate() -> list[int]:
    """Missed call-backs of the last few days raise their escalation and suspend earned take-homes; the calendars
    follow. (Older missed call-backs, from before this rule, are left to the escalations page's list.)"""
    with transaction.atomic():
        plan_ids = screening.callbacks_missed_escalate(since=timezone.now().date() - timedelta(days=3))
        _regenerate(plan_ids)
        return plan_ids


def _regenerate(plan_ids: Iterable[int]) -> None:
    for plan in Plan.objects.filter(id__in=list(plan_ids)).select_related("patient__clinic__rule_set"):
        plan_changed(plan=plan, refuse=False)
