"""The missed-visit sweep and the escalations it raises (DOMAIN.md §4).

`visits_mark_missed` turns overdue `scheduled` visits into `missed` in bulk (compare-and-swap under
row locks, so two sweeps at once never both act on a visit), then `escalations_evaluate` counts each
affected plan's days without medication and records one Escalation per ladder step reached. The
unique (plan, kind, anchor_date) constraint makes every re-run create nothing new.
Affected plans (issue #16): those this sweep marked missed or a person marked missed lately (`RECHECK`),
and every plan in a streak at a clinic whose local date is new (`EscalationDay`): days without medication
only grow when a visit is missed or the date changes.

A checked-in visit is never marked missed: the patient is in the building.
"""

from __future__ import annotations

import functools
import gc
import json
import logging
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple, cast

from django.core.exceptions import PermissionDenied
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone
from psycopg.types.datetime import TimestamptzLoader

from scheduler import engine
from scheduler.audit import log_clinic_job, log_closed
from scheduler.errors import RuleViolation, StateConflict
from scheduler.models import Clinic, Pause, RuleSet
from scheduler.permissions import CLINICAL, has_role
from scheduler.rules import Ladder, Rules
from scheduler.selectors import PLAN_SPEC_FIELDS, ClinicCalendars, plan_spec, rules_for_clinic
from scheduler.services import dose_order_create, dose_reinduction_create
from scheduler.timeutil import local_date
from visits import ladder
from visits.models import Escalation

logger = logging.getLogger(__name__)

# Plans evaluated per round of queries: most of a round's cost is scanning and grouping the chunk's
# visits, which does not shrink with the chunk, so rounds are few and large (≈ 2 KB in memory a plan:
# 12,500 plans peaked at 27 MB).
PLAN_CHUNK = 20_000
PLAN_KINDS = ("dose", "injection")
# A plan is re-evaluated while its latest missed visit is this recent and no later visit was attended.
# Longer streaks have long reached the top of the ladder; re-induction is the last step.
RECENT_DAYS = 35
# Dates with these visits are neither attended nor missed: excused by a person, or the patient was
# checked in (in the building) and the visit was not completed yet.
NEUTRAL_STATUSES = ("excused", "checked_in")
_DAY = timedelta(days=1)
_Date = date  # `date` is shadowed by the NamedTuple fields below


# --- results -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """A ladder step that is not an Escalation row: the task decides what to do (a check-in text)."""

    kind: str
    plan_id: int
    patient_id: int
    clinic_id: int
    visit_id: int | None
    today: date
    consecutive_missed: int


@dataclass
class EvaluationResult:
    plans: int = 0
    created: int = 0
    created_by_clinic: Counter[int] = field(default_factory=Counter)
    decisions: list[Decision] = field(default_factory=list)
    failed_plan_ids: list[int] = field(default_factory=list)
    # Plans whose earned take-homes a new hold suspended: their calendars changed (the shells regenerate them).
    suspended_plan_ids: list[int] = field(default_factory=list)


@dataclass
class SweepResult:
    now: datetime
    missed: int = 0
    missed_ids: list[int] = field(default_factory=list)
    missed_by_clinic: Counter[int] = field(default_factory=Counter)
    plans_evaluated: int = 0
    escalations_created: int = 0
    escalations_by_clinic: Counter[int] = field(default_factory=Counter)
    decisions: list[Decision] = field(default_factory=list)
    failed_plan_ids: list[int] = field(default_factory=list)
    suspended_plan_ids: list[int] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "now": self.now.isoformat(),
            "missed": self.missed,
            "plans_evaluated": self.plans_evaluated,
            "escalations_created": self.escalations_created,
            "checkin_decisions": len(self.decisions),
            "failed_plans": len(self.failed_plan_ids),
            "takehomes_suspended": len(self.suspended_plan_ids),
        }


def _chunked(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


# Large id lists go to PostgreSQL as one array literal ("{1,2,NULL}") cast in the SQL (`%s::bigint[]`):
# Django's psycopg cursor binds parameters on the client, and psycopg's list dumper quotes a list
# element by element (a regular-expression search each), which was a large share of the sweep's own
# CPU time. `int()` and `isoformat()` admit nothing but digits, a sign and dashes into the literal.
def _pg_ints(values: Iterable[int | None]) -> str:
    items = list(values)
    if None in items:
        return "{" + ",".join(["NULL" if v is None else str(int(v)) for v in items]) + "}"
    return "{" + ",".join(map(str, map(int, cast(list[int], items)))) + "}"


def _pg_dates(values: Iterable[date]) -> str:
    return "{" + ",".join(v.isoformat() for v in values) + "}"


# --- the sweep -------------------------------------------------------------------------------------------


@contextmanager
def _without_cyclic_gc() -> Iterator[None]:
    """Issue #16: CPython's cyclic garbage collector paused while a sweep runs, then resumed as it was.

    A worst-case sweep makes hundreds of thousands of short-lived objects (the rows of each read, plans, visits, ladder
    results) that hold no reference cycles and are freed by reference counting as before. Every 700 allocations the
    collector ran, and its older generations traverse every object the worker holds (Django's, the apps'): on 20,000
    overdue visits ≈ 0.1 s of the sweep's 0.3–0.4 s of client CPU (bench/missed_sweep.py). The results are the
    same; whatever cycles the sweep's calls leave are collected on the collector's next run."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:  # a caller that had paused it finds it paused
            gc.enable()


@_without_cyclic_gc()
def visits_mark_missed(*, now: datetime | None = None, all_plans: bool = False) -> SweepResult:
    """Mark overdue scheduled visits missed and evaluate the escalation ladder. Safe to run twice, or at once.

    Issue #16: every plan in a streak is evaluated once per clinic-local day (the first sweep of the day, or
    after a rule-set edit); later sweeps evaluate the plans with a visit missed since (`RECHECK`).
    `all_plans` evaluates every plan in a streak now."""
    now = now or timezone.now()
    result = SweepResult(now=now)
    clinics = _clinic_days(now)
    claimed = _claim_overdue(now, clinics)
    newly_missed: dict[int, int] = {}
    for visit_id, clinic_id, plan_id in claimed:
        result.missed_ids.append(visit_id)
        result.missed_by_clinic[clinic_id] += 1
        if plan_id is not None:
            newly_missed[plan_id] = max(visit_id, newly_missed.get(plan_id, 0))
    result.missed = len(claimed)
    # One transaction: the day is recorded only with the escalations it raised (a failed sweep leaves it to the
    # next one), a concurrent sweep waits on the day's row and then finds it done, and the writes share a commit.
    with transaction.atomic():
        new_days = _start_days(clinics, now)
        plan_ids = _plans_in_a_streak(now) if all_plans else _plans_in_a_streak(now, clinic_ids=new_days)
        plan_ids |= _recently_missed(now)
        evaluation = escalations_evaluate(now=now, plan_ids=plan_ids, newly_missed=newly_missed, clinic_days=clinics)
        result.plans_evaluated = evaluation.plans
        result.escalations_created = evaluation.created
        result.escalations_by_clinic = evaluation.created_by_clinic
        result.decisions = evaluation.decisions
        result.failed_plan_ids = evaluation.failed_plan_ids
        result.suspended_plan_ids = evaluation.suspended_plan_ids
        _audit(result)
    logger.info(
        "mark_missed_visits: %d missed, %d plans evaluated, %d escalations, %d failed plans",
        result.missed,
        result.plans_evaluated,
        result.escalations_created,
        len(result.failed_plan_ids),
    )
    return result


class _ClinicDay(NamedTuple):
    clinic_id: int
    grace: int
    today: date
    rules_updated: datetime | None
    recorded: bool = False  # its EscalationDay holds this date and stamp: `_start_days` has nothing to write
    rules: Rules | None = None  # the clinic's rules, parsed (the evaluation's, see `escalations_evaluate`)


# Parsed rule sets by (rule set id, its `updated`), kept across sweeps in the worker process (issue #16): a sweep
# read every clinic with its rule set's JSON and parsed it (≈ 1 ms a clinic: 0.1 s a sweep at 158 clinics) to
# learn the grace period. An edit saves a new `updated` (auto_now), so an edited rule set is a new key; `None` is
# a clinic on the default preset. Rules are frozen dataclasses, safe to share. Bounded: cleared when full.
_RULES_CACHE: dict[tuple[int, datetime] | None, Rules] = {}
_RULES_CACHE_SIZE = 1024


class _ClinicRead(NamedTuple):
    """One clinic read's rows (`_CLINIC_DAYS_SQL`) and the clinic days built from them at the local dates `todays`."""

    rows: list[tuple[Any, ...]]
    zones: tuple[str, ...]
    todays: tuple[date, ...]
    days: list[_ClinicDay]


