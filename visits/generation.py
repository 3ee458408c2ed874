"""Materialise the engine's answer as Visit rows for a rolling horizon, never past a window's capacity.

Idempotent: every generated visit is keyed by (plan, planned_date, session) under a unique
constraint, so running twice (or two workers at once) creates nothing new. Regeneration only
touches *future, scheduled, untouched* generated visits: past, attended, cancelled and
hand-edited visits never change (DOMAIN.md §1).

Capacity (API.md v1.1: "generation never takes a window past its capacity"). The engine says which
days and sessions a plan needs; this module decides where they sit:

- A window's `capacity` is the number of visits it takes on one clinic-local date, for every service
  it offers. A visit holds its place unless cancelled or excused (visits.selectors.FREES_ITS_PLACE, the rule
  booking uses too); generated visits this run may move are counted once, where they end up.
- Oral doses and injections go to the engine's window (the day's first window offering the service);
  when it is full, to the next window offering that service that day by start time, then to the
  earlier ones. The visit's start and end are that window's.
- Diamorphine sessions also need a booth (DOMAIN §1: each session occupies an injection booth for about
  30 minutes, engine.SESSION_MINUTES). A diamorphine window is a grid of 30-minute booth slots from its
  start, the last one ending at the window's end; each slot takes `stations` sessions at once (the
  window's booths), or, when `stations` is not set, ceil(capacity ÷ slots) — the fewest booths that
  can take `capacity` sessions spread over the window, which is DOMAIN §2's capacity = stations ×
  window minutes ÷ minutes per visit read backwards. `capacity` still bounds the sessions of the date.
  A session's `start` is the first slot with a free booth at least the plan's interval (elapsed time:
  max of the plan's min_interval_minutes, the rule set's floor and 30 minutes) after the patient's
  previous session that day; its `end` stays the window's end, as the engine gives it. A visit of
  another kind in a window that also offers diamorphine uses a booth from its start like a session.
- A visit this run may move that already sits on a spot that is still valid (same window, a slot of
  it, interval kept, room left) stays there: nothing moves without need, so a later cancellation does
  not reshuffle a whole clinic and the hourly run changes nothing on an unchanged calendar.
- The windows of the chunk's clinics are locked (SELECT … FOR UPDATE, id order, after a FOR KEY SHARE
  on the chunk's patients so that the lock order matches booking's: patient, then windows) before their
  visits are counted, so a booking and a generation never both take the last place. The rolling job holds
  a clinic's patients and windows, and its counts, for all of the clinic's chunks (_ClinicHold, issue #16).

A visit with no room anywhere that day is *refused* when a person changed something (`refuse="plan"`:
creating or changing a plan or its pauses; `refuse="calendar"`: a window, closure, zone or rule-set
change): StateConflict (409) names the date and the window, and the caller's transaction rolls back.
A calendar change that leaves a window with more visits generation cannot move (booked by hand,
attended, edited) than its new capacity is refused the same way. The rolling job (`refuse=None`)
leaves such a visit out (not created; one already there whose window shrank behind generation's back is
removed like any visit the engine no longer wants, so the window is back within capacity), logs a warning
without names and opens one "unplaced_visit" StaffTask per patient for staff, unless one is open already.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Literal, NamedTuple

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Max
from django.utils import timezone
from psycopg.errors import UniqueViolation

from scheduler import engine
from scheduler.audit import log_clinic_job
from scheduler.errors import StateConflict
from scheduler.models import MEDICATION_CHOICES, Clinic, DosingWindow, Plan
from scheduler.rules import DEFAULT_PRESET, PRESETS, Rules
from scheduler.selectors import PLAN_SPEC_FIELDS, ClinicCalendars, active_plans, pauses_by_plan, plan_spec
from scheduler.timeutil import NonexistentLocalTime, local_date, utc_instant, zone
from visits.models import StaffTask, Visit
from visits.selectors import first_injection_from, window_bookings

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
    unplaced: int = 0  # visits the rolling job left out for lack of room
    skipped: int = 0  # plans the rolling job found unchanged since its last run (fingerprint), not simulated
    created_ids: list[int] = field(default_factory=list)
    changed_ids: list[int] = field(default_factory=list)

    def merge(self, other: GenerationResult) -> None:
        self.plans += other.plans
        self.created += other.created
        self.updated += other.updated
        self.deleted += other.deleted
        self.unplaced += other.unplaced
        self.skipped += other.skipped
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
        last = len(day.sessions) - 1
        for index, session in enumerate(day.sessions):
            wanted[(day.date, index)] = (
                kind,
                day.date,
                session.start,
                session.end,
                session.window_id,
                reason,
                # A methadone split dose hands out its take-homes at the day's last session (issue #14).
                day.take_home_doses if index == last else 0,
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
    head = (plan.patient_id, plan.patient.clinic_id, plan.pk)
    if not existing:  # a plan's first run (or a new day's horizon all new): every visit is a new row
        return [head + key + values for key, values in wanted.items()], [], []
    to_create: list[tuple[Any, ...]] = []
    to_update: list[Visit] = []
    to_delete: list[int] = []
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


Refusal = Literal["plan", "calendar"]


class _Input(NamedTuple):
    """What the engine reads for one plan of a chunk (everything but the rows already there)."""

    plan: Plan
    today: date
    date_from: date
    date_to: date
    spec: engine.PlanSpec
    calendar: engine.Calendar
    rules: Rules


def _inputs(plans: list[Plan], calendars: ClinicCalendars, horizon_days: int, today: date | None) -> list[_Input]:
    pauses = pauses_by_plan([p.pk for p in plans])
    # Only the engine's injection schedule reads the last injection date: no query for an oral-only chunk.
    injection_plans = [p.pk for p in plans if p.medication in engine.INJECTIONS]
    last_injections = _last_injections(injection_plans) if injection_plans else {}
    inputs: list[_Input] = []
    for plan in plans:
        clinic = plan.patient.clinic
        plan_today = today or _today_for(clinic)
        calendar, rules = calendars.get(clinic)
        last_injection = last_injections.get(plan.pk)
        # Issue #14: naltrexone's first injection waits for the opioid-free days (one query, such plans only).
        first_from = first_injection_from(plan, rules) if last_injection is None else None
        spec = plan_spec(
            plan, pauses=pauses.get(plan.pk, []), last_injection_date=last_injection, first_injection_from=first_from
        )
        date_to = plan_today + timedelta(days=horizon_days - 1)
        if plan.end_date is not None:
            date_to = min(date_to, plan.end_date)
        inputs.append(_Input(plan, plan_today, max(plan_today, plan.start_date), date_to, spec, calendar, rules))
    return inputs


_SHAPES_HELD = 1000  # distinct shapes kept at once (each a plan's wanted visits for the horizon)
_TREATMENT_STARTS_TRIED = 4  # answers of a shape but its treatment start tried before simulating


class _Shapes:
    """The engine's answers by plan shape, for one clinic at a time (issue #16).

    engine.plan_days is a pure function of the PlanSpec, the calendar, the rules and the range, and desired_visits
    of that answer and the medication (part of the spec): two plans of a clinic with equal specs over the same range
    want the same visits. A clinic's daily patients who started the same day on the same pattern are simulated
    once; each plan gets its own copy of the answer (placing moves and removes entries of it, the value tuples are
    immutable and shared). Kept for one calendar at a time and at most _SHAPES_HELD shapes, so memory stays bounded:
    the rolling job reads plans by clinic. Only the engine's thread (or the caller's, without one) touches it.

    Patients start treatment on days of their own, so specs are rarely equal; but the treatment start reaches the
    answer only through the take-home limits the simulation looked up (engine.TreatmentStartReads). An answer is
    also held by its spec without the treatment start, with what it read of it, and serves a plan whose treatment
    start gives the same limits wherever they were read: exactly the answer simulating that plan gives. Only simulated
    answers are held (and counted against _SHAPES_HELD); a plan served by another's treatment start is looked up again.
    """

    def __init__(self) -> None:
        self._calendar: engine.Calendar | None = None
        self._rules: Rules | None = None
        self._wanted: dict[tuple[engine.PlanSpec, date, date], dict[tuple[date, int], tuple[Any, ...]]] = {}
        self._by_rest: dict[
            tuple[engine.PlanSpec, date, date],
            list[tuple[engine.TreatmentStartReads, dict[tuple[date, int], tuple[Any, ...]]]],
        ] = {}

    def wanted(
        self, plan: Plan, spec: engine.PlanSpec, calendar: engine.Calendar, rules: Rules, date_from: date, date_to: date
    ) -> dict[tuple[date, int], tuple[Any, ...]]:
        if calendar is not self._calendar or rules is not self._rules:
            # Held by reference: the identity check above can never match a new object at a reused address.
            self._calendar, self._rules, self._wanted, self._by_rest = calendar, rules, {}, {}
        key = (spec, date_from, date_to)
        found = self._wanted.get(key)
        if found is None:
            rest = (dataclasses.replace(spec, treatment_start=None), date_from, date_to)
            held = self._by_rest.get(rest, [])
            found = next((answer for reads, answer in held if reads.hold_for(spec, rules)), None)
        if found is None:
            if len(self._wanted) >= _SHAPES_HELD:
                # A clinic of mostly distinct plans: memory stays bounded, answers the same.
                self._wanted, self._by_rest = {}, {}
            days, reads = (
                engine.plan_days_read(spec, calendar, rules, date_from, date_to)
                if date_from <= date_to
                else ([], engine.TreatmentStartReads(False))
            )
            found = self._wanted[key] = desired_visits(plan, days)
            held = self._by_rest.setdefault(rest, [])
            if not reads.named and len(held) < _TREATMENT_STARTS_TRIED:
                held.append((reads, found))
        return dict(found)


def _simulate(inputs: list[_Input], shapes: _Shapes | None = None) -> list[_Work]:
    """The engine's answer for each plan: pure code, no ORM (it may run on the engine thread, see _Chunk)."""
    shapes = _Shapes() if shapes is None else shapes
    works: list[_Work] = []
    for plan, plan_today, date_from, date_to, spec, calendar, rules in inputs:
        wanted = shapes.wanted(plan, spec, calendar, rules, date_from, date_to)
        works.append(_Work(plan, plan_today, calendar, _interval(plan, rules), wanted))
    return works


