"""HTTP shells for the scheduler (API.md): each view checks roles and scope, then calls one service."""

from __future__ import annotations

from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from auditlog.models import LogEntry
from auditlog.signals import accessed
from django.contrib.auth import authenticate
from django.db.models import Max, Prefetch, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.scheduler.serializers import PlanSerializer
from api.visits.views import VisitSerializer
from config.schema import rules
from config.tokens import token_issue
from notifications import replanning
from scheduler import bounds, engine, services
from scheduler.api.base import ScopedViewSet, audit_patient_list
from scheduler.api.filters import PatientFilter, PlanFilter
from scheduler.api.serializers import (
    CalendarDaySerializer,
    CalendarQuerySerializer,
    ClinicSerializer,
    ClosureCreatedSerializer,
    ClosureSerializer,
    DoseOrderSerializer,
    HistoryEntrySerializer,
    PatientSerializer,
    PauseSerializer,
    StaffSerializer,
    TakeHomeReviewSerializer,
    TaperSerializer,
    TokenRequestSerializer,
    TokenSerializer,
    WindowSerializer,
)
from scheduler.models import Clinic, Closure, DosingWindow, Patient, Pause, Plan, StaffProfile
from scheduler.permissions import ADMIN, CLINICAL, FRONT_DESK, clinic_ids_for, scope_to_clinics
from scheduler.selectors import calendar_for_clinic, plan_spec, rules_for_clinic
from visits.models import Visit
from visits.reports import closure_affected_visits

ERRORS = {400: OpenApiResponse(description="Bad input; the body names the field"),
          403: OpenApiResponse(description="Your role may not do this"),
          404: OpenApiResponse(description="No such id in your clinics")}


# Rules the schema cannot state, listed in each operation's description (config.schema.rules).
PHONE_RULE = "a number valid in the clinic's `country`: its national format, or international with the country code."
CLINIC_RULES = rules(
    phone=PHONE_RULE,
    sms_name="neutral (42 CFR Part 2): no word that reveals treatment (methadone, dose, recovery, ...).",
)
KEEP_DIAMORPHINE = "a change may not leave an active diamorphine plan without its sessions."
WINDOW_RULES = rules(
    end="after `start`, on the same day.",
    capacity="given, or computed from `stations` and `minutes_per_visit` (both given); at least one visit.",
    detail=KEEP_DIAMORPHINE,
)
CLOSURE_RULES = rules(
    detail="a closure may not leave a diamorphine patient without a session, nor give a patient more take-home "
    "doses at once than the rule set allows.",
)
PATIENT_RULES = rules(
    mrn="unique within the clinic (ignoring case).",
    phone=PHONE_RULE,
    sms_consent="true needs a phone number.",
    clinic="a patient stays in their clinic (changes only).",
)
PLAN_RULES = rules(
    medication="one active plan per patient and medication over any date range (the existing plan is named).",
    doses_per_day="more than one for diamorphine only, or 2 for a methadone split dose.",
    split_first_share="a methadone split dose only (doses_per_day 2): the first session's percent, 1 to 99.",
    end_date="on or after `start_date`.",
    treatment_start="on or before `start_date`.",
    interval_days="injections, at least the medication's minimum in the rule set (Sublocade: 26 days); sublingual "
    "buprenorphine 1 (daily) or 2 (alternate-day: a double dose every 48 hours, the day between covered by it).",
    start_date="the plan's calendar may not hand out more take-home doses at once than the rule set allows.",
    patient="a plan stays with its patient (changes only).",
    detail="the plan must fit the clinic's windows (for example every diamorphine session needs one).",
)
CALENDAR_RULES = rules(
    date_to=f"on or after `date_from`, at most {bounds.MAX_RANGE_DAYS} days from it, and at most "
    f"{bounds.MAX_YEARS_AFTER_PLAN_START} years after the plan's start.",
    detail="the plan must fit the clinic's windows.",
)
PAUSE_RULES = rules(
    end="on or after `start`.",
    start="guest dosing declared by the front desk or a nurse starts at least the rule set's "
    "`guest_dosing_notice_hours` (default 24) from now; clinicians and admins may give shorter notice.",
)
STAFF_RULES = rules(
    username="not taken (ignoring case).",
    password="the password rules: not too similar to the username, not a common password, not only digits.",
)
TAKEHOME_REVIEW_RULES = rules(plan="only an active plan's take-homes are reviewed.")


