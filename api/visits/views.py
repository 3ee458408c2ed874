"""HTTP for visits and availability: serializers translate, views call one service (STYLE.md)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import django_filters
from django.db.models import Count, F, QuerySet
from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from django_filters.utils import translate_validation
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field, extend_schema_view
from rest_framework import ISO_8601, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from config.schema import rules
from notifications import replanning
from scheduler import bounds
from scheduler.api.audit import AuditActorMixin, audit_access
from scheduler.api.base import ID_PATH
from scheduler.api.filters import BoundedDateFilter, FormClassOnce, clinic_filter, patient_filter, plan_filter
from scheduler.api.serializers import BoundedDateField, BoundedIntegerField, JSONBooleanField, MilligramField
from scheduler.models import SERVICES, Clinic, Patient, Plan
from scheduler.permissions import (
    ALL_ROLES,
    DOSING,
    FRONT_DESK,
    ActionRoles,
    IsStaffMember,
    clinic_ids_for,
    scope_to_clinics,
)
from scheduler.prepared import AS_CLINIC, AS_DAY, prepared
from visits import cows, screening, selectors, services
from visits.models import (
    DRUG_SCREEN_RESULT_CHOICES,
    KIND_CHOICES,
    SCREEN_POSITIVE_RESULTS,
    STATUS_CHOICES,
    Assessment,
    Visit,
)

# --- serializers -----------------------------------------------------------------------------------


class InstantField(serializers.DateTimeField):
    """An instant: input must carry its UTC offset (a wall time alone is ambiguous across clinics); its date
    lies within scheduler.bounds (year 1 with an offset east of UTC overflowed datetime)."""

    def to_internal_value(self, value: Any) -> datetime:
        try:
            bounds.check_instant_text(value)
        except bounds.BoundError as exc:
            raise serializers.ValidationError(exc.message, code="invalid") from exc
        return super().to_internal_value(value)

    def enforce_timezone(self, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            self.fail("naive")
        return super().enforce_timezone(value)

    default_error_messages = {"naive": "Give an instant with its UTC offset, e.g. 2026-11-02T07:30:00-05:00."}


class InstantFieldSchema(OpenApiSerializerFieldExtension):
    """The instant's years as a pattern, computed when the schema is generated (requests only)."""

    target_class = InstantField

    def map_serializer_field(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        schema = {"type": "string", "format": "date-time"}
        if direction == "request":
            schema["pattern"] = bounds.instant_pattern(bounds.schedule_range())
        return schema


class LocalInstantField(serializers.DateTimeField):
    """Output an aware instant as given (the view has put it in the clinic's zone), offset included."""

    def to_representation(self, value: Any) -> Any:
        return value.isoformat() if value is not None else None


INSTANT_FIELDS = ("start", "end", "checked_in_at", "completed_at", "missed_at", "created", "updated")
_INSTANT = object()  # marks an instant field in VisitSerializer's plan
_PLANS: dict[type, list[tuple[str, str | None, type | None, Any]]] = {}  # VisitSerializer's, per class


def _identity(value: Any) -> Any:
    return value
# A value of this type is its own representation in this DRF field (exact class: a subclass may convert).
_SAME_TYPE: dict[type, type] = {
    serializers.IntegerField: int,
    serializers.CharField: str,
    serializers.ChoiceField: str,
    serializers.BooleanField: bool,
}


class VisitSerializer(serializers.ModelSerializer):
    """A visit. Instants are rendered with the clinic's UTC offset."""

    drug_screen_result = serializers.CharField(
        read_only=True,
        help_text='"" until a result is recorded; then "negative", "positive", "refused" (counts as positive) or '
        '"invalid" (no screen; drawn again later).',
    )
    drug_screen_substances = serializers.SerializerMethodField(help_text="What a positive screen found.")

    class Meta:
        model = Visit
        fields = [
            "id", "patient", "clinic", "plan", "kind", "date", "start", "end", "status", "take_home_doses",
            "source", "window", "reason", "planned_date", "session", "edited", "expected_take_home_doses",
            "target_date", "earliest", "latest", "covered_through", "checked_in_at", "checked_in_by",
            "completed_at", "completed_by", "bottles_returned", "bottles_note", "status_reason", "missed_at",
            "created", "updated", "dose_mg", "dose_reason", "drug_screen", "drug_screen_result", "take_home_mg",
            "drug_screen_substances", "callback_bottles_handed_out", "callback_bottles_brought",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_drug_screen_substances(self, obj: Visit) -> list[str]:
        return list(obj.drug_screen_substances or [])

    def to_representation(self, instance: Visit) -> dict[str, Any]:
        """The fields in their declared order with DRF's values, without DRF's per-field machinery: a page of 50
        visits has 2,000 field values, and walking `_readable_fields`, `get_attribute` and `to_representation` for
        each was a third of the visit list's service time (issue #16). A value already of the type its field
        outputs is the output (DRF's `int(value)`, `str(value)`, a choice's own key, a bool); a date is its ISO
        text (DATE_FORMAT is ISO 8601); anything else goes through its field. Foreign keys are their ids (DRF's
        pk-only read, no query); instants are rendered in the clinic's zone. tests/visits/test_visit_representation.py
        compares every field with DRF's generic path."""
        # The list reads the clinic's zone as a column (VisitViewSet.get_queryset), not a Clinic per row.
        tz = ZoneInfo(getattr(instance, "clinic_timezone", None) or instance.clinic.timezone)
        data: dict[str, Any] = {}
        for name, attr, same, convert in self._plan():
            if attr is None:  # a method field: its method, called with the instance
                data[name] = getattr(self, convert)(instance)
                continue
            value: Any = getattr(instance, attr)
            if value is None:
                data[name] = None
            elif type(value) is same:
                data[name] = value
            elif convert is _INSTANT:
                data[name] = value.astimezone(tz).isoformat()
            else:
                data[name] = convert(value)
        return data

    def _plan(self) -> list[tuple[str, str | None, type | None, Any]]:
        """(output name, model attribute, type output as it is, converter) per readable field, built from the first
        instance's fields and kept for the class: building a ModelSerializer's 40 fields cost more than rendering
        one visit (a booking's answer). The converters are the fields' own `to_representation`, which read only
        the field's settings; a method field keeps its method's name (attribute None)."""
        plan = _PLANS.get(type(self))
        if plan is not None:
            return plan
        plan = []
        for field in self._readable_fields:
            name, source = str(field.field_name), field.source  # bound fields have their name
            if isinstance(field, serializers.PrimaryKeyRelatedField) and field.pk_field is None:
                plan.append((name, f"{source}_id", int, _identity))  # DRF outputs the pk as read
            elif name in INSTANT_FIELDS:
                plan.append((name, source, None, _INSTANT))
            elif isinstance(field, serializers.SerializerMethodField):
                plan.append((name, None, None, field.method_name))
            elif isinstance(field, serializers.DateField) and api_settings.DATE_FORMAT == ISO_8601:
                plan.append((name, source, None, date.isoformat))  # a model DateField reads back a date
            else:
                plan.append((name, source, _SAME_TYPE.get(type(field)), field.to_representation))
        _PLANS[type(self)] = plan
        return plan

    def rows_representation(self, columns: dict[str, int], rows: list[Sequence[Any]]) -> list[dict[str, Any]]:
        """`to_representation` of each visit a row holds (its model attributes at `columns`, and the zone as
        `clinic_timezone`), without making the instance: the visit list's page built 50 instances of 40 fields to
        read each value once (issue #16). The same plan, converters and order; a method field gets a stand-in that
        reads the row's columns. tests/visits/test_visit_list_day_h4.py holds every page's bytes equal. The loop is
        `to_representation`'s over a row's places instead of an instance's attributes, written twice on purpose:
        one loop for both would cost a call a value on the list's hot path."""
        steps = [(name, None if attr is None else columns[attr], same, convert)
                 for name, attr, same, convert in self._plan()]
        zone_at = columns["clinic_timezone"]
        zones: dict[str, ZoneInfo] = {}
        out = []
        for row in rows:
            tz = zones.get(row[zone_at]) or zones.setdefault(row[zone_at], ZoneInfo(row[zone_at]))
            data: dict[str, Any] = {}
            for name, at, same, convert in steps:
                if at is None:
                    data[name] = getattr(self, convert)(_RowAttributes(columns, row))
                    continue
                value = row[at]
                if value is None:
                    data[name] = None
                elif type(value) is same:
                    data[name] = value
                elif convert is _INSTANT:
                    data[name] = value.astimezone(tz).isoformat()
                else:
                    data[name] = convert(value)
            out.append(data)
        return out


class _RowAttributes:
    """A row's columns read as attributes, for a method field's method (it reads the visit's attributes)."""

    __slots__ = ("_columns", "_row")

    def __init__(self, columns: dict[str, int], row: Sequence[Any]) -> None:
        self._columns, self._row = columns, row

    def __getattr__(self, name: str) -> Any:
        try:
            return self._row[self._columns[name]]
        except KeyError:
            raise AttributeError(name) from None


class VisitBookSerializer(serializers.Serializer):
    patient = BoundedIntegerField(min_value=1, max_value=bounds.ID_MAX)
    kind = serializers.ChoiceField(choices=KIND_CHOICES)
    date = BoundedDateField(help_text="Clinic-local date.")
    plan = BoundedIntegerField(min_value=1, max_value=bounds.ID_MAX, required=False, allow_null=True)
    start = InstantField(required=False, allow_null=True, help_text="Picks the window containing it; booked time.")


class VisitRescheduleSerializer(serializers.Serializer):
    date = BoundedDateField(help_text="Clinic-local date.")
    start = InstantField(required=False, allow_null=True)


class VisitCheckInSerializer(serializers.Serializer):
    bottles_returned = JSONBooleanField(
        required=False, allow_null=True, default=None, help_text="Empty take-home bottles came back."
    )
    bottles_note = serializers.CharField(required=False, allow_blank=True, default="", max_length=300)
    bottles_brought = BoundedIntegerField(
        required=False, allow_null=True, default=None, min_value=0, max_value=99,
        help_text="Issue #15, call-back visits only: take-home bottles brought back (full or empty), counted against "
        "those handed out; fewer raises an escalation and suspends earned take-homes.",
    )


class DrugScreenResultSerializer(serializers.Serializer):
    result = serializers.ChoiceField(
        choices=DRUG_SCREEN_RESULT_CHOICES,
        help_text="negative, positive (name the substances), refused (counts as positive) or invalid (retest).",
    )
    substances = serializers.ListField(
        child=serializers.CharField(max_length=40), required=False, default=list, max_length=20,
        help_text="A positive result's substances (one or more); none for other results.",
    )


class CallbackBottlesSerializer(serializers.Serializer):
    bottles_brought = BoundedIntegerField(
        min_value=0, max_value=99, help_text="Take-home bottles brought back (full or empty)."
    )


class VisitCompleteSerializer(serializers.Serializer):
    take_home_doses = BoundedIntegerField(
        required=False, allow_null=True, default=None, min_value=0, max_value=bounds.TAKE_HOME_DOSES_MAX,
        help_text="Doses handed out at this visit (default 0), within the rule set's limit.",
    )
    take_home_reason = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=300,
        help_text="Why a clinician or admin hands out more take-homes than the plan's calendar expects "
        "(API.md v1.1); without it, more than the calendar expects answers 409.",
    )
    dose_mg = MilligramField(
        minimum="0", required=False, allow_null=True, default=None,
        help_text="The amount given (issue #14); default the order in force. More than the order answers 409; less "
        "needs dose_reason. Amount limits (buprenorphine a day, methadone's first day, diamorphine) answer 409.",
    )
    dose_reason = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=300,
        help_text="Why less than the order was given (\"patient declined part\"), or a clinician's documented "
        "reason to exceed methadone's first-day limits.",
    )
    take_home_mg = serializers.ListField(
        child=MilligramField(minimum="0"), required=False, allow_null=True, default=None,
        max_length=bounds.TAKE_HOME_DOSES_MAX,
        help_text="Each take-home bottle's amount, one per bottle in date order (issue #14); default the order in "
        "force on the date each bottle covers. A bottle above its order answers 409; less needs dose_reason.",
    )