# The last clinic read, by its rows' digest (issue #16): a steady sweep's clinics, zones, rule-set stamps and recorded
# days are those of the sweep before, and sending them (158 rows at 15M visits) and building each clinic's day again
# in Python was the part of the steady sweep that grew with the chain. The digest covers every column the days are
# built from, so any change (a clinic added, deleted, moved to another zone or rule set; a rule-set edit; a day
# recorded or its row removed) is a new digest and the rows come again; a new local date rebuilds the days from the
# kept rows. One entry: a worker sweeps one database.
_CLINIC_READ: dict[str, _ClinicRead] = {}


def _clinic_days(now: datetime) -> list[_ClinicDay]:
    """Each clinic's grace period, local date at `now` and rule set's last edit, in clinic id order.

    One read of the clinics' ids, zones and rule-set stamps (no JSON) and whether each one's day is recorded
    (`_CLINIC_DAYS_SQL`), whose rows come only when their digest is not the last read's (`_CLINIC_READ`); only rule
    sets not parsed before (new or edited since) are read and parsed."""
    utc_today = now.astimezone(UTC).date()
    kept = next(iter(_CLINIC_READ.items()), None)
    with connection.cursor() as cursor:
        cursor.execute(_CLINIC_DAYS_SQL, [utc_today - _DAY, utc_today + _DAY, kept[0] if kept else None])
        result = cursor.fetchall()
    digest, rows = result[0][5], [row[:5] for row in result[1:]]
    if kept is not None and digest == kept[0]:  # the rows did not come: they are the kept read's
        read = kept[1]
        todays = tuple(local_date(now, tz) for tz in read.zones)
        if todays == read.todays:
            return list(read.days)
        rows = read.rows
    _CLINIC_READ.clear()
    days = _days_from(rows=rows, now=now)
    if days is None:  # a rule set edited since the read: its rows are old already, and not kept
        return cast(list[_ClinicDay], _days_from(rows=rows, now=now, fresh=True))
    zones = tuple(sorted({row[1] for row in rows}))
    _CLINIC_READ[digest] = _ClinicRead(rows, zones, tuple(local_date(now, tz) for tz in zones), days)
    return list(days)


def _days_from(*, rows: list[tuple[Any, ...]], now: datetime, fresh: bool = False) -> list[_ClinicDay] | None:
    """The clinic days of a clinic read's rows at `now`; None if a rule set read now is newer than its row's stamp
    (unless `fresh`: then the newer stamp is taken, as the day's recorded stamp no longer matches it)."""
    missing = {rs for _, _, rs, updated, _ in rows if rs is not None and (rs, updated) not in _RULES_CACHE}
    loaded: dict[int, tuple[datetime, Rules]] = {}
    if missing:
        if len(_RULES_CACHE) + len(missing) > _RULES_CACHE_SIZE:
            _RULES_CACHE.clear()
        for rule_set in RuleSet.objects.filter(id__in=missing):
            loaded[rule_set.pk] = (rule_set.updated, rule_set.to_rules())
            _RULES_CACHE[(rule_set.pk, rule_set.updated)] = loaded[rule_set.pk][1]
    days = []
    today_in: dict[str, date] = {}  # a chain's clinics share a few zones
    for clinic_id, tz, rule_set_id, updated, recorded_dates in rows:
        today = today_in.get(tz)
        if today is None:
            today = today_in[tz] = local_date(now, tz)
        recorded = today in recorded_dates
        if rule_set_id is None:
            rules = _RULES_CACHE.get(None)
            if rules is None:
                rules = _RULES_CACHE[None] = rules_for_clinic(Clinic(rule_set=None))
        elif rule_set_id in loaded:  # read just now: its own stamp (an edit between the two reads is the newer)
            stamp, rules = loaded[rule_set_id]
            if stamp != updated and not fresh:
                return None
            recorded, updated = recorded and stamp == updated, stamp
        else:
            rules = _RULES_CACHE[(rule_set_id, updated)]
        days.append(_ClinicDay(clinic_id, rules.missed_grace_minutes, today, updated, recorded, rules))
    return days