# --- auth -------------------------------------------------------------------------------------------


class TokenView(APIView):
    """Username + password → API token. Failures count towards the django-axes lockout."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    @extend_schema(
        request=TokenRequestSerializer,
        responses={200: TokenSerializer, 400: ERRORS[400], 429: OpenApiResponse(description="Locked out")},
        auth=[],
        extensions=rules(detail="the username and password of an active staff user; others answer 400 (API.md)."),
    )
    def post(self, request: Request) -> Response:
        serializer = TokenRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        # The DRF request (not request._request) carries axes' lockout flag back to us, so the
        # answer stays JSON instead of AxesMiddleware's plain-text page.
        user = authenticate(request=request, **serializer.validated_data)
        if getattr(request, "axes_locked_out", False):
            return Response(
                {"detail": "Too many failed sign-ins: this account is locked for a while. "
                           "Try again later or ask an admin to unlock it."},
                status=status.HTTP_429_TOO_MANY_REQUESTS,
            )
        if user is None:
            raise ValidationError({"detail": "Unable to sign in with that username and password."})
        token = token_issue(user=user)  # a fresh token in place of an expired one (config/tokens.py)
        return Response({"token": token.key})


# --- clinics ----------------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="Clinics you belong to"),
    create=extend_schema(summary="Create a clinic (admin)", responses={201: ClinicSerializer, **ERRORS},
                         extensions=CLINIC_RULES),
    partial_update=extend_schema(summary="Change a clinic (admin)", responses={200: ClinicSerializer, **ERRORS},
                                 extensions=CLINIC_RULES),
)
class ClinicViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    serializer_class = ClinicSerializer
    action_roles = {"create": ADMIN, "partial_update": ADMIN}

    def get_queryset(self) -> QuerySet[Clinic]:
        return scope_to_clinics(Clinic.objects.order_by("name", "id"), self.request.user, field="id")

    def create(self, request: Request) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        clinic = services.clinic_create(**serializer.validated_data, created_by=request.user)
        return Response(self.get_serializer(clinic).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        clinic = self.get_object()
        serializer = self.get_serializer(clinic, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = {k: v for k, v in serializer.validated_data.items() if k != "preset"}
        clinic = replanning.clinic_update(clinic=clinic, data=data)
        return Response(self.get_serializer(clinic).data)


class ClinicNestedViewSet(ScopedViewSet):
    """Resources under /clinics/{clinic_pk}/: another clinic's id answers 404 before anything else."""

    @cached_property
    def clinic(self) -> Clinic:
        scoped = scope_to_clinics(Clinic.objects.select_related("rule_set"), self.request.user, field="id")
        try:
            return scoped.get(pk=bounds.parse_int(self.kwargs["clinic_pk"], lo=1, hi=bounds.ID_MAX))
        except (Clinic.DoesNotExist, bounds.BoundError) as exc:
            raise NotFound("No such clinic.") from exc

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        self.clinic  # noqa: B018 - resolve (and 404) before the action runs


CLINIC_ID = OpenApiParameter("clinic_pk", OpenApiTypes.INT, OpenApiParameter.PATH, description="Clinic id")


