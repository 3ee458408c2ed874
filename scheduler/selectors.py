"""Reads for the scheduler: ORM rows → the engine's plain values, with queries decided here."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from typing import Any, Protocol

from django.db.models import QuerySet

from scheduler import engine
from scheduler.models import Clinic, Closure, DosingWindow, Pause, Plan, RuleSet
from scheduler.rules import DEFAULT_PRESET, PRESETS, Rules


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


def plan_spec(
    plan: PlanFields,
    *,
    pauses: Iterable[Pause] | None = None,
    last_injection_date: date | None = None,
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
    )


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
    """Caches each clinic's engine calendar and rules for one job run (one query per clinic)."""

    def __init__(self) -> None:
        self._cache: dict[int, tuple[engine.Calendar, Rules]] = {}

    def get(self, clinic: Clinic) -> tuple[engine.Calendar, Rules]:
        if clinic.pk not in self._cache:
            self._cache[clinic.pk] = (calendar_for_clinic(clinic), rules_for_clinic(clinic))
        return self._cache[clinic.pk]
