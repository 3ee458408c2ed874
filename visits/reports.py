"""Attendance reports: one aggregation, shared by the report API, its CSV and the manager dashboard.

Definitions (kept in one place so the API, the CSV and the charts agree):
- expected: every visit in the range except cancelled ones;
- attendance rate: completed / (completed + missed) — excused visits are neither attended nor missed;
- an injection is on time when given on or before its target date.
Counts come from conditional aggregation: one query per figure, whatever the number of rows (the API's report: its
three figures from one query of grouping sets).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import Count, F, Max, Q, QuerySet, Sum
from django.db.models.functions import Coalesce, ExtractHour, TruncWeek

from scheduler.models import MEDICATION_CHOICES, Clinic, Patient, Plan
from visits.models import Escalation, Visit

MEDICATION_LABELS = dict(MEDICATION_CHOICES)


_ATTENDANCE = {
    "expected": Count("id", filter=~Q(status="cancelled")),
    "completed": Count("id", filter=Q(status="completed")),
    "missed": Count("id", filter=Q(status="missed")),
    "excused": Count("id", filter=Q(status="excused")),
    "cancelled": Count("id", filter=Q(status="cancelled")),
}


def _rate(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def _with_rate(row: dict[str, Any]) -> dict[str, Any]:
    # Attendance rate counts decided visits only: completed / (completed + missed); excused is neither.
    row["attendance_rate"] = _rate(row["completed"], row["completed"] + row["missed"])
    return row


def _report_visits(clinic: Clinic, date_from: date, date_to: date, medication: str = "") -> QuerySet[Visit]:
    qs = Visit.objects.filter(clinic=clinic, date__range=(date_from, date_to))
    if medication:
        qs = qs.filter(plan__medication=medication)
    return qs.order_by()


def attendance_summary(*, clinic: Clinic, date_from: date, date_to: date, medication: str = "") -> dict[str, Any]:
    return _with_rate(_report_visits(clinic, date_from, date_to, medication).aggregate(**_ATTENDANCE))


def attendance_by_week(*, clinic: Clinic, date_from: date, date_to: date) -> list[dict[str, Any]]:
    qs = _report_visits(clinic, date_from, date_to).annotate(week=TruncWeek("date"))
    rows = qs.values("week").annotate(**_ATTENDANCE).order_by("week")
    return [_with_rate(dict(r)) for r in rows]


def attendance_by_medication(*, clinic: Clinic, date_from: date, date_to: date) -> list[dict[str, Any]]:
    rows = (
        _report_visits(clinic, date_from, date_to)
        .annotate(service=Coalesce(F("plan__medication"), F("kind")))
        .values("service")
        .annotate(**_ATTENDANCE)
        .order_by("service")
    )
    out = []
    for r in rows:
        row = _with_rate(dict(r))
        row["label"] = MEDICATION_LABELS.get(row["service"], str(row["service"]).capitalize())
        out.append(row)
    return out


def _by_patient(visits: QuerySet[Visit]) -> list[dict[str, Any]]:
    """The counts per patient, in name order (last, first, id). Counted by patient id alone, then the patients read
    by id in name order (the database's collation): grouped by the names, PostgreSQL hashed every patient of the
    chain and sorted every visit of the range by name (issue #16: 104 ms at 1M visits, 163 ms at 15M)."""
    counts: dict[int, dict[str, Any]] = {
        r["patient_id"]: dict(r) for r in visits.values("patient_id").annotate(**_ATTENDANCE).order_by()
    }
    if not counts:
        return []
    patients = (
        Patient.objects.filter(pk__in=list(counts))
        .order_by("last_name", "first_name", "id")
        .values_list("id", "mrn", "last_name", "first_name")
    )
    return [
        {
            "patient_id": pk,
            "patient__mrn": mrn,
            "patient__last_name": last_name,
            "patient__first_name": first_name,
            **{k: counts[pk][k] for k in _ATTENDANCE},
        }
        for pk, mrn, last_name, first_name in patients
    ]


def attendance_by_patient(*, clinic: Clinic, date_from: date, date_to: date) -> list[dict[str, Any]]:
    return [_with_rate(row) for row in _by_patient(_report_visits(clinic, date_from, date_to))]


def missed_heatmap(*, clinic: Clinic, date_from: date, date_to: date) -> dict[tuple[int, int], int]:
    """Missed visits by (weekday, clinic-local hour of the visit's start); weekday from the local date."""
    tz = ZoneInfo(clinic.timezone)
    rows = (
        _report_visits(clinic, date_from, date_to)
        .filter(status="missed", start__isnull=False)
        .annotate(hour=ExtractHour("start", tzinfo=tz))
        .values("date", "hour")
        .annotate(n=Count("id"))
    )
    cells: dict[tuple[int, int], int] = defaultdict(int)
    for r in rows:
        cells[(r["date"].weekday(), r["hour"])] += r["n"]
    return dict(cells)


def consecutive_missed(*, clinic: Clinic, limit: int = 20) -> list[dict[str, Any]]:
    """Patients with open escalations, by the longest missed streak (from the escalation records)."""
    rows = (
        Escalation.objects.filter(clinic=clinic, resolved_at__isnull=True)
        .values("patient_id", "patient__mrn", "patient__last_name", "patient__first_name")
        .annotate(streak=Max("consecutive_missed"), open=Count("id"))
        .order_by("-streak", "patient__last_name", "patient_id")
    )
    return [dict(r) for r in rows[:limit]]


def injection_on_time(*, clinic: Clinic, date_from: date, date_to: date) -> dict[str, Any]:
    """Injections given on or before their target date, out of injections given or missed."""
    target = Coalesce(F("target_date"), F("planned_date"), F("date"))
    agg = (
        _report_visits(clinic, date_from, date_to)
        .filter(kind="injection")
        .aggregate(
            on_time=Count("id", filter=Q(status="completed", date__lte=target)),
            late=Count("id", filter=Q(status="completed", date__gt=target)),
            missed=Count("id", filter=Q(status="missed")),
        )
    )
    agg["rate"] = _rate(agg["on_time"], agg["on_time"] + agg["late"] + agg["missed"])
    return agg


# The report's three figures in one pass over the range (issue #16): by patient and by day are the grouping sets
# (patient) and (date) of one aggregate, so the clinic's range is read once from the covering (clinic, date, status)
# index, not three times (the 365-day report: 64 ms, three scans). The totals are the sum of the days (every visit
# has one date): a third set, (), cost the aggregate more than summing 365 rows does. GROUPING(patient, date) names
# the set a row belongs to: 1 by patient, 2 by day. The counts are _ATTENDANCE's, in SQL: expected is every visit
# but the cancelled ones, count(*) less those (one filter fewer for every row).
_REPORT_SQL = """
SELECT GROUPING(v.patient_id, v.date), v.patient_id, v.date, count(*),
       count(*) FILTER (WHERE v.status = 'completed'), count(*) FILTER (WHERE v.status = 'missed'),
       count(*) FILTER (WHERE v.status = 'excused'), count(*) FILTER (WHERE v.status = 'cancelled')
FROM {visits} v {join}
WHERE v.clinic_id = ANY(%s) AND v.date BETWEEN %s AND %s
GROUP BY GROUPING SETS ((v.patient_id), (v.date))
"""
_BY_DAY = 2
_NAMES_SQL = (
    "SELECT id, mrn, last_name, first_name FROM {patients} WHERE id = ANY(%s) ORDER BY last_name, first_name, id"
)


def attendance_report(*, clinic_ids: list[int], date_from: date, date_to: date, medication: str = "") -> dict[str, Any]:
    """The report of API.md: totals, by_patient (in name order) and by_day (in date order), from one aggregate
    query over the range and one read of the patients' names."""
    join, params = "", [list(clinic_ids), date_from, date_to]
    if medication:  # as plan__medication: visits without a plan are left out
        join = f"JOIN {Plan._meta.db_table} p ON p.id = v.plan_id AND p.medication = %s"
        params = [medication, *params]
    sql = _REPORT_SQL.format(visits=Visit._meta.db_table, join=join)
    totals = dict.fromkeys(_ATTENDANCE, 0)
    by_day: list[dict[str, Any]] = []
    counts: dict[int, dict[str, int]] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)  # type: ignore[arg-type]  # psycopg adapts the list of ids to an array
        for grouping, patient_id, day, n, completed, missed, excused, cancelled in cursor.fetchall():
            row = {"expected": n - cancelled, "completed": completed, "missed": missed, "excused": excused,
                   "cancelled": cancelled}
            if grouping == _BY_DAY:
                by_day.append({"date": day, **row})
                for key, value in row.items():
                    totals[key] += value
            else:
                counts[patient_id] = row
        patients: list[tuple[int, str, str, str]] = []
        if counts:  # one array parameter: a clinic's 500 ids as `IN (%s, ...)` cost more to build than to run
            cursor.execute(_NAMES_SQL.format(patients=Patient._meta.db_table), [list(counts)])
            patients = cursor.fetchall()
    by_day.sort(key=lambda r: r["date"])
    return {
        **_with_rate(totals),
        "by_patient": [
            _with_rate({"patient": pk, "mrn": mrn, "first_name": first, "last_name": last, **counts[pk]})
            for pk, mrn, last, first in patients
        ],
        "by_day": [_with_rate(r) for r in by_day],
    }


def closure_affected_visits(*, clinic: Clinic, day: date, services: list[str]) -> list[dict[str, Any]]:
    """Visits (not cancelled) on `day` of the services a closure would close (empty = all): the list an admin
    sees when confirming a closure in the past, whose patients may already have been dosed."""
    rows = (
        Visit.objects.filter(clinic=clinic, date=day)
        .exclude(status="cancelled")
        .values("id", "patient_id", "kind", "status", "plan__medication")
        .order_by("id")
    )
    affected = []
    for row in rows:
        medication = row["plan__medication"] if row["kind"] in ("dose", "injection") else None
        if not services or (medication or row["kind"]) in services:
            affected.append(
                {"id": row["id"], "patient": row["patient_id"], "kind": row["kind"], "status": row["status"]}
            )
    return affected


def controlled_drugs(
    *, clinic_ids: list[int], date_from: date, date_to: date, medication: str = ""
) -> list[dict[str, Any]]:
    """Amounts given and handed out per clinic-local day and medication (issue #14), in two queries: completed dose
    and injection visits with their recorded `dose_mg` (grouped), and the visits that handed out take-homes, whose
    bottles count with their own amounts (`take_home_mg`; a visit recorded before those: bottles × `dose_mg`)."""
    qs = Visit.objects.filter(
        clinic_id__in=clinic_ids, status="completed", kind__in=("dose", "injection"), date__range=(date_from, date_to)
    ).exclude(plan=None)
    if medication:
        qs = qs.filter(plan__medication=medication)
    rows = (
        qs.values("date", "plan__medication")
        .annotate(
            n_given=Count("id"),
            mg=Sum("dose_mg"),
            n_without=Count("id", filter=Q(dose_mg=None)),
            n_home=Sum("take_home_doses"),
        )
        .order_by("date", "plan__medication")
    )
    zero = Decimal("0.00")
    mg_home: dict[tuple[date, str], Decimal] = {}
    handed_out = qs.filter(take_home_doses__gt=0).values_list(
        "date", "plan__medication", "take_home_doses", "dose_mg", "take_home_mg"
    )
    for day, medication_, bottles, dose_mg, amounts in handed_out:
        if amounts is not None:
            mg = sum((Decimal(a) for a in amounts if a is not None), zero)
        else:
            mg = Decimal(dose_mg or 0) * bottles
        mg_home[(day, medication_)] = mg_home.get((day, medication_), zero) + mg
    return [
        {
            "date": row["date"], "medication": row["plan__medication"], "doses_given": row["n_given"],
            "mg_given": row["mg"] or zero, "doses_without_amount": row["n_without"],
            "take_home_doses": row["n_home"] or 0,
            "take_home_mg": mg_home.get((row["date"], row["plan__medication"]), zero).quantize(Decimal("0.01")),
        }
        for row in rows
    ]
