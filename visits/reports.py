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
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.db.models import Count, F, Max, Q, QuerySet, Sum
from django.db.models.functions import Coalesce, ExtractHour, TruncWeek
from django.utils import timezone

from scheduler.models import MEDICATION_CHOICES, Clinic, Patient, Plan
from visits.models import AttendanceMonth, Escalation, Visit

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


# The report in one statement (issue #16): the closed months' cached counts (below) and, for the rest of the range,
# one aggregate of the visits, summed per patient and per day (a day row has no patient, a patient row no day). The
# visits' aggregate groups by the sets (patient) and (date), so the range is read once from the covering (clinic,
# date, status) index, not three times; the totals are the sum of the days (every visit has one date). The counts
# are _ATTENDANCE's, in SQL: expected is every visit but the cancelled ones, the total less those. The open ranges
# are one UNION ALL of BETWEENs (each its own index-only scan; an OR of ranges would be a bitmap heap scan).
_REPORT_SQL = """
SELECT u.patient_id, u.day, sum(u.total)::int, sum(u.completed)::int, sum(u.missed)::int, sum(u.excused)::int,
       sum(u.cancelled)::int
FROM ({parts}) u (patient_id, day, total, completed, missed, excused, cancelled)
GROUP BY u.patient_id, u.day
"""
# The patients' names by one id array, in name order. Joined to the counts, PostgreSQL hashed every patient of the
# chain (79,000 at 15M: 28 of the report's 38 ms), whatever the clinic.
_NAMES_SQL = (
    "SELECT id, mrn, last_name, first_name FROM {patients} WHERE id = ANY(%s) ORDER BY last_name, first_name, id"
)
_VISITS_PART = """
SELECT v.patient_id, v.date, count(*),
       count(*) FILTER (WHERE v.status = 'completed'), count(*) FILTER (WHERE v.status = 'missed'),
       count(*) FILTER (WHERE v.status = 'excused'), count(*) FILTER (WHERE v.status = 'cancelled')
FROM ({ranges}) v
GROUP BY GROUPING SETS ((v.patient_id), (v.date))
"""
_RANGE_SQL = (
    "SELECT v.patient_id, v.date, v.status FROM {visits} v {join}"
    " WHERE v.clinic_id = ANY(%s) AND v.date BETWEEN %s AND %s"
)
_CACHED_PART = """
SELECT patient_id, day, total, completed, missed, excused, cancelled FROM {cache}
WHERE clinic_id = ANY(%s) AND month = ANY(%s) AND (patient_id IS NOT NULL OR day IS NOT NULL)
"""

# The closed months' counts (issue #16, visits.models.AttendanceMonth): a clinic's year is ≈ 88,000 visits, which no
# index makes cheap to count on every request (26 ms at 15M, 5.6× the trivial endpoint). A month is cached once it
# ended CLOSED_AFTER days ago (UTC; every clinic's local date is past it, and the sweep has marked its last day), by
# the first report that needs it. The copy cannot go stale: every write to visits_visit deletes the cached rows of
# the (clinic, month)s it touched, in a statement trigger (migration 0016), after taking the clinic's advisory lock
# ATTENDANCE_LOCK shared. A filler takes the same lock exclusive, *without waiting* (pg_try_advisory_xact_lock), and
# only then reads the months: so no write of that clinic is in flight, every earlier one is committed and in its
# snapshot, and a later one waits for the filler's commit and then deletes what it wrote. If a write is in flight the
# report reads those months from the visits instead, and tries again next time.
ATTENDANCE_LOCK = 16
CLOSED_AFTER = timedelta(days=3)
_MARKERS_SQL = """
SELECT clinic_id, month FROM {cache}
WHERE clinic_id = ANY(%s) AND month = ANY(%s) AND patient_id IS NULL AND day IS NULL
"""
_CLEAR_SQL = "DELETE FROM {cache} WHERE clinic_id = %s AND month = ANY(%s)"
_FILL_SQL = """
INSERT INTO {cache} (clinic_id, month, patient_id, day, total, completed, missed, excused, cancelled)
SELECT %s, date_trunc('month', v.date::timestamp)::date, v.patient_id, v.date, count(*),
       count(*) FILTER (WHERE v.status = 'completed'), count(*) FILTER (WHERE v.status = 'missed'),
       count(*) FILTER (WHERE v.status = 'excused'), count(*) FILTER (WHERE v.status = 'cancelled')
FROM {visits} v WHERE v.clinic_id = %s AND v.date BETWEEN %s AND %s
GROUP BY date_trunc('month', v.date::timestamp), GROUPING SETS ((v.patient_id), (v.date))
UNION ALL
SELECT %s, m::date, NULL, NULL, 0, 0, 0, 0, 0 FROM unnest(%s::date[]) m
"""


def _month_end(month: date) -> date:
    return (month + timedelta(days=31)).replace(day=1) - timedelta(days=1)


def _closed_months(date_from: date, date_to: date) -> list[date]:
    """The months wholly inside [date_from, date_to] that ended CLOSED_AFTER ago or longer, first day of each."""
    last = min(date_to, timezone.now().date() - CLOSED_AFTER)
    month = date_from if date_from.day == 1 else _month_end(date_from) + timedelta(days=1)
    months = []
    while _month_end(month) <= last:
        months.append(month)
        month = _month_end(month) + timedelta(days=1)
    return months


