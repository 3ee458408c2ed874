"""Serializers translate JSON ⇄ values; rules live in scheduler.services (STYLE.md)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

from auditlog.models import LogEntry
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Model, QuerySet
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import NotFound

from scheduler import bounds
from scheduler.models import (
    SERVICES,
    Clinic,
    Closure,
    DoseOrder,
    DosingWindow,
    Patient,
    Pause,
    canonical_timezones,
    validate_timezone,
)
from scheduler.permissions import ALL_ROLES, scope_to_clinics
from scheduler.rules import DEFAULT_PRESET, PRESETS

HHMM = "%H:%M"
TIME_INPUTS = [HHMM, "%H:%M:%S"]


class BoundedIntegerField(serializers.IntegerField):
    """An integer read through scheduler.bounds.parse_int (ASCII digits only), between min and max value."""

    def __init__(self, *, min_value: int, max_value: int, **kwargs: Any) -> None:
        super().__init__(min_value=min_value, max_value=max_value, **kwargs)

    def to_internal_value(self, data: Any) -> int:
        try:
            return bounds.parse_int(data, lo=self.min_value, hi=self.max_value)  # type: ignore[arg-type]
        except bounds.BoundError as exc:
            raise serializers.ValidationError(exc.message, code="bound") from exc


class JSONBooleanField(serializers.BooleanField):
    """true or false, as JSON says it. DRF also takes 0/1, "yes", "on" and more from forms; bodies are JSON only
    (config/settings.py), and the schema's `boolean` promises no more."""

    def to_internal_value(self, data: Any) -> bool:
        if data is True or data is False:
            return data
        self.fail("invalid", input=data)


class BoundedDateField(serializers.DateField):
    """A date within a range computed per request (scheduler.bounds); the schema describes the range."""

    def __init__(
        self,
        *,
        date_range: Callable[[], bounds.DateRange] = bounds.schedule_range,
        range_text: str = bounds.SCHEDULE_RANGE_TEXT,
        **kwargs: Any,
    ) -> None:
        kwargs["help_text"] = " ".join(t for t in (kwargs.get("help_text", ""), range_text) if t)
        super().__init__(**kwargs)
        self.date_range = date_range

    def to_internal_value(self, value: Any) -> date:
        try:
            bounds.check_date_text(value)
        except bounds.BoundError as exc:
            raise serializers.ValidationError(exc.message, code="invalid") from exc
        parsed = super().to_internal_value(value)
        try:
            return self.date_range().check(parsed)
        except bounds.BoundError as exc:
            raise serializers.ValidationError(exc.message, code="bound") from exc


def birth_date_field(**kwargs: Any) -> BoundedDateField:
    return BoundedDateField(date_range=bounds.birth_range, range_text=bounds.BIRTH_RANGE_TEXT, **kwargs)


class BoundedDateFieldSchema(OpenApiSerializerFieldExtension):
    """The bound as an exact pattern, computed when the schema is generated (the bounds move with today).
    Requests only: a stored date may lie outside today's bounds, and answers show it as it is."""

    target_class = BoundedDateField
    match_subclasses = True

    def map_serializer_field(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        schema = {"type": "string", "format": "date"}
        if direction == "request":
            schema["pattern"] = bounds.date_pattern(self.target.date_range())
        return schema


@extend_schema_field({"type": "string", "enum": sorted(canonical_timezones())})
class TimezoneField(serializers.CharField):
    """An IANA zone name (scheduler.models.validate_timezone, the check of every shell), listed in the schema."""

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data)
        try:
            validate_timezone(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages[0], code="invalid") from exc
        return value