# Issue #16: each clinic's days recorded with its current rule-set stamp around the UTC date (a local date is within a
# day of it; the zones stay Python's) come with the clinics, one index probe a clinic inside this read, so a later
# sweep of the day sends no `_START_DAYS_SQL`: at 158 clinics that statement (158 rows unnested and probed, a round
# trip) cost more than the rest of the steady sweep's reads together.
# The first row is the rows' digest (md5 of their text, in id order); the rows follow only when it is not the digest
# the worker kept (`_CLINIC_READ`): PostgreSQL still reads and probes every clinic, but a steady sweep receives one row.
_CLINIC_DAYS_SQL = """
    WITH clinic AS MATERIALIZED (
        SELECT c.id, c.timezone, c.rule_set_id, r.updated,
               ARRAY(
                   SELECT e.date FROM visits_escalationday e
                   WHERE e.clinic_id = c.id AND e.date BETWEEN %s AND %s
                     AND e.rules_updated IS NOT DISTINCT FROM r.updated
                   ORDER BY e.date
               ) AS recorded
        FROM scheduler_clinic c LEFT JOIN scheduler_ruleset r ON r.id = c.rule_set_id
    ), digest AS (
        SELECT md5(coalesce(string_agg(clinic::text, ';' ORDER BY id), '')) AS digest FROM clinic
    )
    SELECT 0, NULL, NULL, NULL, NULL, digest FROM digest
    UNION ALL
    SELECT c.*, NULL FROM clinic c, digest d WHERE d.digest IS DISTINCT FROM %s
    ORDER BY 1
"""


OVERDUE_PAGE = 5000


def _claim_overdue(now: datetime, clinics: list[_ClinicDay]) -> list[tuple[int, int, int | None]]:
    """Claim the scheduled visits whose window ended more than their clinic's grace period ago (scheduled →
    missed); returns (id, clinic id, plan id) of only the rows this sweep changed, in id order.

    One set-based statement a page (`_CLAIM_ENDED_SQL`): the page's rows are picked in (end, id) order along the
    (status, end) index with a LIMIT, locked (SKIP LOCKED) and re-checked as still scheduled, so a concurrent
    sweep, check-in or completion that got there first wins and this sweep neither counts nor escalates it. One
    read with `end <= cutoff OR end IS NULL` was estimated at the scheduled share × the past share of the table
    (on 15M visits: 570,000 rows, none in fact) and PostgreSQL scanned the whole table every sweep (1.9 s, issue
    #16); an ordered page stops at the last overdue visit, so a sweep's cost follows what is overdue. Visits
    without an end (booked without a time) are over when their clinic-local date is: their own statement.
    Each statement is its own transaction (outside a caller's), holding its page's row locks only while it runs.
    The page's ids reach the UPDATE as an array (`id = ANY(ARRAY(…))`): primary-key look-ups of the page alone. As
    `id IN (subquery)` the planner could hash-join the page with a bitmap of every scheduled visit — the whole
    generation horizon, read by every sweep even with nothing overdue (issue #16: it grew with the chain).
    """
    groups: dict[tuple[int, date], list[int]] = defaultdict(list)
    for day in clinics:
        groups[(day.grace, day.today)].append(day.clinic_id)
    claimed: list[tuple[int, int, int | None]] = []
    with connection.cursor() as cursor:
        # The ends only mark where the next page starts (sent back as they came): psycopg's own loader, not Django's
        # (which re-labels every value's zone in Python; see `_load_chunk`).
        cursor.cursor.adapters.register_loader("timestamptz", TimestamptzLoader)
        for (grace, today), clinic_ids in groups.items():
            ids, cutoff = _pg_ints(clinic_ids), now - timedelta(minutes=grace)
            after: tuple[datetime, int] | None = None  # (end, id) of the last row claimed
            while True:
                if after is None:
                    cursor.execute(_CLAIM_ENDED_SQL.format(after=""), [now, now, ids, cutoff, OVERDUE_PAGE])
                else:
                    sql = _CLAIM_ENDED_SQL.format(after=_AFTER)
                    cursor.execute(sql, [now, now, ids, cutoff, after[0], after[0], after[1], OVERDUE_PAGE])
                rows = cursor.fetchall()
                claimed += [(r[0], r[1], r[2]) for r in rows]
                if len(rows) < OVERDUE_PAGE:
                    break
                after = max((r[3], r[0]) for r in rows)
            cursor.execute(_CLAIM_UNDATED_SQL, [now, now, ids, today])
            claimed += [(r[0], r[1], r[2]) for r in cursor.fetchall()]
    claimed.sort()
    return claimed


_CLAIM_ENDED_SQL = """
    UPDATE visits_visit SET status = 'missed', missed_at = %s, updated = %s
    WHERE id = ANY(ARRAY(
        SELECT id FROM visits_visit
        WHERE status = 'scheduled' AND clinic_id = ANY(%s::bigint[]) AND "end" <= %s {after}
        ORDER BY "end", id
        LIMIT %s
        FOR UPDATE SKIP LOCKED
    )) AND status = 'scheduled'
    RETURNING id, clinic_id, plan_id, "end"
"""
# The next page: `end >= last end` bounds the index read, the row comparison breaks ties on `end` by id.
_AFTER = 'AND "end" >= %s AND ("end", id) > (%s, %s)'
_CLAIM_UNDATED_SQL = """
    UPDATE visits_visit SET status = 'missed', missed_at = %s, updated = %s
    WHERE id = ANY(ARRAY(
        SELECT id FROM visits_visit
        WHERE status = 'scheduled' AND clinic_id = ANY(%s::bigint[]) AND "end" IS NULL AND date < %s
        FOR UPDATE SKIP LOCKED
    )) AND status = 'scheduled'
    RETURNING id, clinic_id, plan_id
"""


# The clinics whose local date (or rule set) is new since their last full evaluation. A concurrent sweep's
# statement waits on the rows this one wrote until it commits, then conflicts and returns nothing.
# Issue #16: clinics whose day is already recorded as it is are left out before the upsert (NOT EXISTS, through the
# unique (clinic, date) index): ON CONFLICT DO UPDATE locks every conflicting row even when its WHERE is false, so a
# later sweep of the day wrote a row lock a clinic and committed a write; now it writes nothing.
_START_DAYS_SQL = """
    INSERT INTO visits_escalationday (clinic_id, date, rules_updated, created)
    SELECT d.clinic_id, d.date, d.rules_updated, %s
    FROM unnest(%s::bigint[], %s::date[], %s::timestamptz[]) AS d(clinic_id, date, rules_updated)
    WHERE NOT EXISTS (
        SELECT 1 FROM visits_escalationday e
        WHERE e.clinic_id = d.clinic_id AND e.date = d.date AND e.rules_updated IS NOT DISTINCT FROM d.rules_updated
    )
    ORDER BY d.clinic_id
    ON CONFLICT (clinic_id, date) DO UPDATE SET rules_updated = EXCLUDED.rules_updated
        WHERE visits_escalationday.rules_updated IS DISTINCT FROM EXCLUDED.rules_updated
    RETURNING clinic_id
"""