class AssessmentSerializer(serializers.ModelSerializer):
    """`{scale: "cows", items: {resting_pulse: 0..4, ...}}` in; the total and its severity band out."""

    scale = serializers.ChoiceField(choices=["cows"], default="cows")
    items = serializers.DictField(
        child=serializers.IntegerField(min_value=0, max_value=5),
        help_text="The 11 COWS items (resting_pulse, sweating, restlessness, pupil_size, bone_joint_aches, "
        "runny_nose_tearing, gi_upset, tremor, yawning, anxiety_irritability, gooseflesh) with their scores.",
    )
    severity = serializers.SerializerMethodField()

    class Meta:
        model = Assessment
        fields = ["id", "visit", "patient", "scale", "items", "total", "severity", "created_by", "created"]
        read_only_fields = ["id", "visit", "patient", "total", "severity", "created_by", "created"]

    def get_severity(self, obj: Assessment) -> str:
        return cows.severity(obj.total)


class VisitReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=300, help_text="Why; required, not blank.")


class AvailabilityQuerySerializer(serializers.Serializer):
    date = BoundedDateField(help_text="Clinic-local date.")
    service = serializers.ChoiceField(choices=SERVICES, help_text="Medication or visit kind.")


class AvailabilitySerializer(serializers.Serializer):
    window_id = serializers.IntegerField()
    start = LocalInstantField()
    end = LocalInstantField()
    capacity = serializers.IntegerField()
    booked = serializers.IntegerField()
    remaining = serializers.IntegerField()


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()


