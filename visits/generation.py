"""Materialise the engine's answer as Visit rows for a rolling horizon.

Idempotent: every generated visit is keyed by (plan, planned_date, session) under a unique
constraint, so running twice (or two workers at once) creates nothing new. Regeneration only
touches *future, scheduled, untouched* generated visits: past, attended, cancelled and
hand-edited visits never change (DOMAIN.md §1).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from scheduler import engine
from scheduler.audit import log_clinic_job
from scheduler.models import Clinic, Plan
from scheduler.selectors import ClinicCalendars, active_plans, pauses_by_plan, plan_spec
from scheduler.timeutil import local_date
from visits.models import Visit

logger = logging.getLogger(__name__)

COMPARED_FIELDS = (
    "kind",
    "date",
    "start",
    "end",
    "window_id",
    "reason",
    "expected_take_home_doses",
    "target_date",
    "earliest",
    "latest",
)
# The columns of a new row that come from the plan and the engine, in the order `_reconcile` builds them;
# the rest (source, status, created, updated and the defaults) are the same for every new row.
NEW_COLUMNS = ("patient_id", "clinic_id", "plan_id", "planned_date", "session", *COMPARED_FIELDS)
PLAN_CHUNK = 500


@dataclass
class GenerationResult:
    plans: int = 0
    created: int = 0
    updated: int = 0
    deleted: int = 0
    created_ids: list[int] = field(default_factory=list)
    changed_ids: list[int] = field(default_factory=list)

    def merge(self, other: GenerationResult) -> None:
        self.plans += other.plans
        self.created += other.created
        self.updated += other.updated
        self.deleted += other.deleted
        self.created_ids += other.created_ids
        self.changed_ids += other.changed_ids


def visit_kind_for(medication: str) -> str:
    return "injection" if medication in engine.INJECTIONS else "dose"


def desired_visits(plan: Plan, days: Iterable[engine.Day]) -> dict[tuple[date, int], tuple[Any, ...]]:
    """The engine's visit days as COMPARED_FIELDS values (in that order) keyed by (planned_date, session)."""
    kind = visit_kind_for(plan.medication)
    wanted: dict[tuple[date, int], tuple[Any, ...]] = {}
    for day in days:
        if day.expected != "visit":
            continue
        # A visit day with no usable window (a DST gap) has no session: nothing to book, and the
        # calendar endpoint shows the engine's reason instead.
        reason = day.reason[:300]
        for index, session in enumerate(day.sessions):
            wanted[(day.date, index)] = (
                kind,
                day.date,
                session.start,
                session.end,
                session.window_id,
                reason,
                day.take_home_doses,
                day.target_date,
                day.earliest,
                day.latest,
            )
    return wanted


def _today_for(clinic: Clinic) -> date:
    return local_date(timezone.now(), clinic.timezone)


def _last_injections(plan_ids: list[int]) -> dict[int, date]:
    rows = (
        Visit.objects.filter(plan_id__in=plan_ids, kind="injection", status="completed")
        .values("plan_id")
        .annotate(last=Max("date"))
    )
    return {row["plan_id"]: row["last"] for row in rows}


class _Existing(NamedTuple):
    """A generated visit already in the table, as plain values: the hourly run reads every future one."""

    id: int
    status: str
    edited: bool
    values: tuple[Any, ...]  # COMPARED_FIELDS, in that order


def _existing(plan_ids: list[int], date_from: date) -> dict[int, dict[tuple[date, int], _Existing]]:
    grouped: dict[int, dict[tuple[date, int], _Existing]] = defaultdict(dict)
    rows = Visit.objects.filter(plan_id__in=plan_ids, source="plan", planned_date__gte=date_from).values_list(
        "plan_id", "planned_date", "session", "id", "status", "edited", *COMPARED_FIELDS
    )
    for plan_id, planned_date, session, visit_id, status, edited, *values in rows:
        grouped[plan_id][(planned_date, session)] = _Existing(visit_id, status, edited, tuple(values))
    return grouped