@dataclass
class _Chunk:
    """A chunk read and handed to the engine, waiting for its write.

    The rolling job simulates chunk k + 1 on a second thread while chunk k's write waits on PostgreSQL (its INSERT
    and the commit's foreign-key checks are most of a full run): the engine is pure code and never touches the
    database connection, which stays on the job's thread. Reading chunk k + 1 before writing chunk k changes
    nothing: a chunk writes only its own plans' visits, and no input of another plan is a visit it writes.
    """

    result: GenerationResult
    inputs: list[_Input]
    works: Future[list[_Work]] | list[_Work]


def _prepare_chunk(
    plans: list[Plan],
    calendars: ClinicCalendars,
    horizon_days: int,
    today: date | None,
    fingerprints: _Fingerprints | None,
    engine_thread: ThreadPoolExecutor | None,
    shapes: _Shapes | None = None,
) -> _Chunk:
    result = GenerationResult(plans=len(plans))
    inputs = _inputs(plans, calendars, horizon_days, today)
    if fingerprints is not None:
        inputs = fingerprints.stale(inputs)
        result.skipped = len(plans) - len(inputs)
    if engine_thread is None or not inputs:
        return _Chunk(result, inputs, _simulate(inputs, shapes))
    return _Chunk(result, inputs, engine_thread.submit(_simulate, inputs, shapes))


def _write_chunk(
    chunk: _Chunk, refuse: Refusal | None, fingerprints: _Fingerprints | None, hold: _ClinicHold | None = None
) -> GenerationResult:
    result, inputs = chunk.result, chunk.inputs
    works = chunk.works.result() if isinstance(chunk.works, Future) else chunk.works
    if not inputs:
        return result
    now = timezone.now()
    plan_ids = [item.plan.pk for item in inputs]
    earliest_today = min(item.today for item in inputs)
    latest = max(earliest_today, *(item.date_to for item in inputs))
    creates: list[tuple[Any, ...]] = []
    updates: list[Visit] = []
    deletes: list[int] = []
    inserted: list[tuple[int, int]] = []
    # Under a clinic hold the clinic's transaction is already open and its locks held (see _ClinicHold).
    with transaction.atomic() if hold is None else nullcontext():
        # Read under the window locks: what is already there is what this run counts and may move.
        room = (
            _Room.load(works, earliest_today, latest) if hold is None else hold.room_for(works, earliest_today, latest)
        )
        existing = _existing(plan_ids, earliest_today)
        for work in works:
            work.existing = {k: v for k, v in existing.get(work.plan.pk, {}).items() if k[0] >= work.today}
        room.release(works)
        unplaced = room.place(works, refuse)
        for work in works:
            c, u, d = _reconcile(work.plan, work.wanted, work.existing, now)
            creates += c
            updates += u
            deletes += d
        if deletes:
            result.deleted = Visit.objects.filter(id__in=deletes, status="scheduled", edited=False).delete()[0]
        if updates:
            result.updated = Visit.objects.bulk_update(updates, list(COMPARED_FIELDS) + ["updated"], batch_size=1000)
            result.changed_ids = [v.pk for v in updates]
        if creates:
            inserted = _insert_new_rows(creates)
            result.created_ids = [visit_id for visit_id, _plan_id in inserted]
            result.created = len(result.created_ids)
        if unplaced:
            result.unplaced = len(unplaced)
            _report_unplaced(unplaced)
    if fingerprints is not None:
        fingerprints.store(works, set(deletes), inserted, {item.plan.pk for item in unplaced})
    return result