def _start_days(clinics: list[_ClinicDay], now: datetime) -> set[int]:
    """Record each clinic's local date; returns the clinics whose every plan in a streak is due an evaluation.
    Clinics whose day the clinic read found recorded are left out (the statement's NOT EXISTS would skip them)."""
    clinics = [c for c in clinics if not c.recorded]
    if not clinics:
        return set()
    params: list[Any] = [
        now,
        _pg_ints(c.clinic_id for c in clinics),
        _pg_dates(c.today for c in clinics),
        [c.rules_updated for c in clinics],
    ]
    with connection.cursor() as cursor:
        cursor.execute(_START_DAYS_SQL, params)
        return {row[0] for row in cursor.fetchall()}


# Visits a person marked missed (visits.services.visit_mark_missed, FHIR `noshow`) are not this sweep's claims;
# the sweeps in the next RECHECK evaluate their plans. Older no-shows (an end before the last two days), and visits
# without an end, wait for the next local day's evaluation. Through the partial `visit_recently_missed` index (issue
# #16): only the visits marked missed in the last RECHECK are read; the (status, end) index read every missed visit
# of the chain's last two days (4,175 heap fetches at 15M visits to find none).
RECHECK = timedelta(minutes=20)
_RECENTLY_MISSED_SQL = """
    SELECT DISTINCT plan_id FROM visits_visit
    WHERE status = 'missed' AND "end" >= %s AND missed_at >= %s AND plan_id IS NOT NULL AND kind = ANY(%s)
"""


def _recently_missed(now: datetime) -> set[int]:
    """Plans with a visit marked missed within RECHECK of `now` (the sweep's own claims included)."""
    with connection.cursor() as cursor:
        cursor.execute(_RECENTLY_MISSED_SQL, [now - 2 * _DAY, now - RECHECK, list(PLAN_KINDS)])
        return {row[0] for row in cursor.fetchall()}


def _audit(result: SweepResult) -> None:
    """Bulk writes bypass auditlog's signals: one summary entry per clinic per sweep."""
    clinics = set(result.missed_by_clinic) | set(result.escalations_by_clinic)
    summaries = {
        clinic_id: {
            "missed": result.missed_by_clinic.get(clinic_id, 0),
            "escalations": result.escalations_by_clinic.get(clinic_id, 0),
            "now": result.now.isoformat(),
        }
        for clinic_id in clinics
    }
    log_clinic_job("mark_missed_visits", summaries)


# --- evaluation ------------------------------------------------------------------------------------------


class _Row(NamedTuple):
    id: int
    plan_id: int
    kind: str
    date: _Date
    start: datetime | None
    status: str
    target_date: _Date | None
    latest: _Date | None


class _Done(NamedTuple):
    """The plan's latest completed visit, and the furthest date any completed visit covered."""

    date: _Date
    start: datetime | None
    kind: str
    cover_end: _Date


class _Plan(NamedTuple):
    """A plan as plain values (no model instances on the sweep's hot path); `pk` like a model's."""

    pk: int
    patient_id: int
    clinic_id: int
    medication: str
    start_date: _Date
    treatment_start: _Date
    end_date: _Date | None
    doses_per_day: int
    min_interval_minutes: int
    interval_days: int | None
    attendance_weekdays: list[int]
    attendance_every_weeks: int


_PLAN_FIELDS = (
    "id",
    "patient_id",
    "patient__clinic_id",
    *PLAN_SPEC_FIELDS,
)


class _NewEscalation(NamedTuple):
    patient_id: int
    plan_id: int
    clinic_id: int
    visit_id: int | None
    kind: str
    reason: str
    consecutive_missed: int
    anchor_date: _Date


@dataclass
class _Context:
    now: datetime
    calendars: ClinicCalendars
    rows: dict[int, list[_Row]]
    done: dict[int, _Done]
    pauses: dict[int, list[Pause]]
    clinics: dict[int, Clinic] = field(default_factory=dict)
    # Per clinic, computed once per sweep: its local "today" at `now`, and its rules.
    today: dict[int, _Date] = field(default_factory=dict)
    rules: dict[int, Rules] = field(default_factory=dict)


@dataclass
class _Outcome:
    escalations: list[_NewEscalation] = field(default_factory=list)
    decision: Decision | None = None


@_without_cyclic_gc()
def escalations_evaluate(
    *,
    now: datetime | None = None,
    plan_ids: Iterable[int] | None = None,
    newly_missed: Mapping[int, int] | None = None,
    clinic_days: Iterable[_ClinicDay] = (),
) -> EvaluationResult:
    """Record the escalations every plan in a missed streak has reached. Safe to run twice.

    `plan_ids` limits the evaluation (default: every active plan whose latest missed visit is recent
    and not followed by an attended one). `newly_missed` maps plan id → the visit this sweep marked
    missed; only those plans can produce a check-in decision, so a re-run never texts twice.
    `clinic_days`: the sweep's read of the clinics (`_clinic_days`, at this `now`), whose local dates and parsed
    rules the ladder uses as they are. Issue #16: the evaluation read each clinic of its plans again, with its rule
    set, and its whole calendar (windows, three years of closures) only to learn the rules — for a steady sweep's
    20 plans a cost that grew with the clinics they spanned. A calendar is now read only for a plan the engine is
    asked about (`_engine_exempt`).
    """
    now = now or timezone.now()
    newly_missed = dict(newly_missed or {})
    ids = set(plan_ids) if plan_ids is not None else _plans_in_a_streak(now)
    ids |= set(newly_missed)
    result = EvaluationResult()
    today: dict[int, _Date] = {}
    rules: dict[int, Rules] = {}
    for day in clinic_days:
        if day.rules is not None:
            today[day.clinic_id], rules[day.clinic_id] = day.today, day.rules
    # The engine's calendars take the rules the sweep's clinic read parsed (as `_rules` does), not a parse of their own.
    ctx = _Context(now, ClinicCalendars(rules=rules), {}, {}, {}, today=today, rules=rules)
    for chunk in _chunked(sorted(ids), PLAN_CHUNK):
        _evaluate_chunk(chunk, newly_missed, ctx, result)
    return result