def _reconcile(
    plan: Plan,
    wanted: dict[tuple[date, int], tuple[Any, ...]],
    existing: dict[tuple[date, int], _Existing],
    now: datetime,
) -> tuple[list[tuple[Any, ...]], list[Visit], list[int]]:
    """New rows as NEW_COLUMNS tuples, changed visits (unsaved instances carrying the id and the
    COMPARED_FIELDS to write), ids of visits to delete."""
    to_create: list[tuple[Any, ...]] = []
    to_update: list[Visit] = []
    to_delete: list[int] = []
    head = (plan.patient_id, plan.patient.clinic_id, plan.pk)
    for key, values in wanted.items():
        visit = existing.get(key)
        if visit is None:
            # Plain tuples, not Visit instances or dicts: building 100k model instances was a fifth of a
            # full run, and dicts that _insert_new then read back by name cost most of a second more.
            to_create.append(head + key + values)
        elif visit.status == "scheduled" and not visit.edited and visit.values != values:
            to_update.append(Visit(id=visit.id, updated=now, **dict(zip(COMPARED_FIELDS, values, strict=True))))
    for key, visit in existing.items():
        if key not in wanted and visit.status == "scheduled" and not visit.edited:
            to_delete.append(visit.id)
    return to_create, to_update, to_delete


def _generate_chunk(
    plans: list[Plan], calendars: ClinicCalendars, horizon_days: int, today: date | None
) -> GenerationResult:
    result = GenerationResult(plans=len(plans))
    now = timezone.now()
    plan_ids = [p.pk for p in plans]
    pauses = pauses_by_plan(plan_ids)
    # Only the engine's injection schedule reads the last injection date: no query for an oral-only chunk.
    injection_plans = [p.pk for p in plans if p.medication in engine.INJECTIONS]
    last_injections = _last_injections(injection_plans) if injection_plans else {}
    earliest_today = min(today or _today_for(p.patient.clinic) for p in plans)
    existing = _existing(plan_ids, earliest_today)
    creates: list[tuple[Any, ...]] = []
    updates: list[Visit] = []
    deletes: list[int] = []
    for plan in plans:
        clinic = plan.patient.clinic
        plan_today = today or _today_for(clinic)
        calendar, rules = calendars.get(clinic)
        spec = plan_spec(plan, pauses=pauses.get(plan.pk, []), last_injection_date=last_injections.get(plan.pk))
        date_from = max(plan_today, plan.start_date)
        date_to = plan_today + timedelta(days=horizon_days - 1)
        if plan.end_date is not None:
            date_to = min(date_to, plan.end_date)
        days = engine.plan_days(spec, calendar, rules, date_from, date_to) if date_from <= date_to else []
        plan_existing = {k: v for k, v in existing.get(plan.pk, {}).items() if k[0] >= plan_today}
        c, u, d = _reconcile(plan, desired_visits(plan, days), plan_existing, now)
        creates += c
        updates += u
        deletes += d
    with transaction.atomic():
        if deletes:
            result.deleted = Visit.objects.filter(id__in=deletes, status="scheduled", edited=False).delete()[0]
        if updates:
            result.updated = Visit.objects.bulk_update(updates, list(COMPARED_FIELDS) + ["updated"], batch_size=1000)
            result.changed_ids = [v.pk for v in updates]
        if creates and connection.vendor == "postgresql":
            result.created_ids = _insert_new(creates)
            result.created = len(result.created_ids)
        elif creates:
            new = [
                Visit(**dict(zip(NEW_COLUMNS, row, strict=True)), source="plan", status="scheduled") for row in creates
            ]
            made = Visit.objects.bulk_create(new, batch_size=2000, ignore_conflicts=True)
            result.created = len(made)
    if creates and connection.vendor != "postgresql":
        # ignore_conflicts gives no ids back on every backend: look the new rows up by their keys.
        keys = {row[2:5] for row in creates}  # plan_id, planned_date, session
        rows = Visit.objects.filter(plan_id__in=plan_ids, source="plan", planned_date__gte=earliest_today).values_list(
            "id", "plan_id", "planned_date", "session"
        )
        result.created_ids = [row[0] for row in rows if (row[1], row[2], row[3]) in keys]
    return result


