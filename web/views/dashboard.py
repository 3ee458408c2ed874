"""The manager dashboard (server-rendered SVG charts) and the attendance CSV.

Issue #17: retention in treatment (Kaplan–Meier curve, 90/180 days with intervals), the reminder effect, and the
drift list, whose button (a POST to the dashboard itself) asks the front desk to reach the patient.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from notifications import analytics
from scheduler.models import Clinic, Patient
from scheduler.permissions import REPORTS
from web import charts, selectors
from web.access import clinic_or_404, require, staff_view
from web.forms import DateRangeForm
from web.views.common import page_context, safe_next

DEFAULT_WEEKS = 8
MAX_DAYS = 366


@dataclass(frozen=True)
class Span:
    date_from: date
    date_to: date
    error: str = ""
    status: int = 200  # 400 when a date lies outside scheduler.bounds (the page still shows the default range)


def _default_span(today: date, error: str = "", status: int = 200) -> Span:
    return Span(today - timedelta(weeks=DEFAULT_WEEKS) + timedelta(days=1), today, error, status)


def date_range(request: HttpRequest, clinic: Clinic) -> Span:
    """date_from/date_to from GET (no personal data in them); defaults to the last 8 weeks."""
    today = selectors.clinic_today(clinic)
    form = DateRangeForm(request.GET)
    if not form.is_valid():
        if any(e.code == "bound" for errors in form.errors.as_data().values() for e in errors):
            fields = "; ".join(f"{name}: {' '.join(str(m) for m in msgs)}" for name, msgs in form.errors.items())
            return _default_span(today, f"{fields} Showing the last 8 weeks.", status=400)
        return _default_span(today, "Dates must be YYYY-MM-DD; showing the last 8 weeks.")
    date_to = form.cleaned_data["date_to"] or today
    date_from = form.cleaned_data["date_from"] or date_to - timedelta(weeks=DEFAULT_WEEKS) + timedelta(days=1)
    if date_from > date_to:
        date_from, date_to = date_to, date_from
    if (date_to - date_from).days > MAX_DAYS:
        return Span(date_to - timedelta(days=MAX_DAYS), date_to, "The range is limited to one year.")
    return Span(date_from, date_to)


def all_weeks(rows: list[dict[str, Any]], date_from: date, date_to: date) -> list[dict[str, Any]]:
    """One row per ISO week in the range, weeks without visits included, so gaps show on the chart."""
    by_week = {(r["week"].date() if hasattr(r["week"], "date") else r["week"]): r for r in rows}
    empty = {"expected": 0, "completed": 0, "missed": 0, "excused": 0, "cancelled": 0, "attendance_rate": None}
    week = date_from - timedelta(days=date_from.weekday())
    out = []
    while week <= date_to:
        row = dict(by_week.get(week) or {**empty, "week": week})
        row["label"] = f"{week:%d %b}"
        out.append(row)
        week += timedelta(weeks=1)
    return out


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _retention_text(figure: dict[str, Any]) -> str:
    if figure["survival"] is None:
        return "not yet known (nobody followed that long)"
    return f"{_pct(figure['survival'])} (95% CI {_pct(figure['lower'])}–{_pct(figure['upper'])})"


def _outreach(request: HttpRequest, clinic: Clinic, back: str) -> HttpResponse:
    """The drift list's button: one open front-desk outreach task per patient."""
    raw = request.POST.get("patient", "")
    patient = Patient.objects.filter(pk=int(raw), clinic=clinic).first() if raw.isdigit() and len(raw) < 12 else None
    if patient is None:
        raise Http404("No such patient in this clinic.")
    _, created = analytics.request_outreach(clinic=clinic, patient=patient)
    if created:
        messages.success(request, f"Outreach task created for the front desk (MRN {patient.mrn}).")
    else:
        messages.info(request, f"An outreach task is already open for MRN {patient.mrn}.")
    return redirect(back)


@staff_view
@require_POST
def drift_outreach(request: HttpRequest, clinic_id: int) -> HttpResponse:
    """The drift list's button on the dashboard and on the escalations inbox (every role that sees the inbox may
    ask): back to the page it was pressed on."""
    clinic = clinic_or_404(request.user, clinic_id)
    return _outreach(request, clinic, safe_next(request, reverse("web:escalations", kwargs={"clinic_id": clinic.pk})))