# --- filters ------------------------------------------------------------------------------------------


class VisitFilter(FormClassOnce, django_filters.FilterSet):
    clinic = clinic_filter()
    patient = patient_filter()
    plan = plan_filter()
    date = BoundedDateFilter(field_name="date")
    date_from = BoundedDateFilter(field_name="date", lookup_expr="gte")
    date_to = BoundedDateFilter(field_name="date", lookup_expr="lte")
    status = django_filters.ChoiceFilter(choices=STATUS_CHOICES)
    kind = django_filters.ChoiceFilter(choices=KIND_CHOICES)

    class Meta:
        model = Visit
        fields = ["clinic", "patient", "plan", "date", "date_from", "date_to", "status", "kind"]


# --- the list of one clinic's day (issue #16) ---------------------------------------------------------------


def _day_visits() -> QuerySet[Visit]:
    """VisitViewSet's list query for one clinic and one date (the stand-ins), in its order."""
    return (
        Visit.objects.filter(clinic_id=AS_CLINIC, date=AS_DAY)
        .annotate(clinic_timezone=F("clinic__timezone"))
        .order_by("date", "start", "id")
    )


def _day_count() -> QuerySet[Any]:
    return (
        Visit.objects.filter(clinic_id=AS_CLINIC, date=AS_DAY)
        .order_by()
        .values("clinic_id")
        .annotate(n=Count("id"))
        .values("n")
    )


