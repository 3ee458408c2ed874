"""Writes for the scheduler: clinics, windows, closures, patients, plans, pauses, staff, holidays.

Every function is keyword-only and the outermost call is atomic (STYLE.md). Rules that refuse a
change raise scheduler.errors.RuleViolation (400) or StateConflict (409); the API maps them.
These only validate and write the calendar. The visits and reminders a change moves follow in
notifications.replanning, which every shell calls: imports go notifications → visits → scheduler.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Iterable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import phonenumbers
from auditlog.context import auditlog_value, set_actor
from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from scheduler import bounds, engine
from scheduler.errors import RuleViolation, StateConflict
from scheduler.models import (
    MEDICATIONS,
    SERVICES,
    Clinic,
    Closure,
    DoseOrder,
    DosingWindow,
    Patient,
    Pause,
    Plan,
    RuleSet,
    StaffProfile,
    validate_timezone,
)
from scheduler.permissions import CLINICAL, has_role
from scheduler.privacy_words import find_all_forbidden_words
from scheduler.rules import DEFAULT_PRESET, PRESETS, Rules
from scheduler.selectors import calendar_for_clinic, pauses_by_plan, plan_spec, rules_for_clinic, window_value
from scheduler.timeutil import local_date

ORAL_SERVICES = ("methadone", "buprenorphine")


# --- helpers ----------------------------------------------------------------------------------------


def phone_to_e164(raw: str, *, country: str, field_name: str = "phone") -> str:
    """National or international input → E.164, parsed with the clinic's country; blank stays blank."""
    raw = (raw or "").strip()
    if not raw:
        return ""
    try:
        number = phonenumbers.parse(raw, (country or "US").upper())
    except phonenumbers.NumberParseException as exc:
        raise RuleViolation(f"{raw!r} is not a phone number ({exc}).", field=field_name) from exc
    if not phonenumbers.is_valid_number(number):
        raise RuleViolation(
            f"{raw!r} is not a valid phone number for {country or 'US'}; give it with its country code "
            "(for example +1 212 555 0100) or in the clinic's national format.",
            field=field_name,
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def clinic_today(clinic: Clinic) -> date:
    return local_date(timezone.now(), clinic.timezone)


def _check_sms_name(value: str, extra: Iterable[str] = ()) -> None:
    # DOMAIN §5 (42 CFR Part 2): the neutral sender name may not reveal treatment. The same list (and the rule
    # set's own words) as every text (issue #15).
    found = find_all_forbidden_words(value, extra)
    if found:
        raise RuleViolation(
            f"The text-message name must be neutral (42 CFR Part 2): it may not contain {', '.join(found)}.",
            field="sms_name",
        )


def _check_services(services: Sequence[str], field_name: str = "services") -> None:
    unknown = [s for s in services if s not in SERVICES]
    if unknown:
        raise RuleViolation(f"Unknown service(s) {unknown}; allowed: {', '.join(SERVICES)}.", field=field_name)
    if len(set(services)) != len(services):
        raise RuleViolation("Each service may appear once.", field=field_name)


def _full_clean(instance: Any, exclude: Iterable[str] = ()) -> None:
    """Model validators (time zone, weekdays) as 400s naming their field."""
    try:
        instance.full_clean(exclude=list(exclude), validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        name, messages = next(iter(exc.message_dict.items()))
        raise RuleViolation(" ".join(messages), field=None if name == "__all__" else name) from exc


def _update_fields(instance: Any, changes: dict[str, Any], allowed: Iterable[str]) -> list[str]:
    changed = []
    for name in allowed:
        if name in changes and getattr(instance, name) != changes[name]:
            setattr(instance, name, changes[name])
            changed.append(name)
    return changed


# --- rule sets and clinics --------------------------------------------------------------------------


@transaction.atomic
def rule_set_copy_preset(*, preset_name: str = DEFAULT_PRESET, clinic: Clinic | None = None) -> RuleSet:
    """A clinic edits its own copy of a preset; presets themselves stay read-only templates."""
    if preset_name not in PRESETS:
        raise RuleViolation(f"Unknown rule-set preset {preset_name!r}; one of {', '.join(PRESETS)}.", field="preset")
    preset = RuleSet.objects.filter(name=preset_name, is_preset=True).first()
    rules = dict(preset.rules) if preset is not None else dict(PRESETS[preset_name])
    label = f"{clinic.name}: {preset_name}" if clinic is not None else f"Copy of {preset_name}"
    rule_set = RuleSet.objects.create(name=label[:120], is_preset=False, rules=rules)
    if clinic is not None:
        clinic.rule_set = rule_set
        clinic.save(update_fields=["rule_set", "updated"])
    return rule_set


def _rule_field(message: str) -> str | None:
    """Rules.from_dict names the field first ("ladder.hold: ..."); the API's error key is that field."""
    head, sep, _ = message.partition(":")
    return head.strip() if sep and " " not in head.strip() else None


@transaction.atomic
def rule_set_update(*, clinic: Clinic, rules: dict[str, Any], by: Any = None) -> RuleSet:
    """Replace a clinic's rules (the shape of Rules.to_dict(), validated by Rules.from_dict).

    A clinic on a preset, on no rule set, or on a rule set another clinic shares gets its own copy first:
    presets stay read-only templates and one clinic's edit never changes another's rules. RuleSet is
    registered with auditlog, so the write leaves an entry naming `by` (or the request's actor).
    """
    try:
        value = Rules.from_dict(rules)
    except (ValueError, TypeError) as exc:
        raise RuleViolation(str(exc), field=_rule_field(str(exc))) from exc
    stored = value.to_dict()
    with ExitStack() as stack:
        context = auditlog_value.get(None)
        if by is not None and getattr(by, "is_authenticated", False) and not (context and context.get("actor")):
            stack.enter_context(set_actor(by))
        rule_set = clinic.rule_set
        shared = rule_set is not None and Clinic.objects.filter(rule_set=rule_set).exclude(pk=clinic.pk).exists()
        if rule_set is None or rule_set.is_preset or shared:
            rule_set = RuleSet.objects.create(name=f"{clinic.name}: {value.name}"[:120], is_preset=False, rules=stored)
            clinic.rule_set = rule_set
            clinic.save(update_fields=["rule_set", "updated"])
        else:
            rule_set.rules = stored
            rule_set.save(update_fields=["rules", "updated"])
    return rule_set


CLINIC_FIELDS = ("name", "timezone", "phone", "sms_name", "country", "subdivision")


def _clean_clinic(clinic: Clinic) -> None:
    clinic.country = (clinic.country or "").upper()
    clinic.subdivision = (clinic.subdivision or "").upper()
    if not re.fullmatch(r"[A-Z]{2}", clinic.country):
        raise RuleViolation("Give an ISO 3166 two-letter country code, for example US.", field="country")
    try:
        validate_timezone(clinic.timezone)
    except ValidationError as exc:
        raise RuleViolation(" ".join(exc.messages), field="timezone") from exc
    _check_sms_name(clinic.sms_name, rules_for_clinic(clinic).privacy_extra)
    clinic.phone = phone_to_e164(clinic.phone, country=clinic.country)


@transaction.atomic
def clinic_create(
    *,
    name: str,
    sms_name: str,
    timezone: str = "America/New_York",  # noqa: A002 - the API field name
    phone: str = "",
    country: str = "US",
    subdivision: str = "",
    preset: str = DEFAULT_PRESET,
    created_by: Any = None,
) -> Clinic:
    """A new clinic gets its own copy of a preset rule set; a non-superuser creator joins it."""
    clinic = Clinic(
        name=name, sms_name=sms_name, timezone=timezone, phone=phone, country=country, subdivision=subdivision
    )
    _clean_clinic(clinic)
    clinic.save()
    rule_set_copy_preset(preset_name=preset, clinic=clinic)
    profile = getattr(created_by, "staff", None) if created_by is not None else None
    if profile is not None:
        profile.clinics.add(clinic)
        created_by.__dict__.pop("_dosewise_clinic_ids", None)
    return clinic


@transaction.atomic
def clinic_update(*, clinic: Clinic, data: dict[str, Any]) -> Clinic:
    changed = _update_fields(clinic, data, CLINIC_FIELDS)
    if not changed:
        return clinic
    _clean_clinic(clinic)
    clinic.save(update_fields=[*changed, "phone", "country", "subdivision", "updated"])
    return clinic


# --- dosing windows ---------------------------------------------------------------------------------


@dataclass
class WindowInput:
    weekdays: list[int]
    start: time
    end: time
    services: list[str]
    capacity: int | None = None
    stations: int | None = None
    minutes_per_visit: int | None = None


def _window_minutes(start: time, end: time) -> int:
    return (datetime.combine(date.min, end) - datetime.combine(date.min, start)) // timedelta(minutes=1)


def _apply_window(window: DosingWindow, value: WindowInput) -> None:
    if not value.start < value.end:
        raise RuleViolation(
            f"A window must end after it starts on the same day ({value.start:%H:%M}–{value.end:%H:%M}).", field="end"
        )
    if not value.services:
        raise RuleViolation("Give at least one service this window offers.", field="services")
    _check_services(value.services)
    capacity = value.capacity
    if capacity is None and value.stations and value.minutes_per_visit:
        # DOMAIN §2: capacity = stations × window minutes ÷ minutes per visit, unless given directly.
        capacity = value.stations * _window_minutes(value.start, value.end) // value.minutes_per_visit
    if capacity is None:
        raise RuleViolation("Give capacity, or stations and minutes_per_visit to compute it.", field="capacity")
    if capacity < 1:
        raise RuleViolation("A window must take at least one visit a date.", field="capacity")
    window.weekdays = sorted(value.weekdays)
    window.start, window.end = value.start, value.end
    window.services = list(value.services)
    window.capacity = capacity
    window.stations, window.minutes_per_visit = value.stations, value.minutes_per_visit
    _full_clean(window, exclude=["clinic"])


def _active_diamorphine_plans(clinic: Clinic, on: date) -> list[Plan]:
    return list(
        Plan.objects.filter(patient__clinic=clinic, medication=engine.DIAMORPHINE, status="active")
        .exclude(end_date__lt=on)
        .order_by("id")
    )


def _guard_diamorphine_windows(clinic: Clinic, windows: list[engine.Window]) -> None:
    """DOMAIN §2: diamorphine cannot be taken home, so a window change may not strand a plan."""
    plans = _active_diamorphine_plans(clinic, clinic_today(clinic))
    if not plans:
        return
    calendar = calendar_for_clinic(clinic, windows=[])
    calendar = engine.Calendar(tz=calendar.tz, windows=tuple(windows), closures=calendar.closures)
    rules = rules_for_clinic(clinic)
    pauses = pauses_by_plan([p.pk for p in plans])
    failures: list[str] = []
    patients: set[int] = set()
    for plan in plans:
        try:
            engine.check_plan(plan_spec(plan, pauses=pauses.get(plan.pk, [])), calendar, rules)
        except engine.PlanNotSatisfiable as exc:
            failures.append(str(exc))
            patients.add(plan.patient_id)
    if failures:
        count = len(patients)
        raise RuleViolation(
            f"This change would leave {count} diamorphine patient{'s' if count != 1 else ''} without their "
            f"sessions ({failures[0]}); keep a diamorphine window or change those plans first."
        )


def _other_windows(clinic: Clinic, exclude_id: int) -> list[engine.Window]:
    return [window_value(w) for w in DosingWindow.objects.filter(clinic=clinic).exclude(pk=exclude_id)]


_WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _check_window_overlap(window: DosingWindow) -> None:
    """Two windows offering one service on one weekday may not overlap in time: capacity and the
    engine's choice of window would be ambiguous (touching ends, 10:00–10:00, are fine)."""
    others = DosingWindow.objects.filter(clinic_id=window.clinic_id, start__lt=window.end, end__gt=window.start)
    if window.pk is not None:
        others = others.exclude(pk=window.pk)
    for other in others.order_by("start", "id"):
        days = sorted(set(other.weekdays) & set(window.weekdays))
        shared = [s for s in window.services if s in other.services]
        if days and shared:
            # 409: the input is well formed; it conflicts with a window the clinic already has.
            raise StateConflict(
                f"start/end: this window overlaps the {other.start:%H:%M}–{other.end:%H:%M} window for "
                f"{', '.join(shared)} on {', '.join(_WEEKDAY_NAMES[d] for d in days)}; change its hours, days or "
                "services, or change that window's capacity instead."
            )


@transaction.atomic
def window_create(*, clinic: Clinic, value: WindowInput) -> DosingWindow:
    window = DosingWindow(clinic=clinic)
    _apply_window(window, value)
    _check_window_overlap(window)
    window.save()
    return window


@transaction.atomic
def window_update(*, window: DosingWindow, changes: dict[str, Any]) -> DosingWindow:
    window = DosingWindow.objects.select_for_update(of=("self",)).select_related("clinic__rule_set").get(pk=window.pk)
    stations = changes.get("stations", window.stations)
    minutes_per_visit = changes.get("minutes_per_visit", window.minutes_per_visit)
    capacity: int | None = window.capacity
    if "capacity" in changes:
        capacity = changes["capacity"]
    elif stations and minutes_per_visit and {"stations", "minutes_per_visit", "start", "end"} & set(changes):
        capacity = None  # computed again from the new span or stations
    value = WindowInput(
        weekdays=changes.get("weekdays", window.weekdays),
        start=changes.get("start", window.start),
        end=changes.get("end", window.end),
        services=changes.get("services", window.services),
        capacity=capacity,
        stations=stations,
        minutes_per_visit=minutes_per_visit,
    )
    _apply_window(window, value)
    _guard_diamorphine_windows(window.clinic, [*_other_windows(window.clinic, window.pk), window_value(window)])
    _check_window_overlap(window)
    window.save()
    return window


@transaction.atomic
def window_delete(*, window: DosingWindow) -> None:
    clinic = Clinic.objects.select_related("rule_set").get(pk=window.clinic_id)
    _guard_diamorphine_windows(clinic, _other_windows(clinic, window.pk))
    window.delete()


# --- closures ---------------------------------------------------------------------------------------


def diamorphine_patients_uncovered(*, clinic: Clinic, closure: engine.Closure) -> int:
    """How many patients an extra closure would leave short of their diamorphine sessions."""
    if not closure.closes(engine.DIAMORPHINE):
        return 0
    plans = _active_diamorphine_plans(clinic, closure.date)
    if not plans:
        return 0
    calendar, rules = calendar_for_clinic(clinic), rules_for_clinic(clinic)
    pauses = pauses_by_plan([p.pk for p in plans])
    return len(
        {
            plan.patient_id
            for plan in plans
            if engine.uncovered_by_closure(plan_spec(plan, pauses=pauses.get(plan.pk, [])), calendar, rules, closure)
        }
    )


def _guard_closure(clinic: Clinic, value: engine.Closure) -> None:
    uncovered = diamorphine_patients_uncovered(clinic=clinic, closure=value)
    if uncovered:
        raise RuleViolation(
            f"This closure would leave {uncovered} diamorphine patient{'s' if uncovered != 1 else ''} without a "
            f"session on {value.date.isoformat()}; limit it to other services or open a diamorphine window."
        )
    over = take_home_patients_over_limit(clinic=clinic, closure=value)
    if over:
        count, example = over
        raise RuleViolation(
            f"This closure would give {count} patient{'s' if count != 1 else ''} more take-home doses at once than "
            f"the rule set allows ({example}); open one of those days for dosing, or limit the closure to other "
            "services."
        )


def _closed_run(calendar: engine.Calendar, day: date, service: str) -> int:
    """The number of consecutive days around `day` on which `service` is not offered."""
    run, d = 0, day
    while run < 62 and calendar.closed_reason(d, service) is not None:
        run, d = run + 1, d - timedelta(days=1)
    d = day + timedelta(days=1)
    while run < 62 and calendar.closed_reason(d, service) is not None:
        run, d = run + 1, d + timedelta(days=1)
    return run


def take_home_patients_over_limit(*, clinic: Clinic, closure: engine.Closure) -> tuple[int, str] | None:
    """How many patients an extra closure would give more take-homes at once than their tier allows, and one
    example of the breach (issue #11: closure runs are settled when the closure is saved, never at the window).

    Only a run of closed days longer than the smallest tier can do that (the engine moves a visit before any
    shorter run), so most closures cost one calendar walk and no plan is simulated."""
    rules = rules_for_clinic(clinic)
    if not rules.closure_doses_count:
        return None  # 42 CFR 8.12(i)(3) (2001): closure doses are beyond the limits
    calendar = calendar_for_clinic(clinic)
    with_closure = engine.Calendar(calendar.tz, calendar.windows, (*calendar.closures, closure))
    smallest = min(t.max_supply for t in rules.takehome_tiers)
    services = [m for m in rules.takehome_medications if m in engine.ORAL_DAILY and closure.closes(m)]
    if not any(_closed_run(with_closure, closure.date, m) > smallest for m in services):
        return None
    plans = list(
        Plan.objects.filter(patient__clinic=clinic, status="active", medication__in=services)
        .exclude(end_date__lt=closure.date)
        .filter(start_date__lte=closure.date)
    )
    pauses = pauses_by_plan([p.pk for p in plans])
    patients: set[int] = set()
    example = ""
    for plan in plans:
        spec = plan_spec(plan, pauses=pauses.get(plan.pk, []))
        around = (closure.date - timedelta(days=62), closure.date)
        breaches = engine.takehome_breaches(spec, with_closure, rules, max(around[0], plan.start_date), around[1])
        if breaches:
            patients.add(plan.patient_id)
            example = example or f"MRN {plan.patient.mrn}: {breaches[0]}"
    return (len(patients), example) if patients else None


def _closures_overlap(a: Sequence[str], b: Sequence[str]) -> bool:
    """Two closures of one date overlap unless both name services and share none (empty = whole clinic)."""
    return not a or not b or bool(set(a) & set(b))


def _check_closure_date(clinic: Clinic, day: date, services: Sequence[str], *, confirm_past: bool) -> None:
    try:
        bounds.schedule_range().check(day)
    except bounds.BoundError as exc:
        raise RuleViolation(exc.message, field="date") from exc
    today = clinic_today(clinic)
    # Both refusals are 409s: the date is well formed; it conflicts with what has happened or exists.
    if day < today and not confirm_past:
        # Visits already completed that day would turn into "missed (closed)" ones: the admin must mean it.
        raise StateConflict(
            f"date: {day.isoformat()} is in the past (today is {today.isoformat()}): patients may already have "
            "been dosed that day. Confirm the past closure (confirm_past=true) to add it anyway; the answer lists "
            "the visits it affects."
        )
    for other in Closure.objects.filter(clinic=clinic, date=day).order_by("id"):
        if _closures_overlap(other.services, services):
            closed = ", ".join(other.services) or "the whole clinic"
            raise StateConflict(
                f"date: there is already a closure on {day.isoformat()} ({closed}"
                f"{': ' + other.reason if other.reason else ''}); remove it first or close other services."
            )


@transaction.atomic
def closure_create(
    *, clinic: Clinic, date: date, reason: str = "", services: Sequence[str] = (), confirm_past: bool = False
) -> Closure:
    """A closure of a date that is not in the past (unless confirmed) and overlaps no closure of that date."""
    _check_services(services)
    _check_closure_date(clinic, date, services, confirm_past=confirm_past)
    value = engine.Closure(date=date, services=frozenset(services), reason=reason)
    _guard_closure(clinic, value)
    closure = Closure.objects.create(clinic=clinic, date=date, reason=reason, services=list(services))
    return closure


@transaction.atomic
def closure_delete(*, closure: Closure) -> None:
    closure.delete()


@dataclass
class HolidayImport:
    created: list[Closure] = field(default_factory=list)
    existing: list[date] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


@transaction.atomic
def holidays_import(
    *, clinic: Clinic, year: int, services: Sequence[str] | None = ORAL_SERVICES
) -> HolidayImport:
    """Pre-fill public holidays for the clinic's country/subdivision as closures (DOMAIN §2). Idempotent.

    By default only oral dosing closes (diamorphine sessions run every day); services=None or empty
    closes the whole clinic, except where that would strand diamorphine patients (refused, reported).
    """
    import holidays

    services = list(services or [])
    _check_services(services)
    allowed = bounds.schedule_range()
    if not allowed.earliest.year <= year <= allowed.latest.year:
        raise RuleViolation(
            f"Import the holidays of a year from {allowed.earliest.year} to {allowed.latest.year}.", field="year"
        )
    try:
        calendar = holidays.country_holidays(clinic.country, subdiv=clinic.subdivision or None, years=year)
    except NotImplementedError as exc:
        raise RuleViolation(
            f"No holiday calendar for {clinic.country}{'/' + clinic.subdivision if clinic.subdivision else ''}.",
            field="country",
        ) from exc
    result = HolidayImport()
    existing: dict[date, list[list[str]]] = {}
    for c in Closure.objects.filter(clinic=clinic, date__year=year):
        existing.setdefault(c.date, []).append(c.services)
    for day, name in sorted(calendar.items()):
        # A date already closed for any of these services keeps its closure: no duplicates.
        if any(_closures_overlap(other, services) for other in existing.get(day, [])):
            result.existing.append(day)
            continue
        try:
            _guard_closure(clinic, engine.Closure(date=day, services=frozenset(services), reason=name))
        except RuleViolation as exc:
            result.refused.append(exc.message)
            continue
        result.created.append(Closure.objects.create(clinic=clinic, date=day, reason=name[:200], services=services))
    return result


# --- patients ---------------------------------------------------------------------------------------


# DOMAIN §5: texts only to patients who opted in, to the number they gave; these are the words read to them (the
# registration form shows them; patient_create/patient_update keep the words read with the consent).
CONSENT_WORDS = (
    "We can send you appointment reminders by text message to this number. The texts never say what the "
    "appointment is for. Standard message rates may apply. Reply STOP at any time to stop them. "
    "Do you agree to receive them?"
)

PATIENT_FIELDS = ("mrn", "first_name", "last_name", "date_of_birth", "phone", "language", "sms_consent", "timezone")


def _clean_patient(patient: Patient, *, phone_changed: bool) -> None:
    patient.mrn = (patient.mrn or "").strip()
    if not patient.mrn:
        raise RuleViolation("Give the patient's MRN.", field="mrn")
    if phone_changed:
        patient.phone = phone_to_e164(patient.phone, country=patient.clinic.country)
        patient.phone_invalid = False
    clash = Patient.objects.filter(clinic_id=patient.clinic_id, mrn__iexact=patient.mrn).exclude(pk=patient.pk)
    if clash.exists():
        raise RuleViolation(f"MRN {patient.mrn} is already used by another patient of this clinic.", field="mrn")
    if patient.date_of_birth is not None and patient.date_of_birth > clinic_today(patient.clinic):
        raise RuleViolation("The date of birth is in the future.", field="date_of_birth")
    if patient.sms_consent and not patient.phone:
        raise RuleViolation("Consent to texts needs a phone number.", field="sms_consent")
    _full_clean(patient, exclude=["clinic"])


def _save_patient(patient: Patient, update_fields: list[str] | None = None) -> None:
    try:
        with transaction.atomic():
            patient.save(update_fields=update_fields)
    except IntegrityError as exc:
        # Two desks typing the same MRN at once: the unique constraint decides.
        message = f"MRN {patient.mrn} is already used by another patient of this clinic."
        raise RuleViolation(message, field="mrn") from exc


def _consent_recorded(patient: Patient, *, by: Any, words: str) -> None:
    """DOMAIN §5: consent newly given is kept with when, who asked and the words read to the patient."""
    patient.sms_consent_at = timezone.now()
    patient.sms_consent_by = by if getattr(by, "is_authenticated", False) else None
    patient.sms_consent_words = (words or "").strip()


def _consent_cleared(patient: Patient) -> None:
    """Consent withdrawn (or void for a new number): the fields describe the current consent only; the audit log
    keeps the earlier one (who, when, words)."""
    patient.sms_consent_at = None
    patient.sms_consent_by = None
    patient.sms_consent_words = ""


CONSENT_FIELDS = ["sms_consent_at", "sms_consent_by", "sms_consent_words"]


@transaction.atomic
def patient_create(*, clinic: Clinic, data: dict[str, Any], by: Any = None, consent_words: str = "") -> Patient:
    """Register a patient. `by` is the staff member registering them and `consent_words` what was read to the
    patient: both are recorded with the time when the patient consents to texts."""
    patient = Patient(clinic=clinic)
    for name in PATIENT_FIELDS:
        if name in data:
            setattr(patient, name, data[name])
    _clean_patient(patient, phone_changed=True)
    if patient.sms_consent:
        _consent_recorded(patient, by=by, words=consent_words)
    _save_patient(patient)
    return patient


@transaction.atomic
def patient_update(
    *, patient: Patient, data: dict[str, Any], by: Any = None, consent_words: str = ""
) -> Patient:
    """Edit a patient's details. Consent newly given records when, `by` and `consent_words`; consent withdrawn,
    or void because the number changed, clears them (the audit log keeps the earlier values); consent kept for
    the same number keeps its record."""
    patient = Patient.objects.select_for_update(of=("self",)).select_related("clinic").get(pk=patient.pk)
    was_consenting, old_phone = patient.sms_consent, patient.phone
    changed = _update_fields(patient, data, PATIENT_FIELDS)
    if not changed:
        return patient
    phone_changed = "phone" in changed
    _clean_patient(patient, phone_changed=phone_changed)
    if phone_changed and patient.phone != old_phone and "sms_consent" not in data and patient.sms_consent:
        # DOMAIN §5: texts only to the number the patient consented with; a new number needs new consent.
        patient.sms_consent = False
        changed.append("sms_consent")
    if patient.sms_consent and not was_consenting:
        _consent_recorded(patient, by=by, words=consent_words)
        changed.extend(CONSENT_FIELDS)
    elif was_consenting and not patient.sms_consent:
        _consent_cleared(patient)
        changed.extend(CONSENT_FIELDS)
    _save_patient(patient, update_fields=sorted({*changed, "phone_invalid", "updated"}))
    return patient


# --- plans ------------------------------------------------------------------------------------------


PLAN_FIELDS = (
    "medication", "start_date", "treatment_start", "end_date", "doses_per_day", "min_interval_minutes",
    "interval_days", "attendance_weekdays", "attendance_every_weeks", "status", "split_first_share",
)


def _clean_plan(plan: Plan, pauses: Iterable[Pause]) -> None:
    if plan.medication not in MEDICATIONS:
        raise RuleViolation(f"Unknown medication; one of {', '.join(MEDICATIONS)}.", field="medication")
    if not 1 <= plan.doses_per_day <= 3:
        raise RuleViolation("doses_per_day is 1, 2 or 3.", field="doses_per_day")
    split = plan.medication in engine.SPLIT_MEDICATIONS
    if plan.doses_per_day > 1 and plan.medication != engine.DIAMORPHINE and not split:
        # DOMAIN §1: only supervised diamorphine runs 2–3 sessions a day (RIOTT, Crosstown); methadone may be
        # split into two sessions (issue #14).
        raise RuleViolation(f"Only diamorphine may have more than one dose a day, not {plan.medication}.",
                            field="doses_per_day")
    if split and plan.doses_per_day > 2:
        raise RuleViolation("A methadone split dose is two sessions a day (doses_per_day 2).", field="doses_per_day")
    if plan.split_first_share is not None:
        if not (split and plan.doses_per_day == 2):
            raise RuleViolation("split_first_share applies to a methadone split dose (doses_per_day 2) only.",
                                field="split_first_share")
        if not 1 <= plan.split_first_share <= 99:
            raise RuleViolation("split_first_share is the first session's percent of the daily total, 1 to 99.",
                                field="split_first_share")
    if plan.end_date is not None and plan.end_date < plan.start_date:
        raise RuleViolation(f"The plan ends ({plan.end_date}) before it starts ({plan.start_date}).", field="end_date")
    if plan.medication == "buprenorphine":
        # Issue #15, DOMAIN §1: sublingual buprenorphine daily (1) or alternate-day (2: a double dose every 48 h).
        if plan.interval_days not in (None, *engine.BUPRENORPHINE_DOSE_INTERVALS):
            raise RuleViolation(
                "Sublingual buprenorphine: interval_days is 1 (daily) or 2 (alternate-day, a double dose every "
                "48 hours).",
                field="interval_days",
            )
    elif plan.interval_days is not None and plan.medication not in engine.INJECTIONS:
        raise RuleViolation(
            "interval_days applies to injections and sublingual buprenorphine (2: alternate-day) only.",
            field="interval_days",
        )
    if plan.treatment_start > plan.start_date:
        raise RuleViolation("Treatment cannot start after the plan starts.", field="treatment_start")
    if plan.status == "active":
        _check_one_active_plan(plan)
        clinic = plan.patient.clinic
        rules, calendar = rules_for_clinic(clinic), calendar_for_clinic(clinic)
        _check_injection_interval(plan, rules)
        spec = plan_spec(plan, pauses=pauses)
        try:
            engine.check_plan(spec, calendar, rules)
        except engine.SplitNotSatisfiable as exc:
            raise RuleViolation(f"This plan cannot be scheduled: {exc}.", field="doses_per_day") from exc
        except engine.PlanNotSatisfiable as exc:
            raise RuleViolation(f"This plan cannot be scheduled: {exc}.") from exc
        _check_take_home_runs(plan, spec, calendar, rules)


# A plan's take-home runs are checked this far ahead when it is saved; later closures are checked when saved.
TAKE_HOME_CHECK_DAYS = 366


def _check_take_home_runs(plan: Plan, spec: engine.PlanSpec, calendar: engine.Calendar, rules: Any) -> None:
    """Issue #11: for every plan the engine accepts, completing each visit with the take-homes its calendar
    expects is accepted — so a closure run longer than the tier allows refuses the plan here, not at the window."""
    today = clinic_today(plan.patient.clinic)
    first = max(plan.start_date, today)
    breaches = engine.takehome_breaches(spec, calendar, rules, first, today + timedelta(days=TAKE_HOME_CHECK_DAYS))
    if breaches:
        raise RuleViolation(
            f"This plan's calendar would hand out more take-homes than the rule set allows: {breaches[0]}. "
            "Open the clinic on one of those days, or start the plan later.",
            field="start_date",
        )


def _check_one_active_plan(plan: Plan) -> None:
    """API.md v1.1: at most one active plan per patient and medication over any date range (two methadone plans
    would let a nurse dose twice a day). The patient row is locked so two clinicians cannot both add one."""
    Patient.objects.select_for_update().filter(pk=plan.patient_id).values_list("pk", flat=True).first()
    others = Plan.objects.filter(patient_id=plan.patient_id, medication=plan.medication, status="active")
    if plan.pk is not None:
        others = others.exclude(pk=plan.pk)
    if plan.end_date is not None:
        others = others.filter(start_date__lte=plan.end_date)
    clash = others.filter(Q(end_date__isnull=True) | Q(end_date__gte=plan.start_date)).order_by("id").first()
    if clash is not None:
        until = f"until {clash.end_date.isoformat()}" if clash.end_date else "with no end date"
        raise RuleViolation(
            f"The patient already has an active {plan.get_medication_display()} plan (plan #{clash.pk}, from "
            f"{clash.start_date.isoformat()} {until}): one active plan per medication. End or change that plan "
            "first.",
            field="medication",
        )


def _check_injection_interval(plan: Plan, rules: Any) -> None:
    """API.md v1.1: an injection plan's interval is never below its medication's minimum (Sublocade label:
    at least 26 days between doses), which is the rule set's interval less its early window."""
    window = rules.injection_windows.get(plan.medication) if plan.medication in engine.INJECTIONS else None
    if window is None or plan.interval_days is None:
        return
    minimum = window.interval_days - window.early_days
    if plan.interval_days < minimum:
        raise RuleViolation(
            f"{plan.get_medication_display()}: injections at least {minimum} days apart ({rules.name}: every "
            f"{window.interval_days} days, at most {window.early_days} days early); {plan.interval_days} is too "
            "short.",
            field="interval_days",
        )


@transaction.atomic
def plan_create(*, patient: Patient, data: dict[str, Any]) -> Plan:
    plan = Plan(patient=patient)
    for name in PLAN_FIELDS:
        if data.get(name) is not None:
            setattr(plan, name, data[name])
    if not data.get("treatment_start"):
        plan.treatment_start = plan.start_date
    if not plan.attendance_weekdays:
        plan.attendance_weekdays = list(range(7))
    plan.attendance_weekdays = sorted(plan.attendance_weekdays)
    _clean_plan(plan, pauses=[])
    plan.save()
    return plan


@transaction.atomic
def plan_update(*, plan: Plan, data: dict[str, Any]) -> Plan:
    plan = Plan.objects.select_for_update(of=("self",)).select_related("patient__clinic__rule_set").get(pk=plan.pk)
    if "attendance_weekdays" in data:
        data = {**data, "attendance_weekdays": sorted(data["attendance_weekdays"] or range(7))}
    changed = _update_fields(plan, data, PLAN_FIELDS)
    if not changed:
        return plan
    _clean_plan(plan, pauses=list(plan.pauses.all()))
    plan.save(update_fields=[*changed, "updated"])
    return plan


# --- pauses -----------------------------------------------------------------------------------------


@transaction.atomic
def pause_create(
    *, plan: Plan, start: date, end: date, reason: str, note: str = "", actor: Any = None
) -> Pause:
    if end < start:
        raise RuleViolation(f"The pause ends ({end}) before it starts ({start}).", field="end")
    reasons = [value for value, _ in Pause.REASON_CHOICES]
    if reason not in reasons:
        raise RuleViolation(f"Reason is one of {', '.join(reasons)}.", field="reason")
    clinic = plan.patient.clinic
    if reason == "guest_dosing" and not has_role(actor, CLINICAL):
        # API.md v1.1, DOMAIN §6: guest dosing needs 24–48 h notice; a clinician may approve shorter notice.
        hours = rules_for_clinic(clinic).guest_dosing_notice_hours
        notice_ends = timezone.now() + timedelta(hours=hours)
        if _local_midnight(start, clinic.timezone) < notice_ends:
            earliest = local_date(notice_ends, clinic.timezone)
            if _local_midnight(earliest, clinic.timezone) < notice_ends:
                earliest += timedelta(days=1)
            raise RuleViolation(
                f"Guest dosing needs at least {hours} hours' notice (DOMAIN §6): it can start on "
                f"{earliest.isoformat()} at the earliest; a clinician can approve shorter notice.",
                field="start",
            )
    pause = Pause.objects.create(
        plan=plan, start=start, end=end, reason=reason, note=note,
        approved_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    return pause


def _local_midnight(day: date, tz: str) -> datetime:
    """The instant a clinic-local date begins (a pause starts at the start of its first date)."""
    return datetime.combine(day, time.min, tzinfo=zoneinfo.ZoneInfo(tz))


# --- staff ------------------------------------------------------------------------------------------


@transaction.atomic
def staff_create(*, username: str, password: str, role: str, clinics: Sequence[Clinic], email: str = "") -> Any:
    User = get_user_model()
    username = username.strip()
    if not username:
        raise RuleViolation("Give a username.", field="username")
    if User.objects.filter(username__iexact=username).exists():
        raise RuleViolation(f"The username {username!r} is taken.", field="username")
    roles = [value for value, _ in StaffProfile.ROLE_CHOICES]
    if role not in roles:
        raise RuleViolation(f"Role is one of {', '.join(roles)}.", field="role")
    if not clinics:
        raise RuleViolation("A staff member belongs to at least one clinic.", field="clinics")
    user = User(username=username, email=email)
    try:
        password_validation.validate_password(password, user=user)
    except ValidationError as exc:
        raise RuleViolation(" ".join(exc.messages), field="password") from exc
    user.set_password(password)
    user.save()
    profile = StaffProfile.objects.create(user=user, role=role)
    profile.clinics.set(clinics)
    return user


# --- take-home reviews ------------------------------------------------------------------------------


def plan_takehome_review(*, plan: Plan, by: Any, approved: bool = True, note: str = "") -> Plan:
    """A clinician records a take-home review (DOMAIN §3, §6): who and when, on the plan; the next review falls
    due the rule set's `takehome_review_days` later. `approved` is the clinician's take-home decision
    (API.md v1.1): true restores the plan's earned take-homes after a hold suspended them, false suspends
    them (the calendar turns take-home days into visit days until approved again)."""
    if not has_role(by, CLINICAL):
        raise PermissionDenied("Only clinicians and admins may record a take-home review.")
    if plan.status != "active":
        raise RuleViolation(f"This plan is {plan.status}: only an active plan's take-homes are reviewed.", "plan")
    plan.takehome_approved_by = by
    plan.takehome_approved_at = timezone.now()
    plan.takehome_approved = approved
    plan.takehome_suspended_on = None if approved else clinic_today(plan.patient.clinic)
    plan.takehome_note = (note or "").strip()[:300]
    fields = ["takehome_approved_by", "takehome_approved_at", "takehome_approved", "takehome_suspended_on",
              "takehome_note"]
    plan.save(update_fields=fields)  # auditlog records who, when, the decision and its note
    return plan


# Issue #14: no single dose of any medication here reaches this; a larger number is a typing mistake.
DOSE_MG_MAX = Decimal(2000)


@transaction.atomic
def dose_order_create(*, plan: Plan, dose_mg: Decimal, effective_date: date, note: str = "", by: Any) -> DoseOrder:
    """A clinician orders a plan's dose from a clinic-local date (issue #14). Orders are never edited or back-dated
    before today: doses already given keep the amount recorded on their visit. The amount respects the rule
    set's per-dose limits (their sources in scheduler.rules)."""
    if not has_role(by, CLINICAL):
        raise PermissionDenied("Only clinicians and admins may order doses.")
    if plan.status != "active":
        raise RuleViolation(f"This plan is {plan.status}: only an active plan gets dose orders.", "plan")
    if not Decimal(0) < dose_mg <= DOSE_MG_MAX:
        raise RuleViolation(f"Give the dose in mg, more than 0 and at most {DOSE_MG_MAX} mg.", "dose_mg")
    today = clinic_today(plan.patient.clinic)
    if effective_date < today:
        raise RuleViolation(
            f"An order takes effect today ({today.isoformat()}) or later; doses already given keep their amounts.",
            "effective_date",
        )
    rules = rules_for_clinic(plan.patient.clinic)
    _check_order_limits(plan, dose_mg, rules)
    _check_induction_step(plan, dose_mg, effective_date, rules, note)
    return DoseOrder.objects.create(
        plan=plan, dose_mg=dose_mg, effective_date=effective_date, note=(note or "").strip()[:300],
        created_by=by if getattr(by, "pk", None) else None,
    )


# A taper longer than this is a typing mistake (a year of weekly steps).
TAPER_MAX_STEPS = 60


@transaction.atomic
def dose_taper_create(
    *, plan: Plan, start_mg: Decimal, step_mg: Decimal, every_days: int, start_date: date, by: Any, note: str = ""
) -> list[DoseOrder]:
    """Medically supervised withdrawal (issue #14): a series of orders from `start_mg`, `step_mg` less every
    `every_days` days, down to the last dose above zero; each is an ordinary order a clinician can replace."""
    if not Decimal(0) < step_mg <= start_mg:
        raise RuleViolation("step_mg: more than 0 and at most the start dose.", "step_mg")
    today = clinic_today(plan.patient.clinic)
    if start_date < today:
        raise RuleViolation(f"A taper starts today ({today.isoformat()}) or later.", "start_date")
    steps = int((start_mg / step_mg).to_integral_value(rounding="ROUND_CEILING"))
    if steps > TAPER_MAX_STEPS:
        raise RuleViolation(f"A taper of {steps} steps is too long (at most {TAPER_MAX_STEPS}).", "step_mg")
    amounts = [start_mg - step_mg * n for n in range(steps) if start_mg - step_mg * n > 0]
    return _order_series(plan=plan, amounts=amounts, every_days=every_days, start_date=start_date, what="taper",
                         note=note, by=by)


def _order_series(
    *, plan: Plan, amounts: list[Decimal], every_days: int, start_date: date, what: str, note: str, by: Any
) -> list[DoseOrder]:
    """A series of ordinary dose orders, one amount every `every_days` days from `start_date` (a taper, a
    re-induction): each passes dose_order_create's checks and a clinician can replace any of them."""
    if not 1 <= every_days <= 28:
        raise RuleViolation("every_days: from 1 to 28 days between steps.", "every_days")
    if len(amounts) > TAPER_MAX_STEPS:
        raise RuleViolation(f"A {what} of {len(amounts)} steps is too long (at most {TAPER_MAX_STEPS}).", "step_mg")
    orders = []
    for n, amount in enumerate(amounts):
        label = f"{what} step {n + 1} of {len(amounts)}" + (f": {note.strip()}" if note.strip() else "")
        orders.append(dose_order_create(
            plan=plan, dose_mg=amount, effective_date=start_date + timedelta(days=every_days * n), note=label[:300],
            by=by,
        ))
    return orders


@transaction.atomic
def dose_reinduction_create(
    *, plan: Plan, start_mg: Decimal, step_mg: Decimal, every_days: int, target_mg: Decimal, by: Any,
    start_date: date | None = None, note: str = "",
) -> list[DoseOrder]:
    """A re-induction schedule after a hold or an interruption (issue #14): orders from `start_mg`, `step_mg` more
    every `every_days` days, up to `target_mg` (the last step). Methadone keeps to the rule set's induction limits
    (first dose, largest step, fewest days between steps: 42 CFR 8.12(h)(3)(ii), SAMHSA TIP 63)."""
    today = clinic_today(plan.patient.clinic)
    start_date = start_date or today
    if start_date < today:
        raise RuleViolation(f"A re-induction starts today ({today.isoformat()}) or later.", "start_date")
    if not Decimal(0) < start_mg <= target_mg:
        raise RuleViolation("start_mg: more than 0 and at most target_mg.", "start_mg")
    if step_mg <= 0:
        raise RuleViolation("step_mg: more than 0.", "step_mg")
    if plan.medication == "methadone":
        rules = rules_for_clinic(plan.patient.clinic)
        if start_mg > rules.methadone_first_dose_max_mg:
            raise RuleViolation(
                f"Methadone re-induction starts at most {rules.methadone_first_dose_max_mg} mg (the first dose, "
                f"42 CFR 8.12(h)(3)(ii)); {start_mg} mg asked.", "start_mg",
            )
        if step_mg > rules.methadone_induction_step_max_mg:
            raise RuleViolation(
                f"Methadone induction raises by at most {rules.methadone_induction_step_max_mg} mg a step "
                f"(guideline, SAMHSA TIP 63); {step_mg} mg asked.", "step_mg",
            )
        if every_days < rules.methadone_induction_step_min_days:
            raise RuleViolation(
                f"Methadone induction steps up no more often than every {rules.methadone_induction_step_min_days} "
                f"days (guideline, SAMHSA TIP 63); every {every_days} asked.", "every_days",
            )
    steps = int(((target_mg - start_mg) / step_mg).to_integral_value(rounding="ROUND_CEILING")) + 1
    if steps > TAPER_MAX_STEPS:
        raise RuleViolation(f"A re-induction of {steps} steps is too long (at most {TAPER_MAX_STEPS}).", "step_mg")
    amounts = [min(start_mg + step_mg * n, target_mg) for n in range(steps)]
    return _order_series(plan=plan, amounts=amounts, every_days=every_days, start_date=start_date,
                         what="re-induction", note=note, by=by)


def _check_induction_step(plan: Plan, dose_mg: Decimal, effective_date: date, rules: Any, note: str) -> None:
    """During methadone induction a dose rises by at most the rule set's step, no more often than every few
    days (SAMHSA TIP 63: 5–10 mg every 3–5 days). A lower or equal dose is always allowed; a clinician may go
    faster by saying why in the order's note."""
    if plan.medication != "methadone" or note.strip():
        return
    from scheduler.rules import treatment_day

    if treatment_day(plan.treatment_start, effective_date) > rules.methadone_induction_days:
        return
    previous = (
        DoseOrder.objects.filter(plan=plan, effective_date__lte=effective_date)
        .order_by("-effective_date", "-created", "-id")
        .first()
    )
    if previous is None or dose_mg <= previous.dose_mg:
        return
    step, days = dose_mg - Decimal(previous.dose_mg), (effective_date - previous.effective_date).days
    if step > rules.methadone_induction_step_max_mg or days < rules.methadone_induction_step_min_days:
        raise RuleViolation(
            f"Methadone induction (treatment days 1–{rules.methadone_induction_days}): raise by at most "
            f"{rules.methadone_induction_step_max_mg} mg, no more often than every "
            f"{rules.methadone_induction_step_min_days} days (guideline, SAMHSA TIP 63); this is {step} mg up "
            f"{days} days after the {previous.dose_mg} mg order. Say why in the note to go faster.",
            "dose_mg",
        )


def _check_order_limits(plan: Plan, dose_mg: Decimal, rules: Any) -> None:
    limits = {
        "buprenorphine": (rules.buprenorphine_daily_max_mg, "never more than {n} mg on one day (guideline)"),
        "diamorphine": (rules.diamorphine_session_max_mg, "at most {n} mg in one session (Diaphin label)"),
    }
    limit = limits.get(plan.medication)
    if limit is not None and dose_mg > limit[0]:
        rule = limit[1].format(n=limit[0])
        raise RuleViolation(f"{plan.get_medication_display()}: {rule}; {dose_mg} mg ordered.", "dose_mg")


def dose_in_force(orders: Iterable[DoseOrder], day: date) -> Decimal | None:
    """The amount of the order in force on `day` among a plan's orders (already loaded), or None."""
    current = [o for o in orders if o.effective_date <= day]
    if not current:
        return None
    latest = max(current, key=lambda o: (o.effective_date, o.created, o.pk))
    return Decimal(latest.dose_mg)


def takehomes_suspend(*, patient_ids: Iterable[int], on: date | None = None) -> list[int]:
    """API.md v1.1: a hold, clinician review or re-induction suspends the earned take-homes of every plan of
    the patient, from `on` (the clinic-local date; default today at each clinic). Returns the plans changed."""
    plans = list(
        Plan.objects.select_for_update(of=("self",))
        .filter(patient_id__in=list(patient_ids), takehome_approved=True)
        .select_related("patient__clinic")
        .order_by("id")
    )
    for plan in plans:
        plan.takehome_approved = False
        plan.takehome_suspended_on = on or clinic_today(plan.patient.clinic)
        plan.save(update_fields=["takehome_approved", "takehome_suspended_on", "updated"])
    return [p.pk for p in plans]