class _ClinicHold:
    """Issue #16: the rolling job writes each clinic's chunks in one transaction, holding its locks throughout.

    A chunk counted the places taken in its clinic's windows afresh (window_bookings), and each chunk of a big
    clinic read back every visit the chunks before it had written there: the tenth chunk of a 5,000-patient
    clinic aggregated 100,000 rows, ≈ 15% of the run. Those counts stay exact across chunks only if nothing else
    can fill or free a place in between, so the locks that make one chunk safe are held for the whole clinic:
    its patients (FOR KEY SHARE, all of them, first) and then its windows (FOR UPDATE, id order), the order
    booking takes them in (patient, then windows). A booking or a generation in that clinic waits until the clinic
    is written, as it waited for one chunk before; a clinic of up to PLAN_CHUNK active plans is one chunk anyway.
    The room (_Room) is loaded once under those locks, for the clinic's whole horizon, and every chunk's
    placements update it in memory: the counts are what the table holds, as a fresh read would give them.
    All of a clinic's patients are locked up front because a chunk's patients locked after the windows (booking's
    order reversed) could deadlock with a booking holding one of them and waiting for a window.
    """

    def __init__(self, horizon_days: int) -> None:
        self.horizon_days = horizon_days
        self.clinic_id: int | None = None
        self.room: _Room | None = None
        self._atomic: transaction.Atomic | None = None

    def __enter__(self) -> _ClinicHold:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close(*exc)

    def switch(self, clinic_id: int) -> None:
        """Commit the clinic held (if another) and open the transaction of `clinic_id`, its patients locked."""
        if clinic_id == self.clinic_id:
            return
        self.close(None, None, None)
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        self.clinic_id = clinic_id
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id FROM scheduler_patient WHERE clinic_id = %s ORDER BY id FOR KEY SHARE", [clinic_id]
            )

    def close(self, *exc: Any) -> None:
        """Commit (or, given an exception, roll back) the clinic's transaction."""
        atomic, self._atomic = self._atomic, None
        self.clinic_id, self.room = None, None
        if atomic is not None:
            atomic.__exit__(*exc)

    def room_for(self, works: list[_Work], date_from: date, date_to: date) -> _Room:
        """The clinic's room, loaded (windows locked) by its first chunk for the horizon from its first today."""
        room = self.room
        if room is None or not (room.date_from <= date_from and date_to <= room.date_to):
            # Loaded again only if a chunk reaches past it (midnight passed during the run): still exact, as every
            # write of the clinic's earlier chunks is in this transaction.
            until = max(date_to, date_from + timedelta(days=self.horizon_days - 1))
            room = self.room = _Room.load(works, date_from, until, lock_patients=False)
        return room


# --- the rolling job's fingerprints: skip what has not changed --------------------------------------------

# Part of every fingerprint: bump it with any change to the engine or to this module that changes the rows
# generated from the same inputs, so that the first hourly run after the deploy regenerates every plan.
FINGERPRINT_VERSION = 1


class _Fingerprints:
    """Issue #16: the hourly run finds almost every plan as it left it, and simulating each (an oral plan day by day
    from its start) was 1.7–2.3 ms a plan. A plan's rows are a function of its inputs — the plan and its pauses
    (PlanSpec), the clinic's zone, windows (capacity and booths too), closures and rule set, today and the horizon
    end — and of the rows already there. The rolling job stores a hash of both (Plan.generated_fingerprint) and
    skips a plan while the hash is the same; anything else makes it generate as before:
    - a change to any input, however it was written (the values are hashed, not `updated` stamps);
    - a new day (today and the horizon end are inputs): every plan is generated once a clinic-local day;
    - the plan's generated rows from today on, summed up as (count, highest id): a row deleted or inserted
      behind the job's back. A person's change to a row marks it edited, which generation leaves alone anyway;
    - a plan with a visit left out for lack of room keeps no fingerprint: the next run tries again (the room
      other plans leave is the one thing outside a plan's inputs that changes its rows).
    Inputs are read before the visits are written and the fingerprint is written after, so a change made
    meanwhile leaves a fingerprint that no longer matches: the next run generates again (never the reverse).
    """

    def __init__(self) -> None:
        self._clinics: dict[int, str] = {}
        self._keys: dict[int, str] = {}

    def stale(self, inputs: list[_Input]) -> list[_Input]:
        """The plans to generate: those without a fingerprint or whose fingerprint no longer matches."""
        keys = {item.plan.pk: self._inputs_key(item) for item in inputs}
        # One read a chunk whatever the fingerprints, so a run's queries do not depend on what earlier runs stored.
        rows = _rows_summary({item.plan.pk: item.today for item in inputs})
        stale = [
            item
            for item in inputs
            if not item.plan.generated_fingerprint
            or item.plan.generated_fingerprint != _hash(keys[item.plan.pk], *rows.get(item.plan.pk, (0, None)))
        ]
        # Kept until the plan's chunk is written (the next chunk is read before that, see _Chunk).
        self._keys.update((item.plan.pk, keys[item.plan.pk]) for item in stale)
        return stale

    def store(self, works: list[_Work], deleted: set[int], inserted: list[tuple[int, int]], unplaced: set[int]) -> None:
        """Fingerprint each generated plan as its rows now are (what this run kept and inserted)."""
        new: defaultdict[int, list[int]] = defaultdict(list)
        for visit_id, plan_id in inserted:
            new[plan_id].append(visit_id)
        ids: list[int] = []
        prints: list[str] = []
        for work in works:
            pk = work.plan.pk
            fingerprint = ""
            if pk not in unplaced:
                rows = [visit.id for visit in work.existing.values() if visit.id not in deleted] + new[pk]
                fingerprint = _hash(self._keys[pk], len(rows), max(rows, default=None))
            if fingerprint != work.plan.generated_fingerprint:
                ids.append(pk)
                prints.append(fingerprint)
        for work in works:
            del self._keys[work.plan.pk]
        if not ids:
            return
        with connection.cursor() as cursor:
            # SKIP LOCKED: a plan locked now is being changed by someone (its fingerprint will not match anyway);
            # the job never waits on, or deadlocks with, a person's change. Not through the ORM: `updated` stays.
            cursor.execute(
                "WITH free AS (SELECT id FROM scheduler_plan WHERE id = ANY(%s) FOR NO KEY UPDATE SKIP LOCKED) "
                "UPDATE scheduler_plan AS p SET generated_fingerprint = v.fingerprint "
                "FROM unnest(%s::bigint[], %s::varchar[]) AS v(id, fingerprint), free "
                "WHERE p.id = v.id AND free.id = v.id",
                [ids, ids, prints],
            )

    def _inputs_key(self, item: _Input) -> str:
        plan, spec = item.plan, item.spec
        # PlanSpec as plain values (its pauses are frozen dataclasses of dates and text, whose repr is stable); its one
        # set, the attendance weekdays, sorted so the text is the same in every process.
        values = tuple(sorted(v) if isinstance(v, frozenset) else v for v in map(spec.__getattribute__, _SPEC_FIELDS))
        clinic = self._clinic(plan.patient.clinic, item.calendar)
        return repr(
            (FINGERPRINT_VERSION, plan.pk, plan.patient_id, clinic, item.today, item.date_from, item.date_to, values)
        )

    def _clinic(self, clinic: Clinic, calendar: engine.Calendar) -> str:
        """The clinic's part, once a run: the calendar the engine reads, the windows' booths, the rule set."""
        digest = self._clinics.get(clinic.pk)
        if digest is None:
            stations: dict[int | None, int | None] = dict(
                DosingWindow.objects.filter(clinic_id=clinic.pk).values_list("id", "stations")
            )
            windows = sorted(
                (
                    w.id or 0,
                    sorted(w.weekdays),
                    str(w.start),
                    str(w.end),
                    sorted(w.services),
                    w.capacity,
                    stations.get(w.id),
                )
                for w in calendar.windows
            )
            closures = sorted((str(c.date), sorted(c.services), c.reason) for c in calendar.closures)
            if clinic.rule_set_id is None:
                rules: Any = [DEFAULT_PRESET, PRESETS[DEFAULT_PRESET]]
            else:
                rule_set = clinic.rule_set
                assert rule_set is not None  # noqa: S101 - rule_set_id is set
                rules = [rule_set.name, rule_set.rules]
            text = json.dumps([calendar.tz, windows, closures, rules], sort_keys=True, default=str)
            digest = self._clinics[clinic.pk] = hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
        return digest