@extend_schema_field({"type": "integer", "minimum": 1, "maximum": bounds.ID_MAX})
class ScopedPrimaryKeyField(serializers.PrimaryKeyRelatedField):
    """A related id the user may see; another clinic's (or a missing) id answers 404, as in the URL."""

    def __init__(self, *, scope_field: str, **kwargs: Any) -> None:
        self.scope_field = scope_field
        super().__init__(**kwargs)

    def get_queryset(self) -> QuerySet[Any]:
        queryset = super().get_queryset()
        request = self.context.get("request")
        return scope_to_clinics(queryset, getattr(request, "user", None), field=self.scope_field)

    def to_internal_value(self, data: Any) -> Model:
        try:
            pk = bounds.parse_int(data, lo=1, hi=bounds.ID_MAX)
        except bounds.BoundError as exc:
            raise serializers.ValidationError(f"Give an id: {exc.message}", code="incorrect_type") from exc
        try:
            return self.get_queryset().get(pk=pk)
        except Exception as exc:  # noqa: BLE001 - DoesNotExist of any model
            raise NotFound(f"No {self.field_name} with id {data}.") from exc


class WeekdaysField(serializers.ListField):
    child = BoundedIntegerField(min_value=0, max_value=6)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=7, min_length=0 if kwargs.get("allow_empty", True) else 1, **kwargs)

    def to_internal_value(self, data: Any) -> list[int]:
        value = super().to_internal_value(data)
        if len(set(value)) != len(value):
            raise serializers.ValidationError("Each weekday may appear once (Monday = 0 … Sunday = 6).")
        return sorted(value)


class ServicesField(serializers.ListField):
    child = serializers.ChoiceField(choices=SERVICES)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=len(SERVICES), min_length=0 if kwargs.get("allow_empty", True) else 1, **kwargs)


class MilligramField(serializers.DecimalField):
    """An amount in mg (issue #14): two decimals, answered as a string ("30.00"), given as a number or a string."""

    def __init__(self, *, minimum: str = "0.01", **kwargs: Any) -> None:
        kwargs.setdefault("help_text", "mg")
        super().__init__(max_digits=7, decimal_places=2, min_value=Decimal(minimum), max_value=Decimal("2000"),
                         **kwargs)