def _insert_new(rows: list[tuple[Any, ...]]) -> list[int]:
    """PostgreSQL: COPY the new rows into a temporary table, then INSERT … SELECT … ON CONFLICT DO NOTHING
    RETURNING id.

    Same effect as bulk_create(ignore_conflicts=True) — a slot another worker filled meanwhile is skipped
    by the unique constraint — but the ids of the rows *this* run inserted come back (exact under
    concurrency, no look-up query), and there is no per-row SQL to compile: bulk_create spent most of a
    first run building its statement. Measured in bench/generate.py: as fast as a bare COPY, where an
    INSERT … SELECT FROM unnest(arrays) was 1.8× and bulk_create about 10×.

    Only NEW_COLUMNS travel through the temporary table; the columns that are the same for every new row
    are parameters of the INSERT. The rows are sent as COPY text built here (see _CopyText) in a few large
    writes: psycopg's write_row, one call and one conversion per value, was about a fifth of a full run.
    """
    fields = {f.attname: f for f in Visit._meta.concrete_fields if not f.primary_key}
    now = timezone.now()
    same = {"source": "plan", "status": "scheduled", "created": now, "updated": now}
    constant_fields = [f for name, f in fields.items() if name not in NEW_COLUMNS]
    quote = connection.ops.quote_name
    new_columns = ", ".join(quote(str(fields[name].column)) for name in NEW_COLUMNS)
    columns = ", ".join([new_columns, *(quote(str(f.column)) for f in constant_fields)])
    # A typed parameter per constant column: an untyped NULL in a SELECT list would be read as text.
    constants = ", ".join(f"CAST(%s AS {f.db_type(connection)})" for f in constant_fields)
    params: list[Any] = [same.get(f.attname, f.get_default()) for f in constant_fields]
    table = Visit._meta.db_table
    texts = _CopyText()
    with connection.cursor() as cursor:
        # Names and types come from the model, never from input.
        cursor.execute(
            f"CREATE TEMPORARY TABLE new_visits ON COMMIT DROP AS SELECT {new_columns} FROM {table} WITH NO DATA"  # noqa: S608
        )
        with cursor.cursor.copy(f"COPY new_visits ({new_columns}) FROM STDIN") as copy:
            for start in range(0, len(rows), _COPY_BLOCK):
                block = rows[start : start + _COPY_BLOCK]
                copy.write("".join(["\t".join(map(texts.__getitem__, row)) + "\n" for row in block]))
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {new_columns}, {constants} FROM new_visits"  # noqa: S608
            " ON CONFLICT DO NOTHING RETURNING id",
            params,
        )
        ids = [row[0] for row in cursor.fetchall()]
        # Dropped now, not only at commit: an outer transaction (a test, a caller's atomic) may run more chunks.
        cursor.execute("DROP TABLE new_visits")
    return ids


_COPY_BLOCK = 5000  # rows a copy.write() call
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


class _CopyText(dict[Any, str]):
    """COPY text for the values of NEW_COLUMNS, each value converted once per _insert_new call.

    Text format: NULL is \\N; a backslash, tab, newline or carriage return inside a value is escaped with a
    backslash; dates and aware datetimes in ISO 8601 (PostgreSQL reads the "T" and the offset). Values
    repeat a lot (a few dates, window instants and reasons for a whole chunk), so they are looked up
    rather than converted row by row. NEW_COLUMNS holds ints, strings, dates, datetimes and None, which
    never compare equal across types (no booleans here: True == 1 would share a key).
    """

    def __missing__(self, value: Any) -> str:
        if value is None:
            text = "\\N"
        elif isinstance(value, date):  # and datetime, a subclass
            text = value.isoformat()
        else:
            text = str(value).translate(_COPY_ESCAPES)
        self[value] = text
        return text