_SPEC_FIELDS = tuple(f.name for f in dataclasses.fields(engine.PlanSpec))


def _hash(inputs_key: str, count: int, last_id: int | None) -> str:
    return hashlib.blake2b(f"{inputs_key}|{count}|{last_id}".encode(), digest_size=16).hexdigest()


def _rows_summary(today_by_plan: dict[int, date]) -> dict[int, tuple[int, int]]:
    """(count, highest id) of each plan's generated visits from its own today on (the rows _existing reads)."""
    ids = list(today_by_plan)
    with connection.cursor() as cursor:
        # LATERAL: one range of the (plan, planned_date, session) index a plan, whatever the table's statistics.
        cursor.execute(
            "SELECT p.id, s.n, s.last FROM unnest(%s::bigint[], %s::date[]) AS p(id, today) CROSS JOIN LATERAL"
            " (SELECT count(*) AS n, max(v.id) AS last FROM visits_visit AS v"
            "  WHERE v.plan_id = p.id AND v.planned_date >= p.today AND v.source = 'plan') AS s WHERE s.n > 0",
            [ids, [today_by_plan[pk] for pk in ids]],
        )
        return {plan_id: (count, last_id) for plan_id, count, last_id in cursor.fetchall()}


# --- capacity: where each visit sits --------------------------------------------------------------------

_SLOT = timedelta(minutes=engine.SESSION_MINUTES)
_WEEKDAY_ABBR = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _day_text(day: date) -> str:
    """The clinic's way of writing a date in a message: "Tue 8 Dec"."""
    return f"{_WEEKDAY_ABBR[day.weekday()]} {day.day} {day:%b}"


_SERVICE_NAMES = {value: label.split(" (")[0] for value, label in MEDICATION_CHOICES}


def _service_name(service: str) -> str:
    """Clinic words for a service inside a sentence: "diamorphine", "naltrexone XR", "counselling"."""
    name = _SERVICE_NAMES.get(service, service)
    return name[:1].lower() + name[1:]


def _interval(plan: Plan, rules: Rules) -> timedelta:
    """Diamorphine: the least elapsed time between two session starts, as the engine reckons it."""
    if plan.medication != engine.DIAMORPHINE:
        return timedelta(0)
    minutes = max(plan.min_interval_minutes, rules.diamorphine_min_interval_minutes, engine.SESSION_MINUTES)
    return timedelta(minutes=minutes)


@dataclass
class _Work:
    """One plan of a chunk: what the engine wants and what is there (filled in under the locks)."""

    plan: Plan
    today: date
    calendar: engine.Calendar
    interval: timedelta
    wanted: dict[tuple[date, int], tuple[Any, ...]]
    existing: dict[tuple[date, int], _Existing] = field(default_factory=dict)
    # Start of each session already settled (kept where it was, or a visit generation never moves).
    settled: dict[tuple[date, int], datetime | None] = field(default_factory=dict)
    pending: bool = False
    # Read once a plan, not through the plan's related descriptors for every visit placed (a tenth of placing).
    clinic_id: int = field(init=False)
    service: str = field(init=False)

    def __post_init__(self) -> None:
        self.clinic_id = self.plan.patient.clinic_id
        self.service = self.plan.medication


def _movable(visit: _Existing) -> bool:
    return visit.status == "scheduled" and not visit.edited


class _Slot(NamedTuple):
    """A window on one date, as UTC instants."""

    window_id: int
    start: datetime
    end: datetime


class _Unplaced(NamedTuple):
    plan: Plan
    day: date
    why: str


@dataclass(frozen=True)
class _WindowRoom:
    capacity: int
    booths: int  # diamorphine sessions at once
    start: time
    end: time
    services: tuple[str, ...]

    @property
    def hours(self) -> str:
        return f"{self.start:%H:%M}–{self.end:%H:%M}"