class ClinicDayVisits:
    """The visits of one of the user's clinics on one date, as the list's paginator reads them: a count and a slice,
    each a statement compiled once a thread (scheduler.prepared) and sent with the clinic and the date. The list's
    usual request (`?clinic=&date=`, the front desk's day) built and compiled both on every request, which cost more
    CPU than running them. The user may see the clinic (the filter checked it), so its scope adds nothing; the rows
    are the ORM's own values, in the same order, rendered from the page's columns without instances."""

    ordered = True  # the paginator's check: the order is the list's (date, start, id)

    def __init__(self, clinic_id: int, day: date) -> None:
        self.values = {AS_CLINIC: clinic_id, AS_DAY: day}

    def count(self) -> int:
        rows = prepared("api.visits.day_count", _day_count).run(self.values)
        return int(rows[0]["n"]) if rows else 0

    def __getitem__(self, window: slice) -> list[dict[str, Any]]:
        """The page's visits as VisitSerializer renders them (VisitViewSet.list sends them as they are)."""
        start, stop = window.start or 0, window.stop
        if stop is None or stop <= start:
            return []  # as an empty slice of a queryset: no query
        query = prepared(("api.visits.day_page", start, stop), lambda: _day_visits()[start:stop])
        return VisitSerializer().rows_representation(*query.run_columns(self.values))