# `_plans_in_a_streak` on PostgreSQL: both conditions from one grouped scan, and only the plan ids come back.
_STREAKS_SQL = """
    SELECT v.plan_id
    FROM visits_visit v JOIN scheduler_plan p ON p.id = v.plan_id
    WHERE p.status = 'active' AND v.kind = ANY(%s) AND v.date >= %s AND v.status IN ('missed', 'completed')
          {clinics}
    GROUP BY v.plan_id
    HAVING max(v.date) FILTER (WHERE v.status = 'missed')
               >= coalesce(max(v.date) FILTER (WHERE v.status = 'completed'), '-infinity'::date)
        OR bool_or(v.kind = 'dose' AND v.status = 'completed' AND v.take_home_doses < v.expected_take_home_doses)
"""


def _plans_in_a_streak(now: datetime, *, clinic_ids: Iterable[int] | None = None) -> set[int]:
    """Active plans whose latest recent missed visit is not followed by a completed one, and plans with
    take-homes planned but not handed out (those leave days uncovered without any missed visit).
    `clinic_ids` limits the search to those clinics' visits (none: no query)."""
    since = now.date() - timedelta(days=RECENT_DAYS)
    params: list[Any] = [list(PLAN_KINDS), since]
    sql = _STREAKS_SQL.format(clinics="")
    if clinic_ids is not None:
        clinics = sorted(clinic_ids)
        if not clinics:
            return set()
        sql = _STREAKS_SQL.format(clinics="AND v.clinic_id = ANY(%s::bigint[])")
        params.append(_pg_ints(clinics))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {row[0] for row in cursor.fetchall()}


def _evaluate_chunk(
    chunk: list[int],
    newly_missed: dict[int, int],
    ctx: _Context,
    result: EvaluationResult,
) -> None:
    # Plans as plain values: each clinic (and its rule set, parsed once in `calendars`) is loaded once per
    # sweep, and its local date and rules are computed once per sweep, not per plan.
    since = ctx.now.date() - timedelta(days=RECENT_DAYS + 1)
    plans, existing = _load_chunk(chunk, since, ctx)
    # Clinics as models: those the sweep's read did not bring (a call without `clinic_days`, or a clinic created
    # since), and those of plans the engine may be asked about (`_engine_exempt`: diamorphine, never dosed, paused).
    engine_asked = {
        plan.clinic_id
        for plan in plans
        if plan.medication == ladder.DIAMORPHINE
        or (plan.medication in ladder.ORAL_DAILY and (plan.pk not in ctx.done or plan.pk in ctx.pauses))
    }
    unread = {plan.clinic_id for plan in plans if plan.clinic_id not in ctx.rules}
    missing = (unread | engine_asked) - ctx.clinics.keys()
    if missing:
        ctx.clinics.update(Clinic.objects.select_related("rule_set").in_bulk(missing))
    # Their calendars in two queries, not two a clinic (issue #16: the steady sweep's 20 plans spanned 6 clinics).
    ctx.calendars.load(ctx.clinics[clinic_id] for clinic_id in sorted(engine_asked) if clinic_id in ctx.clinics)
    new: list[_NewEscalation] = []
    for plan in plans:
        result.plans += 1
        try:
            outcome = _evaluate_plan(plan, ctx, newly_missed.get(plan.pk))
        except Exception as exc:  # noqa: BLE001 — one bad plan never stops a sweep (STYLE.md)
            # Ids only: never names or phone numbers in logs.
            logger.warning("escalations_evaluate: plan %s failed (%s)", plan.pk, type(exc).__name__, exc_info=True)
            result.failed_plan_ids.append(plan.pk)
            continue
        for escalation in outcome.escalations:
            key = (plan.pk, escalation.kind, escalation.anchor_date)
            if key not in existing:
                existing.add(key)
                new.append(escalation)
        if outcome.decision is not None:
            result.decisions.append(outcome.decision)
    suspend: dict[int, set[int]] = defaultdict(set)
    for escalation in _save(new, result):
        result.created += 1
        result.created_by_clinic[escalation.clinic_id] += 1
        if escalation.kind in ladder.BLOCKING_KINDS:
            suspend[escalation.clinic_id].add(escalation.patient_id)
    _suspend_take_homes(suspend, ctx, result)


def _suspend_take_homes(patients_by_clinic: Mapping[int, set[int]], ctx: _Context, result: EvaluationResult) -> None:
    """API.md v1.1: a new hold, clinician review or re-induction suspends the patient's earned take-homes on
    every plan from today (clinic-local) until a clinician approves them again; one UPDATE per clinic. The
    sweep's result lists them (`suspended_plan_ids`) so the shell can regenerate their visits."""
    for clinic_id, patient_ids in sorted(patients_by_clinic.items()):
        today = ctx.today.get(clinic_id) or local_date(ctx.now, _clinic(clinic_id, ctx).timezone)
        with connection.cursor() as cursor:
            cursor.execute(_SUSPEND_SQL, [today, ctx.now, _pg_ints(sorted(patient_ids))])
            result.suspended_plan_ids += sorted(row[0] for row in cursor.fetchall())


# One statement (it was a read of the plan ids, then an UPDATE of them); the plans come back in id order.
_SUSPEND_SQL = """
    UPDATE scheduler_plan SET takehome_approved = false, takehome_suspended_on = %s, updated = %s
    WHERE patient_id = ANY(%s::bigint[]) AND takehome_approved
    RETURNING id
"""


_Key = tuple[int, str, _Date]  # an escalation's unique (plan, kind, anchor_date)


# The chunk's five reads as plain SQL with the chunk passed as one array literal (`= ANY(…)`, see `_pg_ints`):
# the ORM's `IN (%s, %s, …)` would prepare every id, in each of the five queries.
_PLANS_SQL = """
    SELECT p.id, p.patient_id, pt.clinic_id, p.medication, p.start_date, p.treatment_start, p.end_date,
           p.doses_per_day, p.min_interval_minutes, p.interval_days, p.attendance_weekdays,
           p.attendance_every_weeks
    FROM scheduler_plan p JOIN scheduler_patient pt ON pt.id = p.patient_id
    WHERE p.id = ANY(%s::bigint[]) AND p.status = 'active'
    ORDER BY p.id
"""
_RECENT_ROWS_SQL = """
    SELECT id, plan_id, kind, date, start, status, target_date, latest
    FROM visits_visit
    WHERE plan_id = ANY(%s::bigint[]) AND kind = ANY(%s) AND status = ANY(%s) AND date >= %s AND date <= %s
    ORDER BY plan_id, date, start, id
"""
# Each plan's latest completed visit (date, then start, then id, all descending) and its furthest covered
# date. Issue #16: two LIMIT 1 descents per plan on the partial indexes `visit_plan_last_completed` and
# `visit_plan_furthest_cover` (status = 'completed'), so the read costs the same whether a plan has a
# week or years of completed history; an aggregate over the history grew with time in treatment.
_LAST_DONE_SQL = """
    SELECT p.id, d.date, d.start, d.kind, d.covered_through, d.take_home_doses, c.covered_through
    FROM unnest(%s::bigint[]) AS p(id)
    CROSS JOIN LATERAL (
        SELECT v.date, v.start, v.kind, v.covered_through, v.take_home_doses
        FROM visits_visit v
        WHERE v.plan_id = p.id AND v.status = 'completed' AND v.kind = ANY(%s)
        ORDER BY v.date DESC, v.start DESC NULLS LAST, v.id DESC
        LIMIT 1
    ) AS d
    CROSS JOIN LATERAL (  -- a row whenever `d` has one (the same visits); NULL when none has a covered date
        SELECT v.covered_through
        FROM visits_visit v
        WHERE v.plan_id = p.id AND v.status = 'completed' AND v.kind = ANY(%s)
        ORDER BY v.covered_through DESC NULLS LAST
        LIMIT 1
    ) AS c
"""
# Pauses in the model's order (start, id): the engine takes the first pause that covers a date.
_PAUSES_SQL = (
    'SELECT id, plan_id, start, "end", reason FROM scheduler_pause WHERE plan_id = ANY(%s::bigint[]) ORDER BY start, id'
)
_EXISTING_SQL = "SELECT plan_id, kind, anchor_date FROM visits_escalation WHERE plan_id = ANY(%s::bigint[])"