def _chunks(plans: Iterable[Plan], size: int) -> Iterator[list[Plan]]:
    chunk: list[Plan] = []
    for plan in plans:
        chunk.append(plan)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _audit(result: GenerationResult, clinics: set[int], what: str) -> None:
    """Bulk writes bypass model signals, so they leave their own audit entry per clinic."""
    if not (result.created or result.updated or result.deleted):
        return
    summary = {"created": result.created, "updated": result.updated, "deleted": result.deleted}
    log_clinic_job(what, dict.fromkeys(clinics, summary))


def visits_generate(
    *,
    horizon_days: int | None = None,
    clinic_ids: Iterable[int] | None = None,
    plans: Iterable[Plan] | None = None,
    today: date | None = None,
    progress: Callable[[int], None] | None = None,
) -> GenerationResult:
    """Generate (or regenerate) visits for active plans over the horizon. Safe to run twice."""
    horizon = horizon_days or settings.GENERATION_HORIZON_DAYS
    calendars = ClinicCalendars()
    result = GenerationResult()
    clinics: set[int] = set()
    loaded: dict[int, Clinic] = {}
    if plans is not None:
        source = plans
    else:
        # Plans with their patients only: each clinic and its rule set is loaded once (_share_clinics), not
        # built again, rule set JSON and all, from every plan row (a third of a second for 5,000 plans).
        source = (
            active_plans(clinic_ids=clinic_ids)
            .select_related(None)
            .select_related("patient")
            .iterator(chunk_size=PLAN_CHUNK)
        )
    for chunk in _chunks(source, PLAN_CHUNK):
        if plans is None:
            _share_clinics(chunk, loaded)
        active = [p for p in chunk if p.status == "active"]
        clinics.update(p.patient.clinic_id for p in chunk)
        if active:
            result.merge(_generate_chunk(active, calendars, horizon, today))
        inactive = [p.pk for p in chunk if p.status != "active"]
        if inactive:
            result.merge(_clear_future(inactive, today))
        if progress is not None:
            progress(len(chunk))
    _audit(result, clinics, "generate_visits")
    logger.info(
        "generate_visits: %d plans, %d created, %d updated, %d deleted",
        result.plans,
        result.created,
        result.updated,
        result.deleted,
    )
    return result


def _share_clinics(plans: list[Plan], loaded: dict[int, Clinic]) -> None:
    """Point every plan's patient at one shared Clinic (rule set included), loading the clinics not seen yet."""
    missing = {p.patient.clinic_id for p in plans} - loaded.keys()
    if missing:
        loaded.update(Clinic.objects.select_related("rule_set").in_bulk(missing))
    for plan in plans:
        plan.patient.clinic = loaded[plan.patient.clinic_id]


def _clear_future(plan_ids: list[int], today: date | None) -> GenerationResult:
    """A paused or ended plan keeps its history but loses its future untouched visits."""
    qs = Visit.objects.filter(plan_id__in=plan_ids, source="plan", status="scheduled", edited=False)
    qs = qs.filter(date__gte=today) if today is not None else qs.filter(start__gt=timezone.now())
    return GenerationResult(plans=len(plan_ids), deleted=qs.delete()[0])


def plan_visits_regenerate(
    *, plan: Plan, today: date | None = None, horizon_days: int | None = None
) -> GenerationResult:
    """Called at once when a plan or its pauses change."""
    plan = Plan.objects.select_related("patient__clinic__rule_set").get(pk=plan.pk)
    return visits_generate(plans=[plan], today=today, horizon_days=horizon_days)


def clinic_visits_regenerate(*, clinic: Clinic, today: date | None = None) -> GenerationResult:
    """Called at once when a clinic's windows or closures change."""
    plans = active_plans(clinic_ids=[clinic.pk])
    return visits_generate(plans=list(plans), today=today)
