"""Reads for the scheduler: ORM rows → the engine's plain values, with queries decided here."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from django.db.models import QuerySet

from scheduler import engine
from scheduler.models import Clinic, Closure, DosingWindow, Pause, Plan, RuleSet
from scheduler.rules import DEFAULT_PRESET, PRESETS, Rules
from scheduler.timeutil import local_date


def rules_for_clinic(clinic: Clinic) -> Rules:
    if clinic.rule_set_id is None:
        return Rules.from_dict({**PRESETS[DEFAULT_PRESET], "name": DEFAULT_PRESET})
    rule_set: RuleSet = clinic.rule_set  # type: ignore[assignment]
    return rule_set.to_rules()


def window_value(window: DosingWindow) -> engine.Window:
    return engine.Window(
        id=window.pk,
        weekdays=frozenset(window.weekdays),
        start=window.start,
        end=window.end,
        services=frozenset(window.services),
        capacity=window.capacity,
    )


def closure_value(closure: Closure) -> engine.Closure:
    return engine.Closure(date=closure.date, services=frozenset(closure.services), reason=closure.reason)


def calendar_for_clinic(
    clinic: Clinic,
    *,
    windows: Iterable[DosingWindow] | None = None,
    closures: Iterable[Closure] | None = None,
) -> engine.Calendar:
    if windows is None:
        windows = DosingWindow.objects.filter(clinic=clinic)
    if closures is None:
        closures = Closure.objects.filter(clinic=clinic)
    return engine.Calendar(
        tz=clinic.timezone,
        windows=tuple(window_value(w) for w in windows),
        closures=tuple(closure_value(c) for c in closures),
    )


def pause_value(pause: Pause) -> engine.Pause:
    return engine.Pause(start=pause.start, end=pause.end, reason=pause.reason)


class PlanFields(Protocol):
    """What the engine needs of a plan: a Plan row, or the missed sweep's plain-value tuple."""

    @property
    def pk(self) -> Any: ...
    @property
    def medication(self) -> str: ...
    @property
    def start_date(self) -> date: ...
    @property
    def treatment_start(self) -> date: ...
    @property
    def end_date(self) -> date | None: ...
    @property
    def doses_per_day(self) -> int: ...
    @property
    def min_interval_minutes(self) -> int: ...
    @property
    def interval_days(self) -> int | None: ...
    @property
    def attendance_weekdays(self) -> Any: ...
    @property
    def attendance_every_weeks(self) -> int: ...


# The plan columns the engine reads (PlanFields): what a read that feeds `plan_spec` loads, the rolling generation's
# `.only()` and the missed sweep's value rows alike, so a field the engine starts reading is added to both.
PLAN_SPEC_FIELDS = (
    "medication",
    "start_date",
    "treatment_start",
    "end_date",
    "doses_per_day",
    "min_interval_minutes",
    "interval_days",
    "attendance_weekdays",
    "attendance_every_weeks",
)


def plan_spec(
    plan: PlanFields,
    *,
    pauses: Iterable[Pause] | None = None,
    last_injection_date: date | None = None,
    first_injection_from: date | None = None,
) -> engine.PlanSpec:
    if pauses is None:
        pauses = Pause.objects.filter(plan_id=plan.pk)
    return engine.PlanSpec(
        medication=plan.medication,
        start_date=plan.start_date,
        treatment_start=plan.treatment_start,
        end_date=plan.end_date,
        doses_per_day=plan.doses_per_day,
        min_interval_minutes=plan.min_interval_minutes,
        interval_days=plan.interval_days,
        attendance_weekdays=frozenset(plan.attendance_weekdays or range(7)),
        attendance_every_weeks=plan.attendance_every_weeks or 1,
        pauses=tuple(pause_value(p) for p in pauses),
        last_injection_date=last_injection_date,
        first_injection_from=first_injection_from,
        takehome_suspended_from=_takehome_suspended_from(plan),
    )


def _takehome_suspended_from(plan: Any) -> date | None:
    """The date earned take-homes are suspended from, or None (the sweep's value rows carry no such field)."""
    if getattr(plan, "takehome_approved", True):
        return None
    return getattr(plan, "takehome_suspended_on", None) or date.min


def active_plans(*, clinic_ids: Iterable[int] | None = None, on: date | None = None) -> QuerySet[Plan]:
    qs = Plan.objects.filter(status="active").select_related("patient__clinic__rule_set")
    if clinic_ids is not None:
        qs = qs.filter(patient__clinic_id__in=list(clinic_ids))
    if on is not None:
        qs = qs.exclude(end_date__lt=on)
    return qs.order_by("id")


def pauses_by_plan(plan_ids: Iterable[int]) -> dict[int, list[Pause]]:
    grouped: dict[int, list[Pause]] = defaultdict(list)
    for pause in Pause.objects.filter(plan_id__in=list(plan_ids)):
        grouped[pause.plan_id].append(pause)
    return grouped