def _load_chunk(chunk: list[int], since: date, ctx: _Context) -> tuple[list[_Plan], set[_Key]]:
    """The chunk's active plans and existing escalation keys; its visits, latest doses and pauses into `ctx`.

    Five plain queries, tuples only (pauses are rare: models)."""
    rows: dict[int, list[_Row]] = defaultdict(list)
    pauses: dict[int, list[Pause]] = defaultdict(list)
    with connection.cursor() as cursor:
        # Visit starts are only compared with each other (diamorphine sessions), never stored: psycopg's own
        # timestamptz loader gives the same instants (in the session's UTC) at a fraction of the cost of
        # Django's, which re-labels every value with `datetime.timezone.utc` in Python.
        cursor.cursor.adapters.register_loader("timestamptz", TimestamptzLoader)
        ids = _pg_ints(chunk)
        cursor.execute(_PLANS_SQL, [ids])
        # The weekdays come as JSON text (Django leaves jsonb to the field); plans share a few patterns,
        # so each distinct one is decoded once. The lists are only read (`plan_spec`), never changed.
        weekdays: dict[str, list[int]] = {}
        plans = []
        for row in cursor.fetchall():
            days = weekdays.get(row[10])
            if days is None:
                days = weekdays[row[10]] = json.loads(row[10])
            plans.append(_Plan._make((*row[:10], days, row[11])))
        statuses = ["missed", "scheduled", *NEUTRAL_STATUSES]
        cursor.execute(_RECENT_ROWS_SQL, [ids, list(PLAN_KINDS), statuses, since, _rows_until(ctx.now)])
        for row in cursor.fetchall():
            rows[row[1]].append(_Row._make(row))
        cursor.execute(_LAST_DONE_SQL, [ids, list(PLAN_KINDS), list(PLAN_KINDS)])
        ctx.done = _done_by_plan(cursor.fetchall())
        cursor.execute(_PAUSES_SQL, [ids])
        for pk, plan_id, start, end, reason in cursor.fetchall():
            pauses[plan_id].append(Pause(pk=pk, plan_id=plan_id, start=start, end=end, reason=reason))
        cursor.execute(_EXISTING_SQL, [ids])
        existing = set(cursor.fetchall())
    ctx.rows, ctx.pauses = rows, pauses
    return plans, existing


def _rows_until(now: datetime) -> date:
    """The last date whose visits the ladder reads: today in the clinic's zone, which is never after the UTC
    date + 1. Later visits are all still scheduled and the ladder never looks at them (a plan's whole
    future horizon would otherwise come back with every chunk)."""
    return now.astimezone(UTC).date() + _DAY


def _done_by_plan(rows: Iterable[Any]) -> dict[int, _Done]:
    done: dict[int, _Done] = {}
    for plan_id, day, start, kind, through, doses, max_through in rows:
        end = ladder.cover_end(day, through, doses)
        if max_through is not None:
            end = max(end, max_through)
        done[plan_id] = _Done(day, start, kind, end)
    return done


def _evaluate_plan(plan: _Plan, ctx: _Context, new_visit: int | None) -> _Outcome:
    if plan.medication in ladder.ORAL_DAILY:
        return _evaluate_oral(plan, ctx, new_visit)
    if plan.medication == ladder.DIAMORPHINE:
        return _evaluate_diamorphine(plan, ctx, new_visit)
    if plan.medication in ladder.INJECTIONS:
        return _evaluate_injection(plan, ctx)
    return _Outcome()


def _clinic(clinic_id: int, ctx: _Context) -> Clinic:
    """The clinic as a model, read when first needed (its calendar for the engine): most sweeps need none."""
    clinic = ctx.clinics.get(clinic_id)
    if clinic is None:
        clinic = ctx.clinics[clinic_id] = Clinic.objects.select_related("rule_set").get(pk=clinic_id)
    return clinic


def _clinic_today(plan: _Plan, ctx: _Context) -> date:
    today = ctx.today.get(plan.clinic_id)
    if today is None:
        today = ctx.today[plan.clinic_id] = local_date(ctx.now, ctx.clinics[plan.clinic_id].timezone)
    return today


def _through(plan: _Plan, rows: list[_Row], today: date) -> date:
    """The latest date whose dose opportunity has passed: today once today's visits are all missed, else yesterday."""
    todays = [r.status for r in rows if r.date == today]
    through = today if todays and all(s == "missed" for s in todays) else today - _DAY
    return min(through, plan.end_date) if plan.end_date is not None else through


def _neutral_dates(rows: list[_Row], after: date, through: date) -> set[date]:
    return {r.date for r in rows if r.status in NEUTRAL_STATUSES and after < r.date <= through}


def _latest_missed(rows: list[_Row], after: date) -> int | None:
    missed = [r.id for r in rows if r.status == "missed" and r.date > after]
    return missed[-1] if missed else None