def _runs(months: list[date]) -> list[list[date]]:
    """Consecutive months in runs: each run is one range of dates."""
    runs: list[list[date]] = []
    for month in months:
        if runs and _month_end(runs[-1][-1]) + timedelta(days=1) == month:
            runs[-1].append(month)
        else:
            runs.append([month])
    return runs


def _cached(cursor: Any, clinic_ids: list[int], months: list[date]) -> set[tuple[int, date]]:
    """The (clinic, month) pairs among those asked whose counts are cached."""
    cursor.execute(_MARKERS_SQL.format(cache=AttendanceMonth._meta.db_table), [clinic_ids, months])
    return {(clinic_id, month) for clinic_id, month in cursor.fetchall()}


def _fill_months(cursor: Any, clinic_id: int, months: list[date]) -> None:
    """Cache the clinic's `months` unless one of its visit writes is in flight (then the report reads them raw)."""
    table, visits = AttendanceMonth._meta.db_table, Visit._meta.db_table
    with transaction.atomic():
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", [ATTENDANCE_LOCK, clinic_id % 2147483647])
        if not cursor.fetchone()[0]:
            return
        # Another report may have filled some of them meanwhile: fill only the rest.
        wanted = [m for m in months if (clinic_id, m) not in _cached(cursor, [clinic_id], months)]
        # rows of a month without its marker cannot come from a fill (marker and rows commit together); clear them
        cursor.execute(_CLEAR_SQL.format(cache=table), [clinic_id, wanted])
        for run in _runs(wanted):
            cursor.execute(
                _FILL_SQL.format(cache=table, visits=visits),
                [clinic_id, clinic_id, run[0], _month_end(run[-1]), clinic_id, run],
            )


def _raw_ranges(date_from: date, date_to: date, covered: list[date]) -> list[tuple[date, date]]:
    """[date_from, date_to] less the covered months, as date ranges."""
    ranges, start = [], date_from
    for run in _runs(covered):
        if run[0] > start:
            ranges.append((start, run[0] - timedelta(days=1)))
        start = _month_end(run[-1]) + timedelta(days=1)
    if start <= date_to:
        ranges.append((start, date_to))
    return ranges


def attendance_report(*, clinic_ids: list[int], date_from: date, date_to: date, medication: str = "") -> dict[str, Any]:
    """The report of API.md: totals, by_patient (in name order) and by_day (in date order). The closed months come
    from their cached counts (filled by the first report that needs them) unless a medication filter is asked for;
    the rest of the range from the visits, both in one statement; then the patients' names."""
    clinic_ids = list(clinic_ids)
    months = [] if medication or not clinic_ids else _closed_months(date_from, date_to)
    parts, args = [], []  # type: list[str], list[Any]
    with connection.cursor() as cursor:
        covered: list[date] = []
        if months:
            present = _cached(cursor, clinic_ids, months)
            missing = {c: [m for m in months if (c, m) not in present] for c in clinic_ids}
            if any(missing.values()):
                for clinic_id, wanted in missing.items():
                    if wanted:
                        _fill_months(cursor, clinic_id, wanted)
                present = _cached(cursor, clinic_ids, months)
            # a month counts as cached only if every clinic asked has it; the others are read raw for all clinics
            covered = [m for m in months if all((c, m) in present for c in clinic_ids)]
        if covered:
            parts.append(_CACHED_PART.format(cache=AttendanceMonth._meta.db_table))
            args += [clinic_ids, covered]
        ranges = _raw_ranges(date_from, date_to, covered)
        if ranges:
            join, params = "", [clinic_ids]  # type: str, list[Any]
            if medication:  # as plan__medication: visits without a plan are left out
                join = f"JOIN {Plan._meta.db_table} p ON p.id = v.plan_id AND p.medication = %s"
                params = [medication, clinic_ids]
            reads = []
            for start, end in ranges:
                reads.append(_RANGE_SQL.format(visits=Visit._meta.db_table, join=join))
                args += [*params, start, end]
            parts.append(_VISITS_PART.format(ranges=" UNION ALL ".join(reads)))
        rows = []
        if parts:  # (none only for an empty range: date_to before date_from)
            cursor.execute(_REPORT_SQL.format(parts=" UNION ALL ".join(parts)), args)
            rows = cursor.fetchall()
        by_patient_counts = {pk: counts for pk, day, *counts in rows if day is None}
        patients: list[tuple[int, str, str, str]] = []
        if by_patient_counts:  # one array parameter: 500 ids as `IN (%s, ...)` cost more to build than to run
            cursor.execute(_NAMES_SQL.format(patients=Patient._meta.db_table), [list(by_patient_counts)])
            patients = cursor.fetchall()
    totals = dict.fromkeys(_ATTENDANCE, 0)
    by_day = []
    for _pk, day, *counts in sorted((row for row in rows if row[1] is not None), key=lambda row: row[1]):
        row = _counts_row(counts)
        by_day.append(_with_rate({"date": day, **row}))
        for key, value in row.items():
            totals[key] += value
    by_patient = [
        _with_rate({"patient": pk, "mrn": mrn, "first_name": first, "last_name": last,
                    **_counts_row(by_patient_counts[pk])})
        for pk, mrn, last, first in patients
    ]
    return {**_with_rate(totals), "by_patient": by_patient, "by_day": by_day}


def _counts_row(counts: list[int]) -> dict[str, int]:
    total, completed, missed, excused, cancelled = counts
    return {"expected": total - cancelled, "completed": completed, "missed": missed, "excused": excused,
            "cancelled": cancelled}


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