class ClinicCalendars:
    """Caches each clinic's engine calendar and rules for one job run.

    `rules`: rule sets the caller has parsed already (the missed sweep's clinic read), by clinic id; others are
    parsed here. `load` reads the calendars of many clinics in two queries (their windows, their closures), where
    `get` of a clinic not loaded reads its own two (issue #16: a sweep whose plans spanned N clinics sent 2 × N)."""

    def __init__(self, rules: Mapping[int, Rules] | None = None) -> None:
        self._cache: dict[int, tuple[engine.Calendar, Rules]] = {}
        self._rules = dict(rules or {})

    def get(self, clinic: Clinic) -> tuple[engine.Calendar, Rules]:
        if clinic.pk not in self._cache:
            self.load([clinic])
        return self._cache[clinic.pk]

    def load(self, clinics: Iterable[Clinic]) -> None:
        """Read the calendars of the clinics not cached yet: every window and closure of theirs, in the models'
        order (as `calendar_for_clinic` reads one clinic's), as the engine's values straight from the columns it
        uses (no model instances: a clinic's three years of closures were ≈ 90% of a steady sweep's reads)."""
        todo = {clinic.pk: clinic for clinic in clinics if clinic.pk not in self._cache}
        if not todo:
            return
        ids = list(todo)
        windows: dict[int, list[engine.Window]] = defaultdict(list)
        closures: dict[int, list[engine.Closure]] = defaultdict(list)
        for clinic_id, pk, weekdays, start, end, services, capacity in DosingWindow.objects.filter(
            clinic_id__in=ids
        ).values_list("clinic_id", "id", "weekdays", "start", "end", "services", "capacity"):
            windows[clinic_id].append(
                engine.Window(
                    id=pk,
                    weekdays=frozenset(weekdays),
                    start=start,
                    end=end,
                    services=frozenset(services),
                    capacity=capacity,
                )
            )
        for clinic_id, day, services, reason in Closure.objects.filter(clinic_id__in=ids).values_list(
            "clinic_id", "date", "services", "reason"
        ):
            closures[clinic_id].append(engine.Closure(date=day, services=frozenset(services), reason=reason))
        for pk, clinic in todo.items():
            rules = self._rules.get(pk)
            if rules is None:
                rules = rules_for_clinic(clinic)
            calendar = engine.Calendar(tz=clinic.timezone, windows=tuple(windows[pk]), closures=tuple(closures[pk]))
            self._cache[pk] = (calendar, rules)


# --- take-home reviews (DOMAIN §6) ------------------------------------------------------------------


@dataclass(frozen=True)
class TakeHomeReview:
    """When a plan's earned take-homes were last reviewed by a clinician, and when the next review is due."""

    plan_id: int
    reviewed_at: datetime | None
    reviewed_by_id: int | None
    due_on: date  # the clinic-local date by which a clinician must review
    overdue: bool  # due_on is today or earlier


def earns_takehomes(plan: Plan, open_weekdays: frozenset[int]) -> bool:
    """An oral plan whose pattern leaves a weekday the clinic doses on without a visit (or skips weeks):
    those take-homes are earned, a clinician's decision. Days the clinic is closed anyway (closure
    take-homes, 42 CFR 8.12(i)(1)) are not."""
    if plan.medication not in engine.ORAL_DAILY or plan.status != "active":
        return False
    if plan.attendance_every_weeks > 1:
        return True
    return bool(open_weekdays - set(plan.attendance_weekdays))


def takehome_reviews(
    plans: Iterable[Plan],
    *,
    now: datetime,
    windows: Iterable[DosingWindow] | None = None,
    rules: dict[int, Rules] | None = None,
) -> dict[int, TakeHomeReview]:
    """Review state for each plan that earns take-homes (others are left out). Plans come with their
    patient's clinic (and rule set) loaded; the clinics' windows are read in one query. `windows` (every window
    of the plans' clinics) and `rules` (parsed, by clinic id), when the caller has them, save reading them again."""
    plans = list(plans)
    clinics = {p.patient.clinic_id: p.patient.clinic for p in plans}
    open_days: dict[tuple[int, str], set[int]] = defaultdict(set)
    if windows is None:
        windows = DosingWindow.objects.filter(clinic_id__in=list(clinics))
    for window in windows:
        for service in window.services:
            open_days[(window.clinic_id, service)].update(window.weekdays)
    given = rules or {}
    rules = {
        clinic_id: given[clinic_id] if clinic_id in given else rules_for_clinic(clinic)
        for clinic_id, clinic in clinics.items()
    }
    reviews: dict[int, TakeHomeReview] = {}
    for plan in plans:
        clinic = plan.patient.clinic
        if not earns_takehomes(plan, frozenset(open_days[(clinic.pk, plan.medication)])):
            continue
        today = local_date(now, clinic.timezone)
        reviewed = plan.takehome_approved_at
        # Never reviewed: due from the plan's start (take-homes need a clinician's decision before any is earned).
        due = (
            local_date(reviewed, clinic.timezone) + timedelta(days=rules[clinic.pk].takehome_review_days)
            if reviewed is not None
            else plan.start_date
        )
        reviews[plan.pk] = TakeHomeReview(plan.pk, reviewed, plan.takehome_approved_by_id, due, due <= today)
    return reviews


def takehome_reviews_due(*, clinic: Clinic, now: datetime) -> list[tuple[Plan, TakeHomeReview]]:
    """The clinic's active oral plans whose take-home review is due today or overdue, most overdue first."""
    plans = list(
        Plan.objects.filter(patient__clinic=clinic, status="active", medication__in=sorted(engine.ORAL_DAILY))
        .select_related("patient__clinic__rule_set")
        .order_by("id")
    )
    reviews = takehome_reviews(plans, now=now)
    due = [(plan, reviews[plan.pk]) for plan in plans if plan.pk in reviews and reviews[plan.pk].overdue]
    return sorted(due, key=lambda item: (item[1].due_on, item[0].pk))