def _engine_exempt(plan: _Plan, ctx: _Context, first: date, last: date, *, always: bool) -> set[date]:
    """Dates the engine plans no dose for (pauses: guest dosing, hospital, custody; before the first open day).

    The oral engine simulates from the plan's start, so it is only asked when a pause overlaps the
    range or the patient was never dosed; otherwise every date in range is a dose or take-home date.
    """
    pauses = ctx.pauses.get(plan.pk, [])
    if not always and not any(p.start <= last and p.end >= first for p in pauses):
        return set()
    calendar, rules = ctx.calendars.get(_clinic(plan.clinic_id, ctx))
    spec = plan_spec(plan, pauses=pauses)
    days = engine.plan_days(spec, calendar, rules, first, last)
    # A day an alternate-day double dose would have covered is no exemption: its dose was missed or is ahead.
    return {d.date for d in days if d.expected == "none" and d.covered_by is None}


def _escalation(
    plan: _Plan, kind: str, reason: str, consecutive: int, anchor: date, visit_id: int | None
) -> _NewEscalation:
    return _NewEscalation(plan.patient_id, plan.pk, plan.clinic_id, visit_id, kind, reason[:400], consecutive, anchor)


def _rules(plan: _Plan, ctx: _Context) -> Rules:
    rules = ctx.rules.get(plan.clinic_id)
    if rules is None:
        rules = ctx.rules[plan.clinic_id] = ctx.calendars.get(ctx.clinics[plan.clinic_id])[1]
    return rules


def _checkin(
    plan: _Plan, steps: Sequence[str], new_visit: int | None, today: date, consecutive: int
) -> Decision | None:
    # Only a visit this sweep marked missed can trigger the text, and only on the first step.
    if new_visit is None or not steps or steps[-1] != ladder.CHECKIN_TEXT:
        return None
    return Decision(
        kind=ladder.CHECKIN_TEXT,
        plan_id=plan.pk,
        patient_id=plan.patient_id,
        clinic_id=plan.clinic_id,
        visit_id=new_visit,
        today=today,
        consecutive_missed=consecutive,
    )


def _evaluate_oral(plan: _Plan, ctx: _Context, new_visit: int | None) -> _Outcome:
    today = _clinic_today(plan, ctx)
    rows = ctx.rows.get(plan.pk, [])
    done = ctx.done.get(plan.pk)
    last_covered = done.cover_end if done else plan.start_date - _DAY
    through = _through(plan, rows, today)
    every = engine.dose_every_days(plan.medication, plan.interval_days)
    if every > 1:
        last_covered = _alternate_day_cover(done, last_covered, every)
    if through <= last_covered:
        return _Outcome()
    exempt = _neutral_dates(rows, last_covered, through)
    exempt |= _engine_exempt(plan, ctx, last_covered + _DAY, through, always=done is None)
    consecutive = ladder.days_without_medication(
        covered=[(done.date, done.cover_end)] if done else [],
        exempt=exempt,
        last_covered=last_covered,
        through=through,
    )
    steps, rows_to_add = _oral_steps(_rules(plan, ctx).ladder, plan.medication, consecutive)
    visit_id = _latest_missed(rows, last_covered)
    outcome = _Outcome(decision=_checkin(plan, steps, new_visit, today, consecutive))
    for kind, reason in rows_to_add:
        outcome.escalations.append(_escalation(plan, kind, reason, consecutive, last_covered, visit_id))
    return outcome


def _alternate_day_cover(done: _Done | None, last_covered: date, every: int) -> date:
    """Issue #15, DOMAIN §1/§4: an alternate-day dose covers its own day and the next (a double dose every 48 h),
    so an adherent patient is never a day without (visits completed before `covered_through` knew it included).
    A missed alternate-day visit leaves both days without: the day after a dose date is never exempt
    (`_engine_exempt`), so by the next dose date's morning the streak is 2 days, as for a Mon/Wed/Fri patient."""
    if done is not None and done.kind == "dose":
        return max(last_covered, done.date + timedelta(days=every - 1))
    return last_covered


@functools.lru_cache(maxsize=1024)
def _oral_steps(
    ladder_: Ladder, medication: str, consecutive: int
) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """The steps reached, and (kind, reason) of each that is an Escalation row; the same for every plan
    with the same ladder, medication and count, so worked out once per combination, not per plan."""
    steps = tuple(ladder.escalation_kinds(ladder_, medication, consecutive))
    rows = tuple(
        (kind, ladder.escalation_reason(kind, consecutive, ladder_))
        for kind in steps
        if kind in ladder.ESCALATION_STEPS
    )
    return steps, rows


def _evaluate_diamorphine(plan: _Plan, ctx: _Context, new_visit: int | None) -> _Outcome:
    """Each missed session counts (DOMAIN §4); days without any session call for re-titration."""
    today = _clinic_today(plan, ctx)
    rows = ctx.rows.get(plan.pk, [])
    done = ctx.done.get(plan.pk)
    last_date = done.date if done else plan.start_date - _DAY
    missed = [r for r in rows if r.status == "missed" and _after_session(r, done)]
    rules = _rules(plan, ctx)
    steps = ladder.escalation_kinds(rules.ladder, plan.medication, len(missed))
    visit_id = missed[-1].id if missed else None
    outcome = _Outcome(decision=_checkin(plan, steps, new_visit, today, len(missed)))
    if "outreach" in steps:
        reason = ladder.session_reason(len(missed), rules.ladder)
        outcome.escalations.append(_escalation(plan, "outreach", reason, len(missed), last_date, visit_id))
    through = _through(plan, rows, today)
    if through <= last_date:
        return outcome
    exempt = _neutral_dates(rows, last_date, through)
    # Diamorphine days are computed day by day (no simulation from the start), so always ask.
    exempt |= _engine_exempt(plan, ctx, last_date + _DAY, through, always=True)
    days = ladder.days_without_medication(covered=[], exempt=exempt, last_covered=last_date, through=through)
    if ladder.retitration_needed(days, rules.diamorphine_retitration_days):
        reason = ladder.retitration_reason(days, rules.diamorphine_retitration_days)
        outcome.escalations.append(_escalation(plan, "retitration", reason, days, last_date, visit_id))
    return outcome


def _after_session(row: _Row, done: _Done | None) -> bool:
    if done is None:
        return True
    if row.date != done.date:
        return row.date > done.date
    if row.start is None or done.start is None:
        return False
    return row.start > done.start


