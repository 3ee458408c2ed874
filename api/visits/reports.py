"""GET /api/v1/reports/attendance/ — JSON, or CSV with `Accept: text/csv` or `?format=csv` (API.md).

GET /api/v1/reports/retention/ (issue #17) — retention in treatment (Kaplan–Meier, 90/180 days); CSV: the episodes.
GET /api/v1/reports/reminders/ (issue #17) — attendance with a delivered reminder versus without (Wilson intervals).
"""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from typing import Any

from django.urls import path
from django.utils import timezone
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import renderers, serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.schema import rules
from notifications import analytics
from scheduler import bounds
from scheduler.api.serializers import BoundedDateField, BoundedIntegerField
from scheduler.models import MEDICATIONS, Clinic
from scheduler.permissions import REPORTS, ActionRoles, IsStaffMember, clinic_ids_for
from scheduler.timeutil import local_date
from visits import screening
from visits.reports import attendance_report, controlled_drugs

MAX_RANGE_DAYS = bounds.MAX_RANGE_DAYS
DEFAULT_RANGE_DAYS = 28
COUNTS = ("expected", "completed", "missed", "excused", "cancelled", "attendance_rate")
CSV_COLUMNS = ("scope", "date", "patient", "mrn", "first_name", "last_name", *COUNTS)


def _safe_cell(value: Any) -> Any:
    # A cell starting with =, +, - or @ is a formula to a spreadsheet: neutralise names like "=HYPERLINK(...)".
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return "" if value is None else value


