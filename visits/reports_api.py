"""GET /api/v1/reports/attendance/ — JSON, or CSV with `Accept: text/csv` or `?format=csv` (API.md)."""

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
from scheduler import bounds
from scheduler.api.serializers import BoundedDateField, BoundedIntegerField
from scheduler.models import MEDICATIONS, Clinic
from scheduler.permissions import REPORTS, ActionRoles, IsStaffMember, clinic_ids_for
from scheduler.timeutil import local_date
from visits.reports import attendance_report

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


urlpatterns = [path("reports/attendance/", AttendanceReportView.as_view(), name="report-attendance")]