class VisitFilterBackend(DjangoFilterBackend):
    """DjangoFilterBackend (the same validation, 400s and 404s), whose list of one of the user's clinics on one date,
    and nothing else asked, is a ClinicDayVisits."""

    def filter_queryset(self, request: Request, queryset: QuerySet[Visit], view: Any) -> Any:
        filterset = self.get_filterset(request, queryset, view)
        if filterset is None:
            return queryset
        if not filterset.is_valid() and self.raise_exception:
            raise translate_validation(filterset.errors)
        filtered = filterset.qs  # every filter runs as before (another clinic's id answers 404)
        asked = {name for name, value in filterset.form.cleaned_data.items() if value not in (None, "")}
        clinic = filterset.form.cleaned_data.get("clinic")
        ids = clinic_ids_for(request.user)
        if getattr(view, "action", None) == "list" and asked == {"clinic", "date"} and (ids is None or clinic in ids):
            return ClinicDayVisits(clinic, filterset.form.cleaned_data["date"])
        return filtered


# --- views ----------------------------------------------------------------------------------------------

_ERRORS: dict[int, Any] = {
    400: OpenApiResponse(OpenApiTypes.OBJECT, description="Invalid input or a rule refuses it; names the field."),
    403: OpenApiResponse(ErrorSerializer, description="The role may not do this."),
    404: OpenApiResponse(ErrorSerializer, description="No such visit in your clinics."),
    409: OpenApiResponse(ErrorSerializer, description="Conflicts with the visit's state (full, completed, hold)."),
}
# API.md v1.1: the dosing guard decides every booking, reschedule, check-in and completion.
_GUARDED_409 = OpenApiResponse(
    ErrorSerializer,
    description="Conflicts with the current state: the visit is no longer scheduled (or already completed), its "
    "window is full, or the dosing guard refuses it (API.md v1.1), naming the rule and its source: a second "
    "observed dose of a medication on one date, a date covered by take-homes, an injection before its minimum "
    "interval, diamorphine sessions too close together, an open hold, clinician review or re-induction, or more "
    "take-home doses than the plan's calendar expects without a clinician's `take_home_reason`.",
)
_DATE_RULE = (
    f"today or later at the clinic and at most {services.MAX_DAYS_AHEAD} days ahead, within the plan's dates, on a "
    "date the clinic is open for the service, with a window offering it that has not ended."
)
_START_RULE = "not in the past, and inside a window offering the service on that date."
_NOT_BEFORE = "not before the visit's date."
BOOK_RULES = rules(
    date=_DATE_RULE,
    start=_START_RULE,
    plan="the patient's own active plan; a dose or injection visit without one needs an active plan of that kind.",
    kind="matches the plan: injection plans have injection visits, the others dose visits.",
)
RESCHEDULE_RULES = rules(date=_DATE_RULE, start=_START_RULE)
CHECK_IN_RULES = rules(detail=_NOT_BEFORE, bottles_brought="only at a call-back visit (issue #15).")
SCREEN_RULES = rules(
    substances="a positive result names one or more substances (letters, digits, spaces, . + / -); the other "
    "results name none."
)
COMPLETE_RULES = rules(
    take_home_doses="dose visits only, never diamorphine, and within the rule set's take-home limit for the "
    "patient's treatment day (and week) on the visit's date.",
    detail=_NOT_BEFORE,
)


def _action_schema(
    request: type[serializers.Serializer] | None, summary: str, extensions: dict[str, Any] | None = None,
    conflict: OpenApiResponse = _ERRORS[409],
) -> Any:
    return extend_schema(
        request=request, responses={200: VisitSerializer, **_ERRORS, 409: conflict}, summary=summary,
        extensions=extensions,
    )