class AttendanceCSVRenderer(renderers.BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        if not isinstance(data, dict) or "by_day" not in data:
            # An error body (400/403) rendered as CSV: one line with the message.
            writer.writerow(["error", str(data)])
            return out.getvalue().encode()
        writer.writerow(["total", "", "", "", "", "", *(data[k] for k in COUNTS)])
        for row in data["by_day"]:
            writer.writerow(["day", row["date"], "", "", "", "", *(row[k] for k in COUNTS)])
        for row in data["by_patient"]:
            writer.writerow(
                [
                    "patient",
                    "",
                    row["patient"],
                    *(_safe_cell(row[k]) for k in ("mrn", "first_name", "last_name")),
                    *(row[k] for k in COUNTS),
                ]
            )
        return out.getvalue().encode()


class ReportQuery(serializers.Serializer):
    clinic = BoundedIntegerField(
        required=False, min_value=1, max_value=bounds.ID_MAX, help_text="A clinic of yours; another id answers 404."
    )
    date_from = BoundedDateField(required=False, help_text="Default: 27 days before date_to.")
    date_to = BoundedDateField(
        required=False,
        help_text=f"Default: today, or 27 days after date_from; at most {MAX_RANGE_DAYS} days from date_from.",
    )
    medication = serializers.ChoiceField(choices=MEDICATIONS, required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        start, end = attrs.get("date_from"), attrs.get("date_to")
        if start and end and end < start:
            raise serializers.ValidationError({"date_to": ["date_to must be on or after date_from."]})
        if start and end and (end - start).days >= MAX_RANGE_DAYS:
            raise serializers.ValidationError({"date_to": [f"A report covers at most {MAX_RANGE_DAYS} days."]})
        return attrs


_COUNT_FIELDS: dict[str, serializers.Field] = {
    "expected": serializers.IntegerField(),
    "completed": serializers.IntegerField(),
    "missed": serializers.IntegerField(),
    "excused": serializers.IntegerField(),
    "cancelled": serializers.IntegerField(),
    "attendance_rate": serializers.FloatField(allow_null=True),
}
ReportSerializer = inline_serializer(
    "AttendanceReport",
    {
        **_COUNT_FIELDS,
        "date_from": serializers.DateField(),
        "date_to": serializers.DateField(),
        "by_patient": inline_serializer(
            "AttendanceByPatient",
            {
                "patient": serializers.IntegerField(),
                "mrn": serializers.CharField(),
                "first_name": serializers.CharField(),
                "last_name": serializers.CharField(),
                **_COUNT_FIELDS,
            },
            many=True,
        ),
        "by_day": inline_serializer("AttendanceByDay", {"date": serializers.DateField(), **_COUNT_FIELDS}, many=True),
    },
)


class AttendanceReportView(APIView):
    permission_classes = [IsStaffMember, ActionRoles]
    action_roles = {"read": REPORTS}
    renderer_classes = [renderers.JSONRenderer, renderers.BrowsableAPIRenderer, AttendanceCSVRenderer]

    def _clinic_ids(self, request: Request, clinic_id: int | None) -> list[int]:
        allowed = clinic_ids_for(request.user)
        if clinic_id is not None:
            if (allowed is not None and clinic_id not in allowed) or not Clinic.objects.filter(pk=clinic_id).exists():
                raise NotFound("No such clinic.")
            return [clinic_id]
        return allowed if allowed is not None else list(Clinic.objects.values_list("id", flat=True))

    def _range(self, params: dict[str, Any], clinic_ids: list[int]) -> tuple[date, date]:
        """Missing ends default to the last 28 clinic-local days (or 28 days from date_from)."""
        date_from, date_to = params.get("date_from"), params.get("date_to")
        if date_to is None:
            if date_from is not None:
                return date_from, date_from + timedelta(days=DEFAULT_RANGE_DAYS - 1)
            clinic = Clinic.objects.filter(pk__in=clinic_ids).first()
            date_to = local_date(timezone.now(), clinic.timezone) if clinic else timezone.now().date()
        return date_from or date_to - timedelta(days=DEFAULT_RANGE_DAYS - 1), date_to

    @extend_schema(
        parameters=[ReportQuery],
        responses={200: ReportSerializer},
        description="Attendance totals, by patient and by day; `?format=csv` or `Accept: text/csv` for CSV.",
        extensions=rules(date_to=f"on or after `date_from`, at most {MAX_RANGE_DAYS} days from it."),
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        query = ReportQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        clinic_ids = self._clinic_ids(request, query.validated_data.get("clinic"))
        date_from, date_to = self._range(query.validated_data, clinic_ids)
        if (date_to - date_from).days >= MAX_RANGE_DAYS:
            raise serializers.ValidationError({"date_from": [f"A report covers at most {MAX_RANGE_DAYS} days."]})
        report = attendance_report(
            clinic_ids=clinic_ids,
            date_from=date_from,
            date_to=date_to,
            medication=query.validated_data.get("medication", ""),
        )
        response = Response({**report, "date_from": date_from, "date_to": date_to})
        if getattr(request.accepted_renderer, "format", "") == "csv":
            response["Content-Disposition"] = f'attachment; filename="attendance-{date_from}-{date_to}.csv"'
        return response


# --- retention (issue #17) ---------------------------------------------------------------------------

EPISODE_COLUMNS = ("patient", "medication", "cohort", "start", "last_dose", "doses", "left", "left_on", "duration_days")


class RowsCSVRenderer(renderers.BaseRenderer):
    """A list of rows under `key` as CSV with `columns`; an error body becomes one line with its message."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"
    columns: tuple[str, ...] = ()
    key = "rows"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(self.columns)
        if not isinstance(data, dict) or self.key not in data:
            writer.writerow(["error", str(data)])
            return out.getvalue().encode()
        for row in data[self.key]:
            writer.writerow([_safe_cell(row[k]) for k in self.columns])
        return out.getvalue().encode()


class RetentionCSVRenderer(RowsCSVRenderer):
    """The episode list: one row per episode of treatment (patient ids, no names)."""

    columns = EPISODE_COLUMNS
    key = "episodes"


class ClinicQuery(serializers.Serializer):
    clinic = BoundedIntegerField(
        min_value=1, max_value=bounds.ID_MAX, help_text="A clinic of yours; another id answers 404."
    )
    medication = serializers.ChoiceField(choices=MEDICATIONS, required=False, help_text="One program only.")


def _clinic_for(request: Request, clinic_id: int) -> Clinic:
    allowed = clinic_ids_for(request.user)
    clinic = Clinic.objects.filter(pk=clinic_id).first()
    if clinic is None or (allowed is not None and clinic_id not in allowed):
        raise NotFound("No such clinic.")
    return clinic


_RETENTION_AT = inline_serializer(
    "RetentionAt",
    {
        "day": serializers.IntegerField(),
        "survival": serializers.FloatField(allow_null=True, help_text="null: nobody followed that long yet."),
        "lower": serializers.FloatField(allow_null=True),
        "upper": serializers.FloatField(allow_null=True),
        "at_risk": serializers.IntegerField(),
    },
)
_KM_STEP = inline_serializer(
    "KaplanMeierStep",
    {
        "time": serializers.IntegerField(help_text="Days since the episode started."),
        "at_risk": serializers.IntegerField(),
        "events": serializers.IntegerField(),
        "censored": serializers.IntegerField(),
        "survival": serializers.FloatField(),
        "std_err": serializers.FloatField(),
        "lower": serializers.FloatField(),
        "upper": serializers.FloatField(),
    },
    many=True,
)
_FIGURES: dict[str, serializers.Field] = {
    "episodes": serializers.IntegerField(),
    "left": serializers.IntegerField(),
    "retention_90": _RETENTION_AT,
    "retention_180": _RETENTION_AT,
    "curve": _KM_STEP,
}
RetentionSerializer = inline_serializer(
    "RetentionReport",
    {
        "clinic": serializers.IntegerField(),
        "today": serializers.DateField(),
        "leave_days": serializers.IntegerField(),
        "readmission_gap_days": serializers.IntegerField(),
        "interval": serializers.CharField(),
        "overall": inline_serializer("RetentionOverall", _FIGURES),
        "by_program": inline_serializer(
            "RetentionByProgram",
            {"medication": serializers.CharField(), "label": serializers.CharField(), **_FIGURES},
            many=True,
        ),
        "by_cohort": inline_serializer(
            "RetentionByCohort",
            {"medication": serializers.CharField(), "cohort": serializers.CharField(), **_FIGURES},
            many=True,
        ),
        "episodes": inline_serializer(
            "RetentionEpisode",
            {
                "patient": serializers.IntegerField(),
                "medication": serializers.CharField(),
                "cohort": serializers.CharField(help_text="Quarter of the start, e.g. 2026-Q3."),
                "start": serializers.DateField(),
                "last_dose": serializers.DateField(),
                "doses": serializers.IntegerField(),
                "left": serializers.BooleanField(),
                "left_on": serializers.DateField(allow_null=True),
                "duration_days": serializers.IntegerField(),
            },
            many=True,
        ),
    },
)


class RetentionReportView(APIView):
    permission_classes = [IsStaffMember, ActionRoles]
    action_roles = {"read": REPORTS}
    renderer_classes = [renderers.JSONRenderer, renderers.BrowsableAPIRenderer, RetentionCSVRenderer]

    @extend_schema(
        parameters=[ClinicQuery],
        responses={200: RetentionSerializer},
        description=(
            "Retention in treatment: episodes per patient and medication (split after the rule set's "
            "`readmission_gap_days` without medication), a Kaplan–Meier curve of time to leaving (30 days "
            "without medication; censored at today) by program and quarter of start, 90- and 180-day retention "
            "with 95% log-log Greenwood intervals. `?format=csv` or `Accept: text/csv`: the episode list."
        ),
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        query = ClinicQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        clinic = _clinic_for(request, query.validated_data["clinic"])
        today = local_date(timezone.now(), clinic.timezone)
        report = analytics.retention_report(
            clinic=clinic, today=today, medication=query.validated_data.get("medication", "")
        )
        response = Response({"clinic": clinic.pk, **report})
        if getattr(request.accepted_renderer, "format", "") == "csv":
            response["Content-Disposition"] = f'attachment; filename="retention-clinic{clinic.pk}-{today}.csv"'
        return response


# --- reminder effect (issue #17) ---------------------------------------------------------------------


class ReminderQuery(ReportQuery):
    """The attendance report's range rules, for one clinic (required), over all services."""

    clinic = BoundedIntegerField(
        min_value=1, max_value=bounds.ID_MAX, help_text="A clinic of yours; another id answers 404."
    )
    medication = None  # type: ignore[assignment]


_REMINDER_GROUP = inline_serializer(
    "ReminderGroup",
    {
        "visits": serializers.IntegerField(help_text="Attended + missed."),
        "attended": serializers.IntegerField(),
        "missed": serializers.IntegerField(),
        "too_small": serializers.BooleanField(help_text="Fewer than `min_group` visits: no rate is given."),
        "rate": serializers.FloatField(allow_null=True),
        "lower": serializers.FloatField(allow_null=True, help_text="95% Wilson score interval."),
        "upper": serializers.FloatField(allow_null=True),
        "note": serializers.CharField(allow_blank=True),
    },
)
ReminderSerializer = inline_serializer(
    "ReminderEffectReport",
    {
        "clinic": serializers.IntegerField(),
        "date_from": serializers.DateField(),
        "date_to": serializers.DateField(),
        "min_group": serializers.IntegerField(),
        "caveat": serializers.CharField(),
        "groups": inline_serializer(
            "ReminderEffectGroup",
            {
                "service": serializers.CharField(),
                "label": serializers.CharField(),
                "reminded": _REMINDER_GROUP,
                "not_reminded": _REMINDER_GROUP,
            },
            many=True,
        ),
    },
)


class ReminderEffectView(AttendanceReportView):
    renderer_classes = [renderers.JSONRenderer, renderers.BrowsableAPIRenderer]

    @extend_schema(
        parameters=[ReminderQuery],
        responses={200: ReminderSerializer},
        description=(
            "Attendance of injection and counselling visits whose reminder was due, with a delivered reminder "
            "(sent or delivered) versus without (undelivered, failed, skipped), by medication or kind, with 95% "
            "Wilson intervals; a group of fewer than `min_group` visits gives its counts and no rate."
        ),
        extensions=rules(date_to=f"on or after `date_from`, at most {MAX_RANGE_DAYS} days from it."),
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        query = ReminderQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        clinic = _clinic_for(request, query.validated_data["clinic"])
        date_from, date_to = self._range(query.validated_data, [clinic.pk])
        if (date_to - date_from).days >= MAX_RANGE_DAYS:
            raise serializers.ValidationError({"date_from": [f"A report covers at most {MAX_RANGE_DAYS} days."]})
        report = analytics.reminder_effect(clinic=clinic, date_from=date_from, date_to=date_to)
        return Response({"clinic": clinic.pk, **report})


# --- controlled drugs (issue #14): the daily reconciliation ------------------------------------------------

CONTROLLED_COLUMNS = (
    "date", "medication", "doses_given", "mg_given", "doses_without_amount", "take_home_doses", "take_home_mg",
)


class ControlledDrugRow(serializers.Serializer):
    date = serializers.DateField()
    medication = serializers.CharField()
    doses_given = serializers.IntegerField()
    mg_given = serializers.DecimalField(max_digits=12, decimal_places=2)
    doses_without_amount = serializers.IntegerField(help_text="Completed doses with no amount recorded.")
    take_home_doses = serializers.IntegerField()
    take_home_mg = serializers.DecimalField(max_digits=12, decimal_places=2, help_text="Bottles × the amount given.")


class ControlledCSVRenderer(RowsCSVRenderer):
    columns = CONTROLLED_COLUMNS


class ControlledDrugsView(AttendanceReportView):
    renderer_classes = [renderers.JSONRenderer, renderers.BrowsableAPIRenderer, ControlledCSVRenderer]

    @extend_schema(
        parameters=[ReportQuery],
        responses={200: inline_serializer("ControlledDrugs", {"rows": ControlledDrugRow(many=True)})},
        description="Amounts given and handed out per medication and clinic-local day, for the daily controlled-drug "
        "reconciliation (issue #14); `?format=csv` for CSV.",
        extensions=rules(date_to=f"on or after `date_from`, at most {MAX_RANGE_DAYS} days from it."),
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        query = ReportQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        clinic_ids = self._clinic_ids(request, query.validated_data.get("clinic"))
        date_from, date_to = self._range(query.validated_data, clinic_ids)
        if (date_to - date_from).days >= MAX_RANGE_DAYS:
            raise serializers.ValidationError({"date_from": [f"A report covers at most {MAX_RANGE_DAYS} days."]})
        rows = controlled_drugs(clinic_ids=clinic_ids, date_from=date_from, date_to=date_to,
                                medication=query.validated_data.get("medication", ""))
        data = {"date_from": date_from, "date_to": date_to, "rows": ControlledDrugRow(rows, many=True).data}
        response = Response(data)
        if getattr(request.accepted_renderer, "format", "") == "csv":
            response["Content-Disposition"] = f'attachment; filename="controlled-drugs-{date_from}-{date_to}.csv"'
        return response


# --- drug screens (issue #15) ------------------------------------------------------------------------

SCREEN_COLUMNS = (
    "patient", "mrn", "first_name", "last_name", "days_in_program", "screens_done", "screens_expected",
    "behind_pace", "screens_due_this_year", "positive", "awaiting_result", "last_screen",
)


class ScreenReportRow(serializers.Serializer):
    patient = serializers.IntegerField()
    mrn = serializers.CharField()
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    days_in_program = serializers.IntegerField()
    screens_done = serializers.IntegerField(help_text="Screens in the last 365 days (invalid samples left out).")
    screens_expected = serializers.FloatField(help_text="The yearly target pro rata for time in the program.")
    behind_pace = serializers.BooleanField()
    screens_due_this_year = serializers.IntegerField(help_text="The yearly target less the screens done.")
    positive = serializers.IntegerField(help_text="Positive or refused (a refusal counts as positive).")
    awaiting_result = serializers.IntegerField()
    last_screen = serializers.DateField(allow_null=True)


class ScreenCSVRenderer(RowsCSVRenderer):
    columns = SCREEN_COLUMNS


class ScreenReportView(APIView):
    permission_classes = [IsStaffMember, ActionRoles]
    action_roles = {"read": REPORTS}
    renderer_classes = [renderers.JSONRenderer, renderers.BrowsableAPIRenderer, ScreenCSVRenderer]

    @extend_schema(
        parameters=[ClinicQuery],
        responses={200: inline_serializer("ScreenReport", {"clinic": serializers.IntegerField(),
                                                            "today": serializers.DateField(),
                                                            "rows": ScreenReportRow(many=True)})},
        description="Random drug screens due and done per patient with an active plan (issue #15; 42 CFR "
        "8.12(f)(6): at least the rule set's `drug_screens_per_year` a year); `?format=csv` for CSV.",
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        query = ClinicQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        clinic = _clinic_for(request, query.validated_data["clinic"])
        today = local_date(timezone.now(), clinic.timezone)
        rows = screening.screen_report(clinic=clinic, today=today)
        response = Response({"clinic": clinic.pk, "today": today, "rows": ScreenReportRow(rows, many=True).data})
        if getattr(request.accepted_renderer, "format", "") == "csv":
            response["Content-Disposition"] = f'attachment; filename="screens-clinic{clinic.pk}-{today}.csv"'
        return response


urlpatterns = [
    path("reports/attendance/", AttendanceReportView.as_view(), name="report-attendance"),
    path("reports/retention/", RetentionReportView.as_view(), name="report-retention"),
    path("reports/reminders/", ReminderEffectView.as_view(), name="report-reminders"),
    path("reports/controlled-drugs/", ControlledDrugsView.as_view(), name="report-controlled-drugs"),
    path("reports/screens/", ScreenReportView.as_view(), name="report-screens"),
]