def _booths(capacity: int, stations: int | None, start: time, end: time) -> int:
    if stations:
        return stations
    minutes = (datetime.combine(date.min, end) - datetime.combine(date.min, start)) // timedelta(minutes=1)
    return max(1, math.ceil(capacity / max(minutes // engine.SESSION_MINUTES, 1)))


class _Room:
    """The places left in the chunk's windows per date: counts loaded once per chunk, kept in memory."""

    def __init__(self, windows: dict[int, _WindowRoom], date_from: date, date_to: date) -> None:
        self.windows = windows
        self.date_from, self.date_to = date_from, date_to
        self.count: defaultdict[tuple[int, date], int] = defaultdict(int)
        # Starts are only needed where booths are shared, i.e. in windows offering diamorphine.
        self.starts: defaultdict[tuple[int, date], Counter[datetime]] = defaultdict(Counter)
        self.booth_windows = {pk for pk, window in windows.items() if engine.DIAMORPHINE in window.services}
        self._slots: dict[tuple[int, date, str], tuple[_Slot, ...]] = {}
        # The same answers by (clinic, service), then date: _place_doses looks up once a plan, not once a visit.
        self._slots_by_day: dict[tuple[int, str], dict[date, tuple[_Slot, ...]]] = {}

    @classmethod
    def load(cls, works: list[_Work], date_from: date, date_to: date, *, lock_patients: bool = True) -> _Room:
        """`lock_patients` False: the caller holds the patients' locks already (_ClinicHold)."""
        clinic_ids = sorted({w.plan.patient.clinic_id for w in works})
        # Booking locks the patient, then the windows; so does this (FOR KEY SHARE: other readers and
        # plain updates of patients go on), so the two never wait on each other in a circle.
        if lock_patients:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT id FROM scheduler_patient WHERE id = ANY(%s) ORDER BY id FOR KEY SHARE",
                    [sorted({w.plan.patient_id for w in works})],
                )
        rows = (
            DosingWindow.objects.select_for_update()
            .filter(clinic_id__in=clinic_ids)
            .order_by("id")
            .values_list("id", "capacity", "stations", "start", "end", "services")
        )
        windows = {
            pk: _WindowRoom(capacity, _booths(capacity, stations, start, end), start, end, tuple(services))
            for pk, capacity, stations, start, end, services in rows
        }
        room = cls(windows, date_from, date_to)
        for booking in window_bookings(list(windows), date_from, date_to):
            room.add(booking.window_id, booking.date, booking.start, booking.visits)
        return room

    def add(self, window_id: int, day: date, start: datetime | None, n: int = 1) -> None:
        self.count[(window_id, day)] += n
        if start is not None and window_id in self.booth_windows:
            self.starts[(window_id, day)][start] += n

    def release(self, works: list[_Work]) -> None:
        """Take out the visits this chunk may move: each is counted again where it ends up."""
        for work in works:
            for visit in work.existing.values():
                _kind, day, start, _end, window_id = visit.values[:5]
                if window_id in self.windows and self.date_from <= day <= self.date_to and _movable(visit):
                    self.add(window_id, day, start, -1)

    # --- spots ---------------------------------------------------------------------------------------

    def slots(self, work: _Work, day: date) -> tuple[_Slot, ...]:
        """The windows offering the plan's service on `day`, by start; closures and DST gaps left out."""
        key = (work.clinic_id, day, work.service)
        found = self._slots.get(key)
        if found is None:
            calendar, spans = work.calendar, []
            for window in calendar.windows_for(day, work.service):
                if window.id not in self.windows:
                    continue  # deleted since the calendar was read
                try:
                    start, end = utc_instant(day, window.start, calendar.tz), utc_instant(day, window.end, calendar.tz)
                except NonexistentLocalTime:
                    continue
                spans.append(_Slot(window.id, start, end))
            found = self._slots[key] = tuple(spans)
        return found

    def has_room(self, window_id: int, day: date) -> bool:
        return self.count[(window_id, day)] < self.windows[window_id].capacity

    def booth_free(self, window_id: int, day: date, start: datetime) -> bool:
        """A session from `start` overlaps every visit that starts less than 30 minutes before or after it."""
        starts = self.starts.get((window_id, day))
        if not starts:
            return True
        busy = sum(n for at, n in starts.items() if start - _SLOT < at < start + _SLOT)
        return busy < self.windows[window_id].booths

    def keep(self, work: _Work, day: date, values: tuple[Any, ...], after: datetime | None) -> _Slot | None:
        """The visit's current spot if it is still valid and has room (then taken), else None."""
        start, end, window_id = values[2], values[3], values[4]
        if window_id is None or start is None:
            return None
        for slot in self.slots(work, day):
            if slot.window_id != window_id:
                continue
            if end != slot.end or not self.has_room(window_id, day):
                return None
            if work.interval:
                offset = start - slot.start
                if offset < timedelta(0) or offset % _SLOT or start + _SLOT > slot.end:
                    return None
                if (after is not None and start < after + work.interval) or not self.booth_free(window_id, day, start):
                    return None
            elif start != slot.start:
                return None
            self.add(window_id, day, start)
            return _Slot(window_id, start, end)
        return None

    def find(self, work: _Work, day: date, planned: int | None, after: datetime | None) -> _Slot | str:
        """A spot for a new or moved visit (then taken), or why there is none."""
        slots = self.slots(work, day)
        if work.interval:
            return self._session(work, day, slots, after)
        if not slots or slots[0].window_id == planned:
            order = slots  # the common case, no new tuple: the engine chose the day's first window
        else:
            first = next((i for i, slot in enumerate(slots) if slot.window_id == planned), 0)
            order = slots[first:] + slots[:first]
        count, windows = self.count, self.windows
        for slot in order:
            key = (slot.window_id, day)
            if count[key] < windows[slot.window_id].capacity:
                # self.add inlined: this runs once for every visit of a first run.
                count[key] += 1
                if slot.window_id in self.booth_windows:
                    self.starts[key][slot.start] += 1
                return slot
        return self._full(work, day, slots)

    def _session(self, work: _Work, day: date, slots: tuple[_Slot, ...], after: datetime | None) -> _Slot | str:
        earliest = after + work.interval if after is not None else None
        tried: list[_Slot] = []
        for slot in slots:
            at = slot.start
            if earliest is not None and earliest > at:
                at += math.ceil((earliest - at) / _SLOT) * _SLOT
            if at + _SLOT > slot.end:
                continue
            tried.append(slot)
            if not self.has_room(slot.window_id, day):
                continue
            while at + _SLOT <= slot.end:
                if self.booth_free(slot.window_id, day, at):
                    self.add(slot.window_id, day, at)
                    return _Slot(slot.window_id, at, slot.end)
                at += _SLOT
        if not tried:
            # An earlier session of the day was pushed so late that no slot is left after it: say which
            # windows pushed it (the full ones) along with the interval.
            minutes = int(work.interval.total_seconds() // 60)
            when = f" at {after.astimezone(zone(work.calendar.tz)):%H:%M}" if after else ""
            full = [self._describe(work, day, slot) for slot in slots if not self.has_room(slot.window_id, day)]
            because = f", as {' and '.join(full)}" if full else ""
            return (
                f"no {_service_name(work.plan.medication)} booth slot on {_day_text(day)} at least {minutes} minutes "
                "after "
                f"the session{when}{because}"
            )
        return "; ".join(self._describe(work, day, slot) for slot in tried)

    def _full(self, work: _Work, day: date, slots: tuple[_Slot, ...]) -> str:
        if not slots:
            return f"no window offers {_service_name(work.plan.medication)} on {_day_text(day)}"
        return "; ".join(self._describe(work, day, slot) for slot in slots)

    def _describe(self, work: _Work, day: date, slot: _Slot) -> str:
        window = self.windows[slot.window_id]
        used = self.count[(slot.window_id, day)]
        name = f"the {window.hours} {_service_name(work.plan.medication)} window on {_day_text(day)}"
        if used >= window.capacity:
            return f"{name} is full ({used} of {window.capacity})"
        return (
            f"every booth of {name} is taken at the times the plan's interval allows "
            f"({window.booths} at once, {used} of {window.capacity} visits)"
        )

    # --- the chunk -----------------------------------------------------------------------------------

    def place(self, works: list[_Work], refuse: Refusal | None) -> list[_Unplaced]:
        """Keep what may stay, then place the rest plan by plan, date by date, session by session."""
        for work in works:
            self._keep_all(work)
        unplaced: list[_Unplaced] = []
        for work in works:
            if work.pending:
                unplaced += self._place_pending(work, refuse)
        return unplaced

    def _keep_all(self, work: _Work) -> None:
        if not work.existing:  # a first run: nothing to keep, every wanted visit is placed (the loop's outcome)
            work.pending = bool(work.wanted)
            return
        day: date | None = None
        after: datetime | None = None
        blocked = False
        for key, values in work.wanted.items():
            if key[0] != day:
                day, after, blocked = key[0], None, False
            old = work.existing.get(key)
            if old is not None and not _movable(old):
                # Attended, missed or moved by staff: reconciliation leaves it, the room counts it already.
                work.settled[key] = old.values[2]
                after = _later(after, old.values[2])
                continue
            if not blocked and old is not None:
                spot = self.keep(work, key[0], old.values, after)
                if spot is not None:
                    work.wanted[key] = _at(values, spot)
                    work.settled[key] = after = spot.start
                    continue
            blocked = True  # later sessions that day are placed after this one
            work.pending = True

    def _place_pending(self, work: _Work, refuse: Refusal | None) -> list[_Unplaced]:
        if not work.interval:
            return self._place_doses(work, refuse)
        return self._place_each(work, refuse)

    def _place_each(self, work: _Work, refuse: Refusal | None) -> list[_Unplaced]:
        unplaced: list[_Unplaced] = []
        day: date | None = None
        after: datetime | None = None
        why: str | None = None
        for key, values in list(work.wanted.items()):
            if key[0] != day:
                day, after, why = key[0], None, None
            if key in work.settled:
                after = _later(after, work.settled[key])
                continue
            spot = why if why is not None else self.find(work, key[0], values[4], after)
            if isinstance(spot, _Slot):
                work.wanted[key] = _at(values, spot)
                after = spot.start
                continue
            why = spot  # the day's later sessions would come after this one: no room for them either
            unplaced.append(self._leave_out(work, key, why, refuse))
        return unplaced

    def _place_doses(self, work: _Work, refuse: Refusal | None) -> list[_Unplaced]:
        """_place_each for a plan without a booth interval, with find() inlined: it runs for every visit of a day's
        first run (115,000 in the bench), where the calls and the spot tuples were half of placing (issue #16).
        Without an interval the previous session's start does not matter; the rest is find() as it stands."""
        unplaced: list[_Unplaced] = []
        count, windows, booth_windows, wanted = self.count, self.windows, self.booth_windows, work.wanted
        by_day = self._slots_by_day.setdefault((work.clinic_id, work.service), {})
        day: date | None = None
        why: str | None = None
        for key, values in list(wanted.items()):
            if key[0] != day:
                day, why = key[0], None
            if key in work.settled:
                continue
            if why is None:
                slots = by_day.get(day)
                if slots is None:
                    slots = by_day[day] = self.slots(work, day)
                planned = values[4]
                if slots and slots[0].window_id != planned:
                    first = next((i for i, slot in enumerate(slots) if slot.window_id == planned), 0)
                    slots = slots[first:] + slots[:first]
                for slot in slots:
                    at = (slot.window_id, day)
                    if count[at] < windows[slot.window_id].capacity:
                        count[at] += 1
                        if slot.window_id in booth_windows:
                            self.starts[at][slot.start] += 1
                        if values[2] != slot.start or values[3] != slot.end or planned != slot.window_id:
                            wanted[key] = (*values[:2], slot.start, slot.end, slot.window_id, *values[5:])
                        break
                else:
                    why = self._full(work, day, self.slots(work, day))  # by start, as find() says it
            if why is not None:
                unplaced.append(self._leave_out(work, key, why, refuse))
        return unplaced

    def _leave_out(self, work: _Work, key: tuple[date, int], why: str, refuse: Refusal | None) -> _Unplaced:
        """A visit without room: refused (a person's change), or left out by the rolling job."""
        if refuse == "plan":
            raise StateConflict(f"No room for this plan: {why}.")
        if refuse == "calendar":
            raise StateConflict(
                f"No room after this change for the visits of plan #{work.plan.pk} "
                f"(MRN {work.plan.patient.mrn}): {why}."
            )
        # The rolling job leaves it out: never created, or (a window shrunk behind generation's back)
        # removed by reconciliation like any visit the engine no longer wants; staff are told.
        del work.wanted[key]
        return _Unplaced(work.plan, key[0], why)


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None or b is None:
        return a or b
    return max(a, b)


def _at(values: tuple[Any, ...], spot: _Slot) -> tuple[Any, ...]:
    """COMPARED_FIELDS values with the spot's start, end and window (the same tuple when nothing moved)."""
    if values[2] == spot.start and values[3] == spot.end and values[4] == spot.window_id:
        return values
    return (*values[:2], spot.start, spot.end, spot.window_id, *values[5:])


def _report_unplaced(unplaced: list[_Unplaced]) -> None:
    """The rolling job's visits without room: a warning per clinic (ids, no names), a task per patient."""
    by_patient: dict[int, list[_Unplaced]] = defaultdict(list)
    by_clinic: Counter[int] = Counter()
    for item in unplaced:
        by_patient[item.plan.patient_id].append(item)
        by_clinic[item.plan.patient.clinic_id] += 1
    for clinic_id, n in sorted(by_clinic.items()):
        first = next(u for u in unplaced if u.plan.patient.clinic_id == clinic_id)
        logger.warning(
            "generate_visits: clinic %s: %d visits left out, no room (first: plan %s on %s)",
            clinic_id,
            n,
            first.plan.pk,
            first.day.isoformat(),
        )
    already = set(
        StaffTask.objects.filter(
            kind="unplaced_visit", done_at__isnull=True, patient_id__in=list(by_patient)
        ).values_list("patient_id", flat=True)
    )
    tasks = []
    for patient_id, items in by_patient.items():
        if patient_id in already:
            continue
        plan = items[0].plan
        count = f"{len(items)} visit{'s' if len(items) != 1 else ''}"
        tasks.append(
            StaffTask(
                clinic_id=plan.patient.clinic_id,
                patient_id=patient_id,
                kind="unplaced_visit",
                detail=(
                    f"No room for {count} of the {_service_name(plan.medication)} plan (#{plan.pk}), first "
                    f"{_day_text(items[0].day)}: "
                    f"{items[0].why}. Raise the window's capacity, add a window or book the visits by hand; "
                    "the hourly run places them as soon as there is room."
                ),
            )
        )
    StaffTask.objects.bulk_create(tasks)


def _insert_new(rows: list[tuple[Any, ...]]) -> list[int]:
    """The ids of the rows inserted (see _insert_new_rows)."""
    return [visit_id for visit_id, _plan_id in _insert_new_rows(rows)]


def _insert_new_rows(rows: list[tuple[Any, ...]]) -> list[tuple[int, int]]:
    """Insert the new rows and return (id, plan_id) of those this call inserted, a row whose slot is taken skipped.

    Same effect as bulk_create(ignore_conflicts=True) — a slot another worker filled meanwhile is skipped
    by the unique constraint — but the ids of the rows *this* run inserted come back (exact under
    concurrency, no look-up query), and there is no per-row SQL to compile: bulk_create spent most of a
    first run building its statement (about 10× a COPY).

    The rows are sent as COPY text built here (see _CopyText) in a few large writes: psycopg's write_row, one call
    and one conversion per value, was about a fifth of a full run. First straight into the table, under a
    savepoint, with ids drawn from the table's sequence beforehand (so COPY needs no RETURNING): the bench's
    baseline operation itself. A conflict is rare — the window locks serialise a clinic's generations, and what is
    already there was read under them — but when a row meets one, nothing of the COPY is left and the rows go
    in as before, through a temporary table and INSERT … ON CONFLICT DO NOTHING RETURNING: the same rows either
    way. Measured on the bench's 115,000 rows, commit included: the COPY 3.3–4.9 s, the INSERT … ON CONFLICT
    4.3–5.7 s (its speculative insertion, row by row) at load 2–3.
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
    # Names and types come from the model, never from input.
    with connection.cursor() as cursor:
        try:
            with transaction.atomic(savepoint=True), connection.wrap_database_errors:
                return _copy_rows(cursor, rows, columns, constant_fields, params)
        except IntegrityError as error:
            if not isinstance(error.__cause__, UniqueViolation):
                raise
        cursor.execute(
            f"CREATE TEMPORARY TABLE new_visits ON COMMIT DROP AS SELECT {new_columns} FROM {table} WITH NO DATA"  # noqa: S608
        )
        texts = _CopyText()
        with cursor.cursor.copy(f"COPY new_visits ({new_columns}) FROM STDIN") as copy:
            for start in range(0, len(rows), _COPY_BLOCK):
                block = rows[start : start + _COPY_BLOCK]
                copy.write("".join(["\t".join(map(texts.__getitem__, row)) + "\n" for row in block]))
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {new_columns}, {constants} FROM new_visits"  # noqa: S608
            " ON CONFLICT DO NOTHING RETURNING id, plan_id",
            params,
        )
        ids = [(visit_id, plan_id) for visit_id, plan_id in cursor.fetchall()]
        # Dropped now, not only at commit: an outer transaction (a test, a caller's atomic) may run more chunks.
        cursor.execute("DROP TABLE new_visits")
    return ids


def _copy_rows(
    cursor: Any, rows: list[tuple[Any, ...]], columns: str, constant_fields: list[Any], params: list[Any]
) -> list[tuple[int, int]]:
    """COPY the rows straight into the table with ids drawn from its sequence; raises on any conflict."""
    table, pk = Visit._meta.db_table, connection.ops.quote_name(str(Visit._meta.pk.column))
    # One statement: the ids, and each constant column as PostgreSQL's own text for its type (valid COPY input).
    # The sequence is looked up once (a sub-select, run once as an InitPlan): pg_get_serial_sequence called inside
    # nextval() ran for every id, a catalog look-up each, 8× the cost of the ids themselves (issue #16).
    as_text = ", ".join(f"CAST(CAST(%s AS {f.db_type(connection)}) AS text)" for f in constant_fields)
    cursor.execute(
        "SELECT ARRAY(SELECT nextval((SELECT pg_get_serial_sequence(%s, 'id'))::regclass)"  # noqa: S608
        f" FROM generate_series(1, %s)), {as_text}",
        [table, len(rows), *params],
    )
    ids, *same = cursor.fetchone()
    texts = _CopyText()
    tail = "".join("\t" + texts[value] for value in same) + "\n"
    lines = _RowLines(texts, tail)
    with cursor.cursor.copy(f"COPY {table} ({pk}, {columns}) FROM STDIN") as copy:
        for start in range(0, len(rows), _COPY_BLOCK):
            copy.write(lines.block(ids[start : start + _COPY_BLOCK], rows[start : start + _COPY_BLOCK]))
    plan_at = NEW_COLUMNS.index("plan_id")
    return [(visit_id, row[plan_at]) for visit_id, row in zip(ids, rows, strict=True)]


_COPY_BLOCK = 5000  # rows a copy.write() call
_HEAD = 3  # NEW_COLUMNS' patient_id, clinic_id, plan_id: the same for all of a plan's rows


class _RowLines:
    """COPY text lines of NEW_COLUMNS rows, each after its id and followed by the constant columns' `tail`.

    A row's text is its head (the plan's columns) and its rest (the visit's), each looked up whole: a plan's rows
    share a head, and the same visit values (date, session, window, reason…) repeat across a clinic's plans. Joining
    fifteen value texts for every row was most of the COPY text's cost (issue #16). The text of a part is the one
    _CopyText gives value by value, so every line is the same as before.
    """

    def __init__(self, texts: _CopyText, tail: str) -> None:
        self.texts, self.tail = texts, tail
        self.heads: dict[tuple[Any, ...], str] = {}
        self.rests: dict[tuple[Any, ...], str] = {}

    def block(self, ids: list[int], rows: list[tuple[Any, ...]]) -> str:
        heads, rests, text = self.heads, self.rests, self.texts.__getitem__
        lines: list[str] = []
        for visit_id, row in zip(ids, rows, strict=True):
            head, rest = row[:_HEAD], row[_HEAD:]
            head_text = heads.get(head)
            if head_text is None:
                head_text = heads[head] = "\t".join(map(text, head))
            rest_text = rests.get(rest)
            if rest_text is None:
                rest_text = rests[rest] = "\t".join(map(text, rest)) + self.tail
            lines.append(f"{visit_id}\t{head_text}\t{rest_text}")
        return "".join(lines)


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


def _chunks(plans: Iterable[Plan], size: int, *, by_clinic: bool = False) -> Iterator[list[Plan]]:
    """Runs of `size` plans; `by_clinic`: a chunk also ends where the clinic changes (plans come by clinic)."""
    chunk: list[Plan] = []
    for plan in plans:
        if by_clinic and chunk and plan.patient.clinic_id != chunk[0].patient.clinic_id:
            yield chunk
            chunk = []
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
    if result.unplaced:
        summary["unplaced"] = result.unplaced
    log_clinic_job(what, dict.fromkeys(clinics, summary))


# The columns the rolling job reads of its plans and their patients (scheduler.selectors.plan_spec, placing, the
# fingerprints, the staff tasks): building the bench's 5,000 plans and patients from every column (names, phones,
# consents, review notes, timestamps) took 0.14 s of CPU, 0.08 s from these (issue #16). Any other field still loads
# when read (one query each), so this can only cost time, never give a wrong value; the job's query count is the same.
_ROLLING_PLAN_FIELDS = (
    "patient",
    *PLAN_SPEC_FIELDS,
    "status",
    "takehome_approved",
    "takehome_suspended_on",
    "generated_fingerprint",
    "patient__clinic",
    "patient__mrn",
)


def visits_generate(
    *,
    horizon_days: int | None = None,
    clinic_ids: Iterable[int] | None = None,
    plans: Iterable[Plan] | None = None,
    today: date | None = None,
    progress: Callable[[int], None] | None = None,
    refuse: Refusal | None = None,
) -> GenerationResult:
    """Generate (or regenerate) visits for active plans over the horizon. Safe to run twice.

    `refuse`: raise StateConflict when a visit finds no room ("plan" or "calendar" says what changed);
    None (the rolling job): leave it out and tell staff.
    """
    horizon = horizon_days or settings.GENERATION_HORIZON_DAYS
    calendars = ClinicCalendars()
    shapes = _Shapes()
    # Only the rolling job skips unchanged plans: a caller naming plans has just changed something.
    fingerprints = _Fingerprints() if plans is None else None
    result = GenerationResult()
    clinics: set[int] = set()
    loaded: dict[int, Clinic] = {}
    if plans is not None:
        source = plans
    else:
        # Plans with their patients only: each clinic and its rule set is loaded once (_share_clinics), not
        # built again, rule set JSON and all, from every plan row (a third of a second for 5,000 plans).
        # A clinic's plans together: a chunk locks and counts the windows of its plans' clinics, so chunks by plan
        # id alone (a chain's plans interleave as clinics enrol patients) would each lock and read every clinic's.
        source = (
            active_plans(clinic_ids=clinic_ids)
            .select_related(None)
            .select_related("patient")
            .only(*_ROLLING_PLAN_FIELDS)
            .order_by("patient__clinic_id", "id")
            .iterator(chunk_size=PLAN_CHUNK)
        )
    # The rolling job simulates the next chunk while this one is written (_Chunk), and writes a clinic's chunks in
    # one transaction under its locks (_ClinicHold); a caller naming plans does neither.
    rolling = plans is None
    with (
        ThreadPoolExecutor(1, thread_name_prefix="generation-engine") if rolling else nullcontext() as thread,
        _ClinicHold(horizon) if rolling else nullcontext() as hold,
    ):

        def write(chunk: _Chunk, size: int) -> None:
            if hold is not None and chunk.inputs:
                hold.switch(chunk.inputs[0].plan.patient.clinic_id)
            result.merge(_write_chunk(chunk, refuse, fingerprints, hold))
            if progress is not None:
                progress(size)

        waiting: tuple[_Chunk, int] | None = None
        for chunk in _chunks(source, PLAN_CHUNK, by_clinic=rolling):
            if rolling:
                _share_clinics(chunk, loaded)
            active = [p for p in chunk if p.status == "active"]
            clinics.update(p.patient.clinic_id for p in chunk)
            ready = _prepare_chunk(active, calendars, horizon, today, fingerprints, thread, shapes) if active else None
            if waiting is not None:
                write(*waiting)
                waiting = None
            inactive = [p.pk for p in chunk if p.status != "active"]
            if inactive:
                result.merge(_clear_future(inactive, today))
            if ready is not None:
                waiting = (ready, len(chunk))
            elif progress is not None:
                progress(len(chunk))
        if waiting is not None:
            write(*waiting)
    _audit(result, clinics, "generate_visits")
    logger.info(
        "generate_visits: %d plans (%d unchanged, skipped), %d created, %d updated, %d deleted, "
        "%d left out for lack of room",
        result.plans,
        result.skipped,
        result.created,
        result.updated,
        result.deleted,
        result.unplaced,
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
    *, plan: Plan, today: date | None = None, horizon_days: int | None = None, refuse: bool = True
) -> GenerationResult:
    """Called at once when a plan or its pauses change: a visit without room refuses the change (409)
    unless `refuse` is False (a change no person asked for, e.g. a hold suspending take-homes)."""
    plan = Plan.objects.select_related("patient__clinic__rule_set").get(pk=plan.pk)
    return visits_generate(plans=[plan], today=today, horizon_days=horizon_days, refuse="plan" if refuse else None)


def clinic_visits_regenerate(*, clinic: Clinic, today: date | None = None, refuse: bool = True) -> GenerationResult:
    """Called at once when a clinic's windows or closures change: a visit stranded without room refuses the
    change (409) unless `refuse` is False, and so does a window left with more visits than it takes."""
    plans = active_plans(clinic_ids=[clinic.pk])
    with transaction.atomic():
        if refuse:
            _refuse_overbooked(clinic, today or _today_for(clinic))
        return visits_generate(plans=list(plans), today=today, refuse="calendar" if refuse else None)


def _refuse_overbooked(clinic: Clinic, today: date) -> None:
    """Visits generation cannot move (booked by hand, attended, moved by staff) that no longer fit their window
    from today on: the change that shrank the window is refused."""
    windows = {w.pk: w for w in DosingWindow.objects.filter(clinic=clinic)}
    stuck: Counter[tuple[date, int]] = Counter()
    for booking in window_bookings(list(windows), today, date.max):
        if not booking.movable:
            stuck[(booking.date, booking.window_id)] += booking.visits
    for (day, window_id), n in sorted(stuck.items()):
        window = windows[window_id]
        if n > window.capacity:
            raise StateConflict(
                f"This change leaves the {window.start:%H:%M}–{window.end:%H:%M} "
                f"{', '.join(_service_name(service) for service in window.services)} "
                f"window on {_day_text(day)} with {n} visits booked (by hand, attended or moved by staff) for "
                f"{window.capacity} places; move or cancel some of them first."
            )