@extend_schema_view(
    list=extend_schema(summary="List visits in your clinics"),
    retrieve=extend_schema(
        summary="One visit (audited as a patient-record read)", responses={200: VisitSerializer, 404: _ERRORS[404]}
    ),
)
class VisitViewSet(AuditActorMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = VisitSerializer
    filterset_class = VisitFilter
    filter_backends = [VisitFilterBackend]
    permission_classes = [IsStaffMember, ActionRoles]
    lookup_value_regex = ID_PATH
    action_roles = {
        "list": ALL_ROLES,
        "retrieve": ALL_ROLES,
        "create": FRONT_DESK,
        "reschedule": FRONT_DESK,
        "check_in": FRONT_DESK,
        "cancel": FRONT_DESK,
        "excuse": FRONT_DESK,
        "complete": DOSING,
        "drug_screen": DOSING,
        "screen": DOSING,
        "callback_bottles": FRONT_DESK,
        "assessments": ALL_ROLES,  # reading; recording is for nurses, clinicians and admins (the service says so)
    }

    def get_queryset(self) -> QuerySet[Visit]:
        qs = selectors.visits_for_user(self.request.user)
        if self.action == "list":
            # Issue #16: a page of 50 visits built 50 Clinic objects (ten columns each) for one thing, the zone
            # their instants are rendered in; the list reads that column alone.
            qs = qs.select_related(None).annotate(clinic_timezone=F("clinic__timezone"))
        return qs

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        if isinstance(queryset, ClinicDayVisits):
            return self.get_paginated_response(page)  # rendered from the page's columns already
        if page is not None:
            return self.get_paginated_response(self.get_serializer(page, many=True).data)
        return Response(self.get_serializer(queryset, many=True).data)

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        visit = self.get_object()
        audit_access(request, visit)
        return Response(VisitSerializer(visit).data)

    @extend_schema(
        request=VisitBookSerializer,
        responses={201: VisitSerializer, **_ERRORS, 409: _GUARDED_409},
        summary="Book a manual visit into the window offering its service",
        extensions=BOOK_RULES,
    )
    def create(self, request: Request) -> Response:
        data = _valid(VisitBookSerializer, request)
        patient = _visible(Patient.objects.select_related("clinic"), request, data["patient"], "patient")
        plan = None
        if data.get("plan") is not None:
            plan = _visible(Plan.objects.all(), request, data["plan"], "plan", field="patient__clinic")
        visit = replanning.visit_book(
            patient=patient, kind=data["kind"], date=data["date"], plan=plan, start=data.get("start"), by=request.user
        )
        return Response(VisitSerializer(visit).data, status=status.HTTP_201_CREATED)

    @_action_schema(VisitCheckInSerializer, "Check the patient in (scheduled → checked_in)", CHECK_IN_RULES,
                    _GUARDED_409)
    @action(detail=True, methods=["post"], url_path="check-in")
    def check_in(self, request: Request, pk: str | None = None) -> Response:
        data = _valid(VisitCheckInSerializer, request)
        visit = self.get_object()
        if data["bottles_brought"] is not None:
            if visit.kind != "callback":
                raise serializers.ValidationError({"bottles_brought": ["Only a call-back visit counts bottles."]})
            visit = replanning.callback_check_in(
                visit=visit, by=request.user, bottles_brought=data["bottles_brought"],
                bottles_returned=data["bottles_returned"], bottles_note=data["bottles_note"],
            )
            return Response(VisitSerializer(visit).data)
        visit = services.visit_check_in(
            visit=visit, by=request.user,
            bottles_returned=data["bottles_returned"], bottles_note=data["bottles_note"],
        )
        return Response(VisitSerializer(visit).data)

    @_action_schema(VisitCompleteSerializer, "Complete a visit and issue take-home doses", COMPLETE_RULES,
                    _GUARDED_409)
    @action(detail=True, methods=["post"])
    def complete(self, request: Request, pk: str | None = None) -> Response:
        data = _valid(VisitCompleteSerializer, request)
        visit = services.visit_complete(
            visit=self.get_object(), by=request.user, take_home_doses=data["take_home_doses"],
            take_home_reason=data["take_home_reason"], dose_mg=data["dose_mg"], dose_reason=data["dose_reason"],
            take_home_mg=data["take_home_mg"],
        )
        return Response(VisitSerializer(visit).data)

    @extend_schema(
        methods=["GET"], summary="The COWS assessments recorded at this visit",
        responses={200: AssessmentSerializer(many=True), 404: _ERRORS[404]},
    )
    @extend_schema(
        methods=["POST"],
        summary="Record a COWS at this visit (issue #14: items validated, total computed; nurses, clinicians, admins)",
        request=AssessmentSerializer,
        responses={201: AssessmentSerializer, 400: _ERRORS[400], 403: _ERRORS[403], 404: _ERRORS[404]},
        extensions=rules(items="all 11 COWS items, each scored with a value the scale allows", detail=_NOT_BEFORE),
    )
    @action(detail=True, methods=["get", "post"], pagination_class=None, filterset_class=None)
    def assessments(self, request: Request, pk: str | None = None) -> Response:
        visit = self.get_object()
        if request.method == "GET":
            return Response(AssessmentSerializer(visit.assessments.all(), many=True).data)
        data = _valid(AssessmentSerializer, request)
        assessment = services.assessment_record(visit=visit, items=data["items"], scale=data["scale"], by=request.user)
        return Response(AssessmentSerializer(assessment).data, status=status.HTTP_201_CREATED)

    @_action_schema(VisitReasonSerializer, "Cancel a visit (frees its slot)")
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        data = _valid(VisitReasonSerializer, request)
        visit = replanning.visit_cancel(visit=self.get_object(), reason=data["reason"], by=request.user)
        return Response(VisitSerializer(visit).data)

    @_action_schema(DrugScreenResultSerializer, "Record a drug screen's result (issue #15; nurses, clinicians, admins)",
                    SCREEN_RULES)
    @action(detail=True, methods=["post"], url_path="drug-screen")
    def drug_screen(self, request: Request, pk: str | None = None) -> Response:
        data = _valid(DrugScreenResultSerializer, request)
        visit = screening.drug_screen_record(
            visit=self.get_object(), result=data["result"], substances=data["substances"], by=request.user
        )
        return Response(VisitSerializer(visit).data)

    @_action_schema(DrugScreenResultSerializer, "Record a drug screen's result (issue #15's path; same as drug-screen)",
                    SCREEN_RULES)
    @action(detail=True, methods=["post"], url_path="screen")
    def screen(self, request: Request, pk: str | None = None) -> Response:
        return self.drug_screen(request, pk)

    @_action_schema(CallbackBottlesSerializer, "Count the bottles brought to a call-back (issue #15; once)")
    @action(detail=True, methods=["post"], url_path="callback-bottles")
    def callback_bottles(self, request: Request, pk: str | None = None) -> Response:
        data = _valid(CallbackBottlesSerializer, request)
        visit = replanning.callback_bottles_record(
            visit=self.get_object(), bottles_brought=data["bottles_brought"], by=request.user
        )
        return Response(VisitSerializer(visit).data)

    @_action_schema(VisitReasonSerializer, "Excuse a visit (not counted as missed)")
    @action(detail=True, methods=["post"])
    def excuse(self, request: Request, pk: str | None = None) -> Response:
        data = _valid(VisitReasonSerializer, request)
        visit = replanning.visit_excuse(visit=self.get_object(), reason=data["reason"], by=request.user)
        return Response(VisitSerializer(visit).data)

    @_action_schema(VisitRescheduleSerializer, "Move a scheduled visit to another date or window", RESCHEDULE_RULES,
                    _GUARDED_409)
    @action(detail=True, methods=["post"])
    def reschedule(self, request: Request, pk: str | None = None) -> Response:
        data = _valid(VisitRescheduleSerializer, request)
        visit = replanning.visit_reschedule(
            visit=self.get_object(), date=data["date"], start=data.get("start"), by=request.user
        )
        return Response(VisitSerializer(visit).data)


def _valid(serializer_class: type[serializers.Serializer], request: Request) -> dict[str, Any]:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _visible(queryset: QuerySet[Any], request: Request, pk: int, what: str, field: str = "clinic") -> Any:
    """A row from the user's clinics; another clinic's id answers 404 like a missing one (API.md)."""
    found = scope_to_clinics(queryset, request.user, field=field).filter(pk=pk).first()
    if found is None:
        raise NotFound(f"No such {what} in your clinics.")
    return found


def _clinic_by_id() -> QuerySet[Clinic]:
    return Clinic.objects.filter(pk=AS_CLINIC)


def _visible_clinic(request: Request, pk: int) -> Clinic:
    """_visible for a clinic: one of the user's clinic ids (read once a request) read by its id, with a statement
    compiled once (scheduler.prepared; issue #16); another clinic's id answers 404 without a query."""
    ids = clinic_ids_for(request.user)
    found = prepared("api.clinic", _clinic_by_id).run({AS_CLINIC: pk}) if ids is None or pk in ids else []
    if not found:
        raise NotFound("No such clinic in your clinics.")
    return found[0]


class AvailabilityView(AuditActorMixin, APIView):
    permission_classes = [IsStaffMember, ActionRoles]
    action_roles = {"get": ALL_ROLES}

    @extend_schema(
        summary="Windows offering a service on a clinic-local date, with capacity and bookings",
        parameters=[AvailabilityQuerySerializer],
        responses={
            200: AvailabilitySerializer(many=True),
            400: _ERRORS[400],
            404: OpenApiResponse(ErrorSerializer, description="No such clinic in your clinics."),
        },
    )
    def get(self, request: Request, clinic_id: int) -> Response:
        clinic = _visible_clinic(request, clinic_id)
        query = AvailabilityQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        rows = selectors.availability(
            clinic=clinic, date=query.validated_data["date"], service=query.validated_data["service"]
        )
        tz = ZoneInfo(clinic.timezone)
        for row in rows:
            row["start"], row["end"] = row["start"].astimezone(tz), row["end"].astimezone(tz)
        return Response(AvailabilitySerializer(rows, many=True).data)


# --- drug screens (issue #15) ----------------------------------------------------------------------------

SCREEN_RANGE_DAYS = 400  # a screens list covers at most this many days (bounded; a year and a little more)


class ScreenSerializer(serializers.ModelSerializer):
    """A visit drawn for a random drug screen, with its result."""

    visit = serializers.IntegerField(source="pk", read_only=True)
    result = serializers.CharField(source="drug_screen_result", read_only=True, help_text='"" until recorded.')
    substances = serializers.SerializerMethodField()
    counts_as_positive = serializers.SerializerMethodField(help_text="positive or refused (a refusal counts).")
    status = serializers.CharField(read_only=True, help_text="The visit's status (as on the visit).")

    class Meta:
        model = Visit
        fields = ["visit", "patient", "clinic", "plan", "kind", "date", "status", "result", "substances",
                  "counts_as_positive"]
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_substances(self, obj: Visit) -> list[str]:
        return list(obj.drug_screen_substances or [])

    def get_counts_as_positive(self, obj: Visit) -> bool:
        return obj.drug_screen_result in SCREEN_POSITIVE_RESULTS


class ScreenFilter(django_filters.FilterSet):
    clinic = clinic_filter()
    patient = patient_filter()
    date_from = BoundedDateFilter(field_name="date", lookup_expr="gte")
    date_to = BoundedDateFilter(field_name="date", lookup_expr="lte")
    result = django_filters.ChoiceFilter(field_name="drug_screen_result", choices=DRUG_SCREEN_RESULT_CHOICES)

    class Meta:
        model = Visit
        fields = ["clinic", "patient", "date_from", "date_to", "result"]

    def filter_queryset(self, queryset: QuerySet[Visit]) -> QuerySet[Visit]:
        data = self.form.cleaned_data
        date_from, date_to = data.get("date_from"), data.get("date_to")
        if date_from is not None and date_to is not None:
            if date_to < date_from:
                raise serializers.ValidationError({"date_to": ["On or after date_from."]})
            if (date_to - date_from).days >= SCREEN_RANGE_DAYS:
                raise serializers.ValidationError(
                    {"date_from": [f"A screens list covers at most {SCREEN_RANGE_DAYS} days."]}
                )
        elif date_from is None and date_to is None and data.get("patient") is None:
            # Bounded: without a patient or dates, the last 400 days.
            queryset = queryset.filter(date__gte=timezone.localdate() - timedelta(days=SCREEN_RANGE_DAYS))
        return super().filter_queryset(queryset)


@extend_schema_view(
    list=extend_schema(
        summary="Drug screens in your clinics (issue #15; nurses, clinicians, admins; each row read is audited)",
        extensions=rules(
            date_from=f"at most {SCREEN_RANGE_DAYS} days before date_to.", date_to="on or after date_from."
        ),
    ),
)
class ScreenViewSet(AuditActorMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = ScreenSerializer
    filterset_class = ScreenFilter
    permission_classes = [IsStaffMember, ActionRoles]
    action_roles = {"list": DOSING}

    def get_queryset(self) -> QuerySet[Visit]:
        return screening.screens_for_user(self.request.user)

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        rows = list(page if page is not None else queryset)
        for visit in rows:
            audit_access(request, visit)  # a screen's result is part of the patient's record
        data = ScreenSerializer(rows, many=True).data
        return self.get_paginated_response(data) if page is not None else Response(data)