class MilligramFieldSchema(OpenApiSerializerFieldExtension):
    """Requests state the bounds as a number (a string type cannot say them); answers are decimal strings."""

    target_class = MilligramField
    match_subclasses = True

    def map_serializer_field(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        field = self.target
        if direction == "request":
            schema: dict[str, Any] = {
                "type": "number", "minimum": float(field.min_value), "maximum": float(field.max_value),
                "multipleOf": 0.01,
            }
        else:
            schema = {"type": "string", "format": "decimal", "pattern": r"^[0-9]{1,5}\.[0-9]{2}$"}
        if field.allow_null:
            schema["nullable"] = True
        return schema


class DistinctItemsSchema(OpenApiSerializerFieldExtension):
    """Weekdays and services: each at most once (the service refuses repeats), as the schema says."""

    target_class = serializers.ListField
    match_subclasses = True
    priority = 1

    @classmethod
    def _matches(cls, target: Any) -> bool:
        return isinstance(target, WeekdaysField | ServicesField)

    def map_serializer_field(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        field = self.target
        schema: dict[str, Any] = {
            "type": "array",
            "items": auto_schema._map_serializer_field(field.child, direction),
            "uniqueItems": True,
            "maxItems": field.max_length,
        }
        if field.min_length:
            schema["minItems"] = field.min_length
        return schema


# --- clinics ----------------------------------------------------------------------------------------


class ClinicSerializer(serializers.ModelSerializer):
    timezone = TimezoneField(required=False, max_length=64, help_text="IANA time zone, e.g. America/New_York.")
    country = serializers.RegexField(
        r"^[A-Za-z]{2}$", required=False, max_length=2, help_text="ISO 3166 two-letter country code, e.g. US."
    )
    preset = serializers.ChoiceField(
        choices=list(PRESETS), default=DEFAULT_PRESET, write_only=True,
        help_text="Rule-set preset the new clinic gets its own copy of (create only).",
    )

    class Meta:
        model = Clinic
        fields = ["id", "name", "timezone", "phone", "sms_name", "country", "subdivision", "rule_set", "preset"]
        read_only_fields = ["id", "rule_set"]


# --- windows and closures ---------------------------------------------------------------------------


HHMM_PATTERN = r"^(?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9])?$"


@extend_schema_field({"type": "string", "pattern": HHMM_PATTERN})
class LocalTimeField(serializers.TimeField):
    """Clinic-local wall time, "HH:MM" out (API.md), described as such in the schema (not format: time).
    Input is read by the same pattern (strptime would also take "7:5" and " 07:00")."""

    def to_internal_value(self, value: Any) -> Any:
        if isinstance(value, str) and not re.fullmatch(HHMM_PATTERN[1:-1], value):
            self.fail("invalid", format="HH:MM")
        return super().to_internal_value(value)


class WindowSerializer(serializers.ModelSerializer):
    weekdays = WeekdaysField(allow_empty=False, help_text="0 = Monday … 6 = Sunday")
    start = LocalTimeField(format=HHMM, input_formats=TIME_INPUTS, help_text="HH:MM clinic-local")
    end = LocalTimeField(format=HHMM, input_formats=TIME_INPUTS, help_text="HH:MM clinic-local")
    services = ServicesField(allow_empty=False)
    capacity = BoundedIntegerField(
        min_value=1, max_value=bounds.CAPACITY_MAX, required=False, allow_null=True,
        help_text="Visits on one date; omit to compute stations × window minutes ÷ minutes_per_visit.",
    )
    stations = BoundedIntegerField(min_value=1, max_value=bounds.STATIONS_MAX, required=False, allow_null=True)
    minutes_per_visit = BoundedIntegerField(
        min_value=1, max_value=bounds.MINUTES_PER_VISIT_MAX, required=False, allow_null=True
    )

    class Meta:
        model = DosingWindow
        fields = ["id", "weekdays", "start", "end", "services", "capacity", "stations", "minutes_per_visit"]


class ClosureSerializer(serializers.ModelSerializer):
    date = BoundedDateField(help_text="Clinic-local date.")
    services = ServicesField(required=False, default=list, help_text="Empty = the whole clinic is closed.")
    confirm_past = JSONBooleanField(
        write_only=True, required=False, default=False,
        help_text="A date before today is refused unless this is true (patients may already have been dosed "
        "that day); the answer then lists the visits the closure affects.",
    )

    class Meta:
        model = Closure
        fields = ["id", "date", "reason", "services", "confirm_past"]


class AffectedVisitSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    patient = serializers.IntegerField()
    kind = serializers.CharField()
    status = serializers.CharField()


class ClosureCreatedSerializer(ClosureSerializer):
    affected_visits = AffectedVisitSerializer(
        many=True, read_only=True,
        help_text="Visits (not cancelled) on that date of the services it closes, as they were before it.",
    )

    class Meta(ClosureSerializer.Meta):
        fields = [*ClosureSerializer.Meta.fields, "affected_visits"]


# --- patients ---------------------------------------------------------------------------------------


class PatientSerializer(serializers.ModelSerializer):
    clinic = ScopedPrimaryKeyField(queryset=Clinic.objects.all(), scope_field="id")
    sms_consent = JSONBooleanField(required=False)
    phone = serializers.CharField(
        required=False, allow_blank=True, max_length=40,
        help_text="E.164 out; national formats in, parsed with the clinic's country.",
    )
    date_of_birth = birth_date_field(required=False, allow_null=True)
    sms_consent_by = serializers.IntegerField(
        source="sms_consent_by_id", read_only=True, allow_null=True,
        help_text="Who recorded the consent to texts (user id); null for a text reply or none.",
    )
    sms_consent_words = serializers.CharField(
        read_only=True, help_text="The words read to the patient when consent was recorded (\"\" if unknown).",
    )

    class Meta:
        model = Patient
        fields = [
            "id", "clinic", "mrn", "first_name", "last_name", "date_of_birth", "phone", "sms_consent",
            "sms_consent_at", "sms_opted_out", "language", "sms_consent_by", "sms_consent_words",
        ]
        read_only_fields = ["id", "sms_consent_at", "sms_opted_out"]
        # MRN uniqueness is checked by the service against the clinic in the body.
        validators: list[Any] = []


# --- plans and pauses -------------------------------------------------------------------------------


class PauseSerializer(serializers.ModelSerializer):
    start = BoundedDateField()
    end = BoundedDateField()

    class Meta:
        model = Pause
        fields = ["id", "start", "end", "reason", "note"]


class SessionSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()


class CalendarDaySerializer(serializers.Serializer):
    date = serializers.DateField()
    expected = serializers.ChoiceField(choices=["visit", "take_home", "closure_take_home", "none"])
    sessions = SessionSerializer(many=True)
    reason = serializers.CharField()
    take_home_doses = serializers.IntegerField()
    visits = serializers.ListField(child=serializers.IntegerField())
    first_injection_from = serializers.DateField(
        allow_null=True,
        help_text="Naltrexone XR before its first injection: the first date it may be given (last opioid dose + the "
        "rule set's opioid-free days); null otherwise.",
    )


class CalendarQuerySerializer(serializers.Serializer):
    date_from = BoundedDateField()
    date_to = BoundedDateField(
        help_text=f"On or after date_from, at most {bounds.MAX_RANGE_DAYS} days from it, and at most "
        f"{bounds.MAX_YEARS_AFTER_PLAN_START} years after the plan's start."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        try:
            bounds.check_span(attrs["date_from"], attrs["date_to"])
        except bounds.BoundError as exc:
            raise serializers.ValidationError({"date_to": [exc.message]}) from exc
        return attrs


class HistoryEntrySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    action = serializers.SerializerMethodField()
    changes = serializers.SerializerMethodField()
    actor = serializers.SerializerMethodField()
    timestamp = serializers.DateTimeField()

    def get_action(self, entry: LogEntry) -> str:
        return {0: "create", 1: "update", 2: "delete", 3: "access"}.get(entry.action, str(entry.action))

    def get_changes(self, entry: LogEntry) -> dict[str, Any]:
        return entry.changes_dict

    def get_actor(self, entry: LogEntry) -> str | None:
        return entry.actor.get_username() if entry.actor is not None else None


# --- auth and staff ---------------------------------------------------------------------------------


class TokenRequestSerializer(serializers.Serializer):
    # Bounded before authenticate(): django-axes records the username in a varchar(255) (a 256-character one was a 500).
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(style={"input_type": "password"}, trim_whitespace=False, max_length=4096)


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField()


def password_min_length() -> int:
    """The MinimumLengthValidator's length in AUTH_PASSWORD_VALIDATORS (Django's default 8), for the schema."""
    for validator in password_validation.get_default_password_validators():
        if isinstance(validator, password_validation.MinimumLengthValidator):
            return int(validator.min_length)
    return 1


class StaffSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(
        write_only=True, trim_whitespace=False, style={"input_type": "password"}, max_length=4096,
        min_length=password_min_length(),
        help_text="At least the minimum length of the password rules (AUTH_PASSWORD_VALIDATORS).",
    )
    role = serializers.ChoiceField(choices=sorted(ALL_ROLES))
    clinics = serializers.ListField(
        child=BoundedIntegerField(min_value=1, max_value=bounds.ID_MAX), allow_empty=False, min_length=1,
        max_length=1000,
    )


class TakeHomeReviewSerializer(serializers.Serializer):
    """API.md v1.1: `POST /api/v1/plans/{id}/takehome-review/` `{"approved": true|false, "note": "..."}`."""

    approved = JSONBooleanField(default=True, help_text="true approves earned take-homes; false suspends them.")
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=300)


class DoseOrderSerializer(serializers.ModelSerializer):
    """Issue #14: `POST /api/v1/plans/{id}/orders/` `{dose_mg, effective_date, note}`; `GET` lists the history."""

    dose_mg = MilligramField(help_text="mg per dose (diamorphine: per session).")
    effective_date = BoundedDateField(help_text="Clinic-local date from which the order is in force (today or later).")
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=300)

    class Meta:
        model = DoseOrder
        fields = ["id", "plan", "dose_mg", "effective_date", "note", "created_by", "created"]
        read_only_fields = ["id", "plan", "created_by", "created"]


class TaperSerializer(serializers.Serializer):
    """Issue #14: `POST /api/v1/plans/{id}/taper/` — a withdrawal taper as a series of dose orders."""

    start_mg = MilligramField()
    step_mg = MilligramField(help_text="mg less at each step; at most start_mg.")
    every_days = serializers.IntegerField(min_value=1, max_value=28)
    start_date = BoundedDateField(help_text="The first step's clinic-local date (today or later).")
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)