@staff_view
@require_http_methods(["GET", "POST"])
def dashboard(request: HttpRequest, clinic_id: int) -> HttpResponse:
    clinic = clinic_or_404(request.user, clinic_id)
    require(request.user, REPORTS)
    if request.method == "POST":
        return _outreach(request, clinic, reverse("web:dashboard", kwargs={"clinic_id": clinic.pk}))
    chosen = date_range(request, clinic)
    date_from, date_to, error = chosen.date_from, chosen.date_to, chosen.error
    span: dict[str, Any] = {"clinic": clinic, "date_from": date_from, "date_to": date_to}
    weeks = all_weeks(selectors.attendance_by_week(**span), date_from, date_to)
    meds = selectors.attendance_by_medication(**span)
    summary = selectors.attendance_summary(**span)
    injections = selectors.injection_on_time(**span)
    sms = selectors.sms_rates(**span)
    today = selectors.clinic_today(clinic)
    retention = analytics.retention_report(clinic=clinic, today=today)
    overall = retention["overall"]
    context = page_context(
        request,
        clinic,
        nav_active="dashboard",
        date_from=date_from,
        date_to=date_to,
        error=error,
        summary=summary,
        summary_rate=_pct(summary["attendance_rate"]),
        weeks=weeks,
        week_chart=charts.rate_bars(weeks, label_key="label"),
        meds=meds,
        med_chart=charts.rate_bars(meds, label_key="label"),
        heat=charts.heatmap(selectors.missed_heatmap(**span)),
        streaks=selectors.consecutive_missed(clinic=clinic),
        injections=injections,
        injection_rate=_pct(injections["rate"]),
        sms=sms,
        delivery_rate=_pct(sms["delivery_rate"]),
        opt_out_rate=_pct(sms["opt_out_rate"]),
        retention=retention,
        retention_90=_retention_text(overall["retention_90"]),
        retention_180=_retention_text(overall["retention_180"]),
        retention_programs=[
            {**p, "r90": _retention_text(p["retention_90"]), "r180": _retention_text(p["retention_180"])}
            for p in retention["by_program"]
        ],
        retention_chart=charts.survival_curve(overall["curve"]),
        reminders=analytics.reminder_effect(**span),
        drift=analytics.drift_list(clinic=clinic, today=today),
    )
    return render(request, "web/dashboard.html", context, status=chosen.status)


CSV_HEADER = [
    "patient_id",
    "mrn",
    "last_name",
    "first_name",
    "expected",
    "completed",
    "missed",
    "excused",
    "cancelled",
    "attendance_rate",
]


def _csv_safe(value: Any) -> Any:
    # A cell starting with = + - @ is a formula in spreadsheets (CSV injection); names are typed by people.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


@staff_view
@require_GET
def attendance_csv(request: HttpRequest, clinic_id: int) -> HttpResponse:
    clinic = clinic_or_404(request.user, clinic_id)
    require(request.user, REPORTS)
    chosen = date_range(request, clinic)
    if chosen.status != 200:
        return HttpResponse(chosen.error, status=chosen.status, content_type="text/plain; charset=utf-8")
    date_from, date_to = chosen.date_from, chosen.date_to
    rows = selectors.attendance_by_patient(clinic=clinic, date_from=date_from, date_to=date_to)
    filename = f"attendance-clinic{clinic.pk}-{date_from.isoformat()}-{date_to.isoformat()}.csv"
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    writer = csv.writer(response)
    writer.writerow(CSV_HEADER)
    for r in rows:
        rate = "" if r["attendance_rate"] is None else f"{r['attendance_rate']:.4f}"
        writer.writerow(
            [
                r["patient_id"],
                _csv_safe(r["patient__mrn"]),
                _csv_safe(r["patient__last_name"]),
                _csv_safe(r["patient__first_name"]),
                r["expected"],
                r["completed"],
                r["missed"],
                r["excused"],
                r["cancelled"],
                rate,
            ]
        )
    total = selectors.attendance_summary(clinic=clinic, date_from=date_from, date_to=date_to)
    total_rate = "" if total["attendance_rate"] is None else f"{total['attendance_rate']:.4f}"
    writer.writerow(
        [
            "",
            "",
            "TOTAL",
            "",
            total["expected"],
            total["completed"],
            total["missed"],
            total["excused"],
            total["cancelled"],
            total_rate,
        ]
    )
    return response