@extend_schema_view(
    list=extend_schema(summary="Dosing windows of a clinic", parameters=[CLINIC_ID]),
    create=extend_schema(summary="Add a window (admin)", parameters=[CLINIC_ID],
                         responses={201: WindowSerializer, **ERRORS}, extensions=WINDOW_RULES),
    partial_update=extend_schema(summary="Change a window (admin)", parameters=[CLINIC_ID],
                                 responses={200: WindowSerializer, **ERRORS}, extensions=WINDOW_RULES),
    destroy=extend_schema(summary="Remove a window (admin)", parameters=[CLINIC_ID],
                          responses={204: None, **ERRORS}, extensions=rules(detail=KEEP_DIAMORPHINE)),
)
class WindowViewSet(mixins.ListModelMixin, ClinicNestedViewSet):
    serializer_class = WindowSerializer
    queryset = DosingWindow.objects.none()  # for the schema; get_queryset scopes to the clinic

    def get_queryset(self) -> QuerySet[DosingWindow]:
        return DosingWindow.objects.filter(clinic=self.clinic).order_by("start", "id")

    def create(self, request: Request, clinic_pk: str) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        window = replanning.window_create(clinic=self.clinic, value=services.WindowInput(**serializer.validated_data))
        return Response(self.get_serializer(window).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, clinic_pk: str, pk: str) -> Response:
        window = self.get_object()
        serializer = self.get_serializer(window, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        window = replanning.window_update(window=window, changes=dict(serializer.validated_data))
        return Response(self.get_serializer(window).data)

    def destroy(self, request: Request, clinic_pk: str, pk: str) -> Response:
        replanning.window_delete(window=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(
    list=extend_schema(summary="Closures of a clinic", parameters=[CLINIC_ID]),
    create=extend_schema(
        summary="Add a closure (admin); a past date needs confirm_past=true, a duplicate is refused",
        parameters=[CLINIC_ID], request=ClosureSerializer, responses={201: ClosureCreatedSerializer, **ERRORS},
        extensions=CLOSURE_RULES,
    ),
    destroy=extend_schema(summary="Remove a closure (admin)", parameters=[CLINIC_ID],
                          responses={204: None, **ERRORS}),
)
class ClosureViewSet(mixins.ListModelMixin, ClinicNestedViewSet):
    serializer_class = ClosureSerializer
    queryset = Closure.objects.none()  # for the schema; get_queryset scopes to the clinic

    def get_queryset(self) -> QuerySet[Closure]:
        return Closure.objects.filter(clinic=self.clinic).order_by("date", "id")

    def create(self, request: Request, clinic_pk: str) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        confirm_past = data.pop("confirm_past", False)
        affected = closure_affected_visits(clinic=self.clinic, day=data["date"], services=data.get("services", []))
        closure = replanning.closure_create(clinic=self.clinic, confirm_past=confirm_past, **data)
        closure.affected_visits = affected  # type: ignore[attr-defined]
        return Response(ClosureCreatedSerializer(closure).data, status=status.HTTP_201_CREATED)

    def destroy(self, request: Request, clinic_pk: str, pk: str) -> Response:
        closure = self.get_object()
        closure.clinic = self.clinic
        replanning.closure_delete(closure=closure)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- patients ---------------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="Patients (q: name, MRN or date of birth)"),
    retrieve=extend_schema(summary="A patient (each read is audited)"),
    create=extend_schema(summary="Register a patient", responses={201: PatientSerializer, **ERRORS},
                         extensions=PATIENT_RULES),
    partial_update=extend_schema(summary="Change a patient", responses={200: PatientSerializer, **ERRORS},
                                 extensions=PATIENT_RULES),
)
class PatientViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    serializer_class = PatientSerializer
    filterset_class = PatientFilter
    action_roles = {"create": FRONT_DESK, "partial_update": FRONT_DESK, "callback": CLINICAL}

    def get_queryset(self) -> QuerySet[Patient]:
        return scope_to_clinics(Patient.objects.select_related("clinic"), self.request.user)

    def list(self, request: Request) -> Response:
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        rows = list(page) if page is not None else list(queryset)
        audit_patient_list(user=request.user, patient_ids=[p.pk for p in rows])
        data = self.get_serializer(rows, many=True).data
        return self.get_paginated_response(data) if page is not None else Response(data)

    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        patient = self.get_object()
        # 42 CFR Part 2 / HIPAA: every read of a patient record leaves an access entry.
        accessed.send(sender=Patient, instance=patient)
        return Response(self.get_serializer(patient).data)

    def create(self, request: Request) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        patient = services.patient_create(clinic=data.pop("clinic"), data=data, by=request.user)
        return Response(self.get_serializer(patient).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        patient = self.get_object()
        serializer = self.get_serializer(patient, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        clinic = data.pop("clinic", patient.clinic)
        if clinic.pk != patient.clinic_id:
            raise ValidationError({"clinic": ["A patient cannot move to another clinic; register them there."]})
        patient = services.patient_update(patient=patient, data=data, by=request.user)
        return Response(self.get_serializer(patient).data)

    @extend_schema(
        request=None, responses={201: VisitSerializer, **ERRORS, 409: OpenApiResponse(description="No room in 24 h")},
        summary="Call a take-home holder back (issue #15; clinicians, admins): a callback visit within 24 hours",
    )
    @action(detail=True, methods=["post"], filterset_class=None)
    def callback(self, request: Request, pk: str | None = None) -> Response:
        visit = replanning.callback_start(patient=self.get_object(), by=request.user)
        return Response(VisitSerializer(visit).data, status=status.HTTP_201_CREATED)


# --- plans ------------------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="Plans (active=true: active and not ended)"),
    create=extend_schema(summary="Create a plan (clinician, admin); generates its visits",
                         responses={201: PlanSerializer, **ERRORS}, extensions=PLAN_RULES),
    partial_update=extend_schema(summary="Change a plan (clinician, admin); regenerates its future visits",
                                 responses={200: PlanSerializer, **ERRORS}, extensions=PLAN_RULES),
)
class PlanViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    serializer_class = PlanSerializer
    filterset_class = PlanFilter
    action_roles = {"create": CLINICAL, "partial_update": CLINICAL, "takehome_review": CLINICAL, "taper": CLINICAL}

    def get_permissions(self) -> Any:
        # Everyone reads a plan's orders; only clinicians and admins order (dose_order_create says so too).
        if self.action == "orders" and self.request.method == "POST":
            self.action_roles = {**self.action_roles, "orders": CLINICAL}
        return super().get_permissions()

    def get_queryset(self) -> QuerySet[Plan]:
        queryset = Plan.objects.select_related("patient__clinic__rule_set").prefetch_related("orders").order_by("id")
        return scope_to_clinics(queryset, self.request.user, field="patient__clinic")

    def create(self, request: Request) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        plan = replanning.plan_create(patient=data.pop("patient"), data=data)
        return Response(self.get_serializer(plan).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        plan = self.get_object()
        serializer = self.get_serializer(plan, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        if data.pop("patient", plan.patient).pk != plan.patient_id:
            raise ValidationError({"patient": ["A plan cannot move to another patient; create a new plan."]})
        plan = replanning.plan_update(plan=plan, data=data)
        return Response(self.get_serializer(plan).data)

    @extend_schema(
        summary="Record a clinician's take-home review and decision (DOMAIN §6: at least every 90 days; API.md "
        "v1.1: approved=true restores earned take-homes after a hold, false suspends them)",
        request=TakeHomeReviewSerializer,
        responses={200: PlanSerializer, 400: ERRORS[400], 403: ERRORS[403], 404: ERRORS[404]},
        extensions=TAKEHOME_REVIEW_RULES,
    )
    @action(detail=True, methods=["post"], url_path="takehome-review", filterset_class=None)
    def takehome_review(self, request: Request, pk: str | None = None) -> Response:
        return self._takehome_review(request)

    @extend_schema(
        methods=["GET"], summary="The plan's dose orders, oldest first: its full history (issue #14)",
        responses={200: DoseOrderSerializer(many=True), 404: ERRORS[404]},
    )
    @extend_schema(
        methods=["POST"],
        summary="Order the plan's dose from a clinic-local date (clinicians and admins; never back-dated)",
        request=DoseOrderSerializer,
        responses={201: DoseOrderSerializer, 400: ERRORS[400], 403: ERRORS[403], 404: ERRORS[404]},
        extensions=rules(
            effective_date="today or later at the clinic (doses already given keep their amounts)",
            dose_mg="within the rule set's per-dose limits (buprenorphine 32 mg a day, diamorphine 400 mg a session)",
            plan="an active plan",
        ),
    )
    @action(detail=True, methods=["get", "post"], url_path="orders", filterset_class=None, pagination_class=None)
    def orders(self, request: Request, pk: str | None = None) -> Response:
        plan = self.get_object()
        if request.method == "GET":
            history = plan.orders.order_by("effective_date", "created", "id")
            return Response(DoseOrderSerializer(history, many=True).data)
        body = DoseOrderSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        order = services.dose_order_create(
            plan=plan, dose_mg=body.validated_data["dose_mg"], effective_date=body.validated_data["effective_date"],
            note=body.validated_data["note"], by=request.user,
        )
        return Response(DoseOrderSerializer(order).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="A withdrawal taper: a series of dose orders from a start dose, a step and an interval (issue #14)",
        request=TaperSerializer,
        responses={201: DoseOrderSerializer(many=True), 400: ERRORS[400], 403: ERRORS[403], 404: ERRORS[404]},
        extensions=rules(
            step_mg="at most start_mg; at most 60 steps", start_date="today or later at the clinic",
            plan="an active plan", dose_mg="each step within the rule set's per-dose limits",
        ),
    )
    @action(detail=True, methods=["post"], url_path="taper", filterset_class=None, pagination_class=None)
    def taper(self, request: Request, pk: str | None = None) -> Response:
        plan = self.get_object()
        body = TaperSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        orders = services.dose_taper_create(plan=plan, by=request.user, **body.validated_data)
        return Response(DoseOrderSerializer(orders, many=True).data, status=status.HTTP_201_CREATED)

    def _takehome_review(self, request: Request) -> Response:
        # An empty body is {} (every field has a default); a JSON null, list or number is refused.
        review = TakeHomeReviewSerializer(data=request.data)
        review.is_valid(raise_exception=True)
        plan = replanning.plan_takehome_review(
            plan=self.get_object(), by=request.user, approved=review.validated_data["approved"],
            note=review.validated_data["note"],
        )
        return Response(self.get_serializer(plan).data)

    @extend_schema(
        summary=f"The engine's answer for a date range (at most {bounds.MAX_RANGE_DAYS} days; not paginated)",
        parameters=[CalendarQuerySerializer],
        responses={200: CalendarDaySerializer(many=True), 400: ERRORS[400], 404: ERRORS[404]},
        extensions=CALENDAR_RULES,
    )
    @action(detail=True, methods=["get"], pagination_class=None, filterset_class=None)
    def calendar(self, request: Request, pk: str | None = None) -> Response:
        plan = self.get_object()
        query = CalendarQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        date_from, date_to = query.validated_data["date_from"], query.validated_data["date_to"]
        try:
            # The engine simulates the plan from its start: its work is bounded by the distance, too.
            bounds.check_after_plan_start(plan.start_date, date_to)
        except bounds.BoundError as exc:
            raise ValidationError({"date_to": [exc.message]}) from exc
        return Response(self._calendar_rows(plan, date_from, date_to))

    def _calendar_rows(self, plan: Plan, date_from: Any, date_to: Any) -> list[dict[str, Any]]:
        clinic = plan.patient.clinic
        last_injection = None
        if plan.medication in engine.INJECTIONS:
            last_injection = Visit.objects.filter(plan=plan, kind="injection", status="completed").aggregate(
                last=Max("date")
            )["last"]
        tz = ZoneInfo(clinic.timezone)
        from visits.selectors import first_injection_from

        rules = rules_for_clinic(clinic)
        first_from = first_injection_from(plan, rules) if last_injection is None else None
        spec = plan_spec(plan, pauses=list(plan.pauses.all()), last_injection_date=last_injection,
                         first_injection_from=first_from)
        try:
            days = engine.plan_days(spec, calendar_for_clinic(clinic), rules, date_from, date_to)
        except engine.PlanNotSatisfiable as exc:
            raise ValidationError({"detail": f"This plan cannot be scheduled: {exc}."}) from exc
        visits: dict[Any, list[int]] = {}
        for visit_id, day in Visit.objects.filter(plan=plan, date__range=(date_from, date_to)).order_by(
            "date", "start", "id"
        ).values_list("id", "date"):
            visits.setdefault(day, []).append(visit_id)
        return [
            {
                "date": day.date.isoformat(),
                "expected": day.expected,
                "sessions": [
                    {"start": s.start.astimezone(tz).isoformat(), "end": s.end.astimezone(tz).isoformat()}
                    for s in day.sessions
                ],
                "reason": day.reason,
                "take_home_doses": day.take_home_doses,
                "visits": visits.get(day.date, []),
                "first_injection_from": first_from.isoformat() if first_from else None,
            }
            for day in days
        ]

    @extend_schema(summary="Audit history of the plan's changes", responses={200: HistoryEntrySerializer(many=True)})
    @action(detail=True, methods=["get"], filterset_class=None)
    def history(self, request: Request, pk: str | None = None) -> Response:
        plan = self.get_object()
        entries = LogEntry.objects.get_for_object(plan).select_related("actor").order_by("-timestamp", "-id")
        page = self.paginate_queryset(entries)
        serializer = HistoryEntrySerializer(page if page is not None else entries, many=True)
        return self.get_paginated_response(serializer.data) if page is not None else Response(serializer.data)


PLAN_ID = OpenApiParameter("plan_pk", OpenApiTypes.INT, OpenApiParameter.PATH, description="Plan id")


@extend_schema_view(
    list=extend_schema(summary="Pauses of a plan", parameters=[PLAN_ID]),
    create=extend_schema(summary="Declare a pause (guest dosing needs 24–48 h notice)", parameters=[PLAN_ID],
                         responses={201: PauseSerializer, **ERRORS}, extensions=PAUSE_RULES),
)
class PauseViewSet(mixins.ListModelMixin, ScopedViewSet):
    serializer_class = PauseSerializer
    queryset = Pause.objects.none()  # for the schema; get_queryset scopes to the plan
    action_roles = {"create": FRONT_DESK}

    @cached_property
    def plan(self) -> Plan:
        scoped = scope_to_clinics(Plan.objects.select_related("patient__clinic"), self.request.user,
                                  field="patient__clinic")
        try:
            return scoped.get(pk=bounds.parse_int(self.kwargs["plan_pk"], lo=1, hi=bounds.ID_MAX))
        except (Plan.DoesNotExist, bounds.BoundError) as exc:
            raise NotFound("No such plan.") from exc

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        self.plan  # noqa: B018 - resolve (and 404) before the action runs

    def get_queryset(self) -> QuerySet[Pause]:
        return Pause.objects.filter(plan=self.plan).order_by("start", "id")

    def create(self, request: Request, plan_pk: str) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        pause = replanning.pause_create(plan=self.plan, actor=request.user, **serializer.validated_data)
        return Response(self.get_serializer(pause).data, status=status.HTTP_201_CREATED)


# --- staff ------------------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="Staff of your clinics (admin)"),
    create=extend_schema(summary="Create a staff user (admin)", responses={201: StaffSerializer, **ERRORS},
                         extensions=STAFF_RULES),
)
class StaffViewSet(ScopedViewSet):
    serializer_class = StaffSerializer
    action_roles = {"list": ADMIN, "create": ADMIN}

    def get_queryset(self) -> QuerySet[StaffProfile]:
        visible = clinic_ids_for(self.request.user)
        queryset = StaffProfile.objects.select_related("user").order_by("user__username", "id")
        clinics = Clinic.objects.only("id")
        if visible is not None:
            queryset = queryset.filter(clinics__in=visible).distinct()
            clinics = clinics.filter(id__in=visible)
        return queryset.prefetch_related(Prefetch("clinics", queryset=clinics))

    @staticmethod
    def _row(profile: StaffProfile) -> dict[str, Any]:
        return {
            "id": profile.user_id,
            "username": profile.user.get_username(),
            "role": profile.role,
            "clinics": sorted(c.pk for c in profile.clinics.all()),
        }

    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response([self._row(p) for p in page or []])

    def create(self, request: Request) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        wanted = set(data.pop("clinics"))
        clinics = list(scope_to_clinics(Clinic.objects.filter(id__in=wanted), request.user, field="id"))
        missing = wanted - {c.pk for c in clinics}
        if missing:
            raise NotFound(f"No clinic with id {', '.join(str(i) for i in sorted(missing))} among your clinics.")
        user = services.staff_create(clinics=clinics, **data)
        profile = StaffProfile.objects.select_related("user").prefetch_related("clinics").get(user=user)
        return Response(self._row(profile), status=status.HTTP_201_CREATED)