def _evaluate_injection(plan: _Plan, ctx: _Context) -> _Outcome:
    """Missed inside the window: overdue (outreach); past it: clinician action before booking (DOMAIN §4)."""
    today = _clinic_today(plan, ctx)
    done = ctx.done.get(plan.pk)
    missed = [
        r
        for r in ctx.rows.get(plan.pk, [])
        if r.kind == "injection" and r.status == "missed" and (done is None or r.date > done.date)
    ]
    if not missed:
        return _Outcome()
    visit = missed[-1]
    anchor = visit.target_date or visit.date
    outcome = _Outcome()
    window = _rules(plan, ctx).injection_windows.get(plan.medication)
    restart_after = window.restart_after_days if window is not None else None
    # Issue #15: distinct tiers: inside the window rebook as planned; past it a clinician review (naltrexone: the
    # opioid-free check); past restart_after_days a re-start instead (a review raised earlier stays until resolved).
    restart = ladder.restart_needed(target=anchor, today=today, restart_after_days=restart_after)
    for kind in ladder.injection_kinds(visit_date=visit.date, latest=visit.latest, today=today, restart=restart):
        if kind == "restart":
            assert restart_after is not None
            reason = ladder.restart_reason(target=anchor, today=today, restart_after_days=restart_after)
        else:
            reason = ladder.injection_reason(
                kind, target=anchor, latest=visit.latest, today=today, medication=plan.medication,
                restart_after_days=restart_after,
            )
        outcome.escalations.append(_escalation(plan, kind, reason, len(missed), anchor, visit.id))
    return outcome


_INSERT_ESCALATIONS_SQL = """
    INSERT INTO visits_escalation (
        patient_id, plan_id, clinic_id, visit_id, kind, reason, consecutive_missed, anchor_date,
        created, resolved_at, resolved_by_id, resolution_note
    )
    SELECT e.patient_id, e.plan_id, e.clinic_id, e.visit_id, texts.t[e.kind], texts.t[e.reason],
           e.consecutive_missed, e.anchor_date, %s, NULL, NULL, ''
    FROM (SELECT %s::text[] AS t) AS texts, unnest(
        %s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[], %s::integer[], %s::integer[], %s::integer[],
        %s::date[]
    ) AS e(patient_id, plan_id, clinic_id, visit_id, kind, reason, consecutive_missed, anchor_date)
    ON CONFLICT DO NOTHING
"""


def _save(new: list[_NewEscalation], result: EvaluationResult) -> list[_NewEscalation]:
    """Insert new escalations; the unique (plan, kind, anchor_date) makes a concurrent duplicate a no-op.

    One `INSERT … SELECT FROM unnest(arrays) ON CONFLICT DO NOTHING` per chunk (the same as
    `bulk_create(ignore_conflicts=True)`, without building model instances).
    Kinds and reasons repeat (one text per step and count), so each distinct text is sent once and
    rows carry its 1-based position; the other columns go as array literals (`_pg_ints`).
    """
    if not new:
        return []
    try:
        with transaction.atomic():
            texts: dict[str, int] = {}
            kind = [texts.setdefault(text, len(texts) + 1) for text in (e.kind for e in new)]
            reason = [texts.setdefault(text, len(texts) + 1) for text in (e.reason for e in new)]
            params: list[Any] = [
                timezone.now(),
                list(texts),
                _pg_ints(e.patient_id for e in new),
                _pg_ints(e.plan_id for e in new),
                _pg_ints(e.clinic_id for e in new),
                _pg_ints(e.visit_id for e in new),
                _pg_ints(kind),
                _pg_ints(reason),
                _pg_ints(e.consecutive_missed for e in new),
                _pg_dates(e.anchor_date for e in new),
            ]
            with connection.cursor() as cursor:
                cursor.execute(_INSERT_ESCALATIONS_SQL, params)
        return new
    except DatabaseError:
        logger.warning("escalations_evaluate: bulk insert failed, inserting one by one", exc_info=True)
    saved: list[_NewEscalation] = []
    for escalation in new:
        try:
            with transaction.atomic():
                Escalation(**escalation._asdict()).save(force_insert=True)
            saved.append(escalation)
        except IntegrityError:
            continue  # created by a concurrent sweep
        except DatabaseError:
            logger.warning("escalations_evaluate: plan %s escalation failed", escalation.plan_id, exc_info=True)
            result.failed_plan_ids.append(escalation.plan_id)
    return saved


# --- resolving -------------------------------------------------------------------------------------------


@transaction.atomic
def escalation_resolve(
    *, escalation: Escalation, by: Any, note: str, restart_dose_mg: Decimal | None = None,
    reinduction: dict[str, Any] | None = None,
) -> Escalation:
    """A clinician (or admin) resolves an escalation with a note; compare-and-swap on resolved_at. With
    `restart_dose_mg` the plan restarts on that dose from today (issue #14: "dose usually reduced"); with
    `reinduction` ({start_mg, step_mg, every_days, target_mg}) on a re-induction schedule from today instead
    (scheduler.services.dose_reinduction_create: a series of orders within the rule set's induction limits)."""
    if restart_dose_mg is not None and reinduction is not None:
        raise RuleViolation("Give restart_dose_mg or a reinduction schedule, not both.", "reinduction")
    if reinduction is not None and escalation.kind not in REINDUCTION_KINDS:
        raise RuleViolation(
            f"A re-induction schedule follows a hold, clinician review, re-induction or re-titration, not "
            f"{escalation.get_kind_display().lower()}.", "reinduction",
        )
    if not has_role(by, CLINICAL):
        raise PermissionDenied("Only clinicians and admins may resolve escalations.")
    text = (note or "").strip()
    if not text:
        raise RuleViolation("Write a note saying how the escalation was resolved.", "note")
    now = timezone.now()
    changed = Escalation.objects.filter(pk=escalation.pk, resolved_at__isnull=True).update(
        resolved_at=now, resolved_by=by, resolution_note=text
    )
    if changed != 1:
        raise StateConflict(f"Escalation #{escalation.pk} is already resolved.")
    escalation.resolved_at, escalation.resolved_by, escalation.resolution_note = now, by, text
    log_closed(escalation, when_field="resolved_at", by_field="resolved_by", when=now, by=by)
    if restart_dose_mg is not None:
        if escalation.plan is None:
            raise RuleViolation("This escalation has no plan to restart a dose on.", "restart_dose_mg")
        clinic = escalation.plan.patient.clinic
        dose_order_create(
            plan=escalation.plan, dose_mg=restart_dose_mg, effective_date=local_date(now, clinic.timezone),
            note=f"restart after {escalation.get_kind_display().lower()}: {text}", by=by,
        )
    if reinduction is not None:
        if escalation.plan is None:
            raise RuleViolation("This escalation has no plan to restart a dose on.", "reinduction")
        dose_reinduction_create(
            plan=escalation.plan, by=by, note=f"after {escalation.get_kind_display().lower()}: {text}"[:200],
            **reinduction,
        )
    return escalation


# Issue #14: the escalations after which a clinician may restart on a re-induction schedule.
REINDUCTION_KINDS = ("hold", "clinician_review", "reinduction", "retitration")
