"""Large data for benchmarks: C clinics, N patients across every program, D days of attended history.

    manage.py seed_scale --clinics 5 --patients 20000 --days 90 [--future 7] [--seed 1] [--reset]
    manage.py seed_scale --scale 1m|5m|15m|chain      # a chain (500 patients a clinic, 365 days + the horizon)

Plans are materialised by the real engine, but once per *plan shape* (clinic, medication, weekdays,
start dates, doses a day), not once per patient: a clinic with 4,000 patients has a few hundred shapes.
Each patient's visits are the shape's days with that patient's own attendance drawn on top, written
with PostgreSQL COPY, so a million visits take a minute or two instead of an hour of ORM saves. Past
missed streaks leave resolved escalations (the ladder's steps, from the clinic's rules) and texts are
written as the shipped policies send them (injection reminders, check-in texts after a missed dose).

Resumable: each clinic is seeded in its own transaction (clinic, staff access, patients, plans, visits,
escalations, texts), so a clinic exists only when it is complete and is the record that it is done. A
re-run with the same options continues with the clinics that are missing; when all exist it refuses, and
`--reset` deletes them (and everything hanging off them) first.
"""

from __future__ import annotations

import math
import random
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction
from django.utils import timezone
from tqdm import tqdm

from scheduler import engine
from scheduler.models import Clinic, DosingWindow, Patient, Plan, RuleSet, StaffProfile
from scheduler.rules import DEFAULT_PRESET, PRESETS, Ladder, Rules
from scheduler.selectors import calendar_for_clinic, rules_for_clinic
from scheduler.timeutil import local_date

SCALE_PREFIX = "Scale clinic"
SCALE_PASSWORD = "dosewise-scale"
ROLES = ("front_desk", "nurse", "clinician", "manager", "admin")
ORAL = ["methadone", "buprenorphine"]
INJECTIONS = ["naltrexone_xr", "buprenorphine_xr_monthly", "buprenorphine_xr_weekly"]
OTHER = ["counselling", "assessment", "callback"]
TIMEZONES = ["America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles"]
GRACE = timedelta(minutes=60)  # the preset's missed_grace_minutes: a visit this long past its end is decided

# (weight, medication, weekday patterns with weights, doses a day)
PROGRAMS: list[tuple[float, str, list[tuple[float, list[int]]], tuple[int, ...]]] = [
    (0.60, "methadone", [(0.40, [0, 1, 2, 3, 4, 5]), (0.20, [0, 1, 2, 3, 4]), (0.25, [0, 2, 4]), (0.15, [0])], (1,)),
    (0.15, "buprenorphine", [(0.5, [0, 2, 4]), (0.3, [0, 3]), (0.2, [0])], (1,)),
    (0.05, "diamorphine", [(1.0, [])], (2, 2, 3)),
    (0.06, "naltrexone_xr", [(1.0, [])], (1,)),
    (0.08, "buprenorphine_xr_monthly", [(1.0, [])], (1,)),
    (0.06, "buprenorphine_xr_weekly", [(1.0, [])], (1,)),
]
# Days in treatment before the history starts, for patients already enrolled (0 = admitted that day).
TENURES = [0, 7, 14, 30, 60, 120, 365, 730]
NEW_ADMISSIONS = 0.15  # share of patients admitted during the history, on a weekly intake day
STREAKS = 0.04  # share of patients whose last visits are a missed streak (the sweep escalates them)
# Outcome of a decided visit for everyone else; streaks pull the overall completion to ≈88%.
OUTCOMES = [(0.885, "completed"), (0.075, "missed"), (0.02, "excused"), (0.02, "cancelled")]
# Issue #16: a chain's presets — clinics of 500 patients with a year of history and the generation horizon ahead.
# The chain grows by clinics, so a clinic's own pages read the same rows at every size while the tables grow.
# Measured: ≈ 94,700 visits a clinic (2 clinics, 1,000 patients, 365 + 28 days: 189,316 visits; 0.48 visits a
# patient-day), so 1m/5m/15m are 11/53/158 clinics; `chain` is the 100 clinics and 50,000 patients (≈ 9.5M).
CHAIN_PATIENTS_PER_CLINIC = 500
CHAIN_DAYS = 365
SCALES: dict[str, int] = {"1m": 11, "5m": 53, "15m": 158, "chain": 100}  # clinics

FIRST = [
    "Ana",
    "Ben",
    "Carla",
    "Dev",
    "Elena",
    "Femi",
    "Grace",
    "Hugo",
    "Iris",
    "Jamal",
    "Kira",
    "Luis",
    "Maya",
    "Nate",
    "Olga",
    "Pedro",
    "Quinn",
    "Rosa",
    "Sam",
    "Tara",
    "Uma",
    "Victor",
    "Wen",
    "Yusuf",
]
LAST = [
    "Alvarez",
    "Brooks",
    "Chen",
    "Diaz",
    "Evans",
    "Foster",
    "Garcia",
    "Hughes",
    "Ibrahim",
    "Jones",
    "Kowalski",
    "Lopez",
    "Murphy",
    "Nguyen",
    "Okafor",
    "Patel",
    "Quinn",
    "Reyes",
    "Smith",
    "Tanaka",
]

VISIT_COLUMNS = (
    "patient_id",
    "clinic_id",
    "plan_id",
    "kind",
    "date",
    "start",
    "end",
    "window_id",
    "status",
    "source",
    "planned_date",
    "session",
    "edited",
    "reason",
    "expected_take_home_doses",
    "target_date",
    "earliest",
    "latest",
    "take_home_doses",
    "covered_through",
    "checked_in_at",
    "completed_at",
    "bottles_returned",
    "bottles_note",
    "status_reason",
    "missed_at",
    "created",
    "updated",
)

QUOTED_COLUMNS = ", ".join(f'"{name}"' for name in VISIT_COLUMNS)  # "end" is a reserved word


@dataclass(frozen=True)
class WindowSpec:
    weekdays: list[int]
    start: time
    end: time
    services: list[str]
    share: float  # capacity as a share of the clinic's patients (fit_windows raises it to what they need)


WINDOWS = [
    # seed_demo's windows, with capacity scaled to the clinic, and a midday diamorphine session so
    # three-a-day diamorphine plans (180 min apart) fit: 08:00, 12:00, 16:00. The engine puts every oral
    # dose in the day's first window, so that one takes all the clinic's patients (bench clinics are all
    # daily methadone); diamorphine windows get booths for every session (visits.generation).
    WindowSpec([0, 1, 2, 3, 4], time(6), time(10), ORAL, 1.0),
    WindowSpec([0, 1, 2, 3, 4], time(13), time(15), ORAL, 0.30),
    WindowSpec([5], time(8), time(10, 30), ORAL, 1.0),
    WindowSpec([0, 1, 2, 3, 4, 5, 6], time(8), time(10), ["diamorphine"], 0.08),
    WindowSpec([0, 1, 2, 3, 4, 5, 6], time(12), time(14), ["diamorphine"], 0.08),
    WindowSpec([0, 1, 2, 3, 4, 5, 6], time(16), time(18), ["diamorphine"], 0.08),
    WindowSpec([0, 1, 2, 3, 4], time(10, 30), time(12, 30), INJECTIONS + OTHER, 0.12),
]


@dataclass(frozen=True)
class Shape:
    """Everything the engine's answer depends on: patients with the same shape get the same days."""

    clinic_id: int
    medication: str
    weekdays: tuple[int, ...]
    start_date: date
    treatment_start: date
    doses_per_day: int


def _pick(rng: random.Random, weighted: list[tuple[float, Any]]) -> Any:
    x, acc = rng.random(), 0.0
    for weight, value in weighted:
        acc += weight
        if x < acc:
            return value
    return weighted[-1][1]


class Command(BaseCommand):
    help = "Create C scale clinics with N patients and D days of history (COPY; refuses if they exist)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--scale",
            choices=sorted(SCALES),
            help=(
                "A chain preset: about 1m, 5m or 15m visits (11, 53 or 158 clinics of "
                f"{CHAIN_PATIENTS_PER_CLINIC} patients), or chain (100 clinics, 50,000 patients); each with "
                f"{CHAIN_DAYS} days of history and the generation horizon ahead. Explicit "
                "--clinics/--patients/--days/--future override it."
            ),
        )
        parser.add_argument("--clinics", type=int, default=None, help="Default 5.")
        parser.add_argument("--patients", type=int, default=None, help="Patients in total, spread over clinics.")
        parser.add_argument("--days", type=int, default=None, help="Days of history before today (default 90).")
        parser.add_argument("--future", type=int, default=None, help="Days of scheduled visits from today on.")
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--reset", action="store_true", help="Delete the scale clinics and their data first.")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        clinics, patients, days, future = _sizes(options)
        if clinics < 1 or patients < clinics or days < 0 or future < 0:
            raise CommandError("Give --clinics ≥ 1, --patients ≥ --clinics, --days ≥ 0 and --future ≥ 0.")
        existing = Clinic.objects.filter(name__startswith=SCALE_PREFIX)
        if options["reset"] and existing.exists():
            removed = scale_reset()
            self.stdout.write(f"Deleted {removed} scale clinic(s) and their data.")
        done = done_indexes(SCALE_PREFIX)
        if done:
            others = existing.count() - len(done & set(range(clinics)))
            if others:
                raise CommandError(
                    f"{others} scale clinic(s) do not belong to a run of {clinics} clinics; "
                    "run with --reset to delete them and reseed."
                )
            if len(done) >= clinics:
                raise CommandError(
                    f"{existing.count()} scale clinic(s) exist already; run with --reset to delete them and reseed."
                )
            self.stdout.write(f"Resuming: {len(done)} of {clinics} clinics are seeded already; seeding the rest.")
        self.progress = not options["no_progress"] and sys.stdout.isatty()
        rng = random.Random(options["seed"])
        started = timezone.now()
        made = seed(
            clinics=clinics,
            patients=patients,
            days=days,
            future=future,
            rng=rng,
            now=started,
            progress=self.progress,
            skip=done,
        )
        seconds = (timezone.now() - started).total_seconds()
        rate = f" ({seconds / made['visits'] * 100_000:.1f} s per 100,000 visits)" if made["visits"] else ""
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {made['clinics']} clinics, {made['patients']} patients, {made['plans']} plans, "
                f"{made['visits']} visits, {made['escalations']} escalations, {made['messages']} texts "
                f"in {seconds:.1f} s{rate}."
            )
        )
        self.stdout.write(f"Staff logins scale_<role> (password {SCALE_PASSWORD}) see every scale clinic.")


def _sizes(options: dict[str, Any]) -> tuple[int, int, int, int]:
    """(clinics, patients, days, future) from --scale and the explicit options (which win)."""
    if options.get("scale"):
        n = SCALES[options["scale"]]
        preset = (n, n * CHAIN_PATIENTS_PER_CLINIC, CHAIN_DAYS, settings.GENERATION_HORIZON_DAYS)
    else:
        preset = (5, 20000, 90, 7)
    names = ("clinics", "patients", "days", "future")
    values = [options.get(name) for name in names]
    return cast(
        tuple[int, int, int, int], tuple(v if v is not None else d for v, d in zip(values, preset, strict=True))
    )


def done_indexes(prefix: str = SCALE_PREFIX) -> set[int]:
    """Indexes (0-based) of the clinics a run has completed: each is created in its clinic's one transaction."""
    done = set()
    for name in Clinic.objects.filter(name__startswith=f"{prefix} ").values_list("name", flat=True):
        tail = name[len(prefix) + 1 :]
        if tail.isdigit():
            done.add(int(tail) - 1)
    return done


# --- reset ---------------------------------------------------------------------------------------------


def scale_reset() -> int:
    """Delete the scale clinics with everything that points at them."""
    return clinics_purge(list(Clinic.objects.filter(name__startswith=SCALE_PREFIX).values_list("id", flat=True)))


def clinics_purge(ids: list[int]) -> int:
    """Delete clinics and every row that points at them (raw SQL: PROTECT FKs, millions of rows)."""
    if not ids:
        return 0
    patients = "SELECT id FROM scheduler_patient WHERE clinic_id = ANY(%(ids)s)"
    statements = [
        "DELETE FROM notifications_inboundmessage WHERE clinic_id = ANY(%(ids)s)",
        "DELETE FROM notifications_inboundmessage WHERE patient_id IN (" + patients + ")",  # noqa: S608
        "DELETE FROM notifications_message WHERE patient_id IN (" + patients + ")",  # noqa: S608
        "DELETE FROM visits_escalation WHERE clinic_id = ANY(%(ids)s)",
        "DELETE FROM visits_stafftask WHERE clinic_id = ANY(%(ids)s)",
        "DELETE FROM visits_visit WHERE clinic_id = ANY(%(ids)s)",
        "DELETE FROM scheduler_pause USING scheduler_plan p, scheduler_patient pt"
        " WHERE plan_id = p.id AND p.patient_id = pt.id AND pt.clinic_id = ANY(%(ids)s)",
        "DELETE FROM scheduler_plan WHERE patient_id IN (" + patients + ")",  # noqa: S608
        "DELETE FROM scheduler_patient WHERE clinic_id = ANY(%(ids)s)",
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql, {"ids": ids})
        rule_sets = list(Clinic.objects.filter(id__in=ids).values_list("rule_set_id", flat=True))
        Clinic.objects.filter(id__in=ids).delete()  # windows, closures, templates, policies cascade
        RuleSet.objects.filter(id__in=[r for r in rule_sets if r is not None], is_preset=False).delete()
    return len(ids)


# --- seeding -------------------------------------------------------------------------------------------


def seed(
    *,
    clinics: int,
    patients: int,
    days: int,
    future: int,
    rng: random.Random,
    now: datetime,
    progress: bool = False,
    prefix: str = SCALE_PREFIX,
    skip: set[int] | frozenset[int] = frozenset(),
) -> dict[str, int]:
    """Create the scale data; returns row counts. Usable from benchmarks without the command.

    One transaction per clinic (a failure leaves no half-seeded clinic behind, and the clinics already
    committed stay: a re-run passes their indexes as `skip`). Each clinic draws from its own generator,
    derived from `rng`, so a resumed run seeds the missing clinics as a single run would have."""
    made = {"clinics": 0, "patients": 0, "plans": 0, "visits": 0, "escalations": 0, "messages": 0}
    per_clinic = [patients // clinics + (1 if i < patients % clinics else 0) for i in range(clinics)]
    base = rng.randrange(2**32)
    todo = [i for i in range(clinics) if i not in skip]
    bar = tqdm(total=sum(per_clinic[i] for i in todo), unit="patient", disable=not progress, file=sys.stdout)
    for index in todo:
        with transaction.atomic():
            counts = _seed_clinic(
                index=index,
                size=per_clinic[index],
                days=days,
                future=future,
                rng=random.Random(base + index),
                now=now,
                prefix=prefix,
                bar=bar,
            )
        for key, value in counts.items():
            made[key] += value
        bar.set_postfix(visits=made["visits"], refresh=False)
    bar.close()
    with connection.cursor() as cursor:
        for table in (
            "visits_visit",
            "scheduler_patient",
            "scheduler_plan",
            "visits_escalation",
            "notifications_message",
        ):
            cursor.execute(f"ANALYZE {table}")
    return made


def _seed_clinic(
    *, index: int, size: int, days: int, future: int, rng: random.Random, now: datetime, prefix: str, bar: tqdm
) -> dict[str, int]:
    clinic = clinic_create(name=f"{prefix} {index + 1}", index=index, size=size, now=now)
    _staff([clinic])
    plans = _patients_and_plans(clinic, size, days, now, rng)
    fit_windows(clinic, plans)
    visits, streaks = _visits(clinic, plans, days, future, now, rng, bar)
    return {
        "clinics": 1,
        "patients": size,
        "plans": len(plans),
        "visits": visits,
        "escalations": _escalations(clinic, plans, streaks, now),
        "messages": _messages(clinic, now),
    }


def clinic_create(*, name: str, index: int, size: int, now: datetime) -> Clinic:
    """A clinic with seed_demo's windows (capacity scaled to `size` patients) and three years of holidays."""
    tz = TIMEZONES[index % len(TIMEZONES)]
    rules = RuleSet.objects.create(name=f"{DEFAULT_PRESET} ({name})", rules=dict(PRESETS[DEFAULT_PRESET]))
    clinic = Clinic.objects.create(
        name=name,
        timezone=tz,
        phone=f"+1212555{index % 10000:04d}",
        sms_name=f"Health Center {index + 1}",
        country="US",
        subdivision="NY",
        rule_set=rules,
    )
    windows = []
    for w in WINDOWS:
        capacity = max(10, math.ceil(size * w.share))
        stations = math.ceil(capacity / _slots(w.start, w.end)) if "diamorphine" in w.services else None
        windows.append(
            DosingWindow(
                clinic=clinic,
                weekdays=w.weekdays,
                start=w.start,
                end=w.end,
                services=w.services,
                capacity=capacity,
                stations=stations,
                minutes_per_visit=engine.SESSION_MINUTES if stations else None,
            )
        )
    DosingWindow.objects.bulk_create(windows)
    from scheduler.services import holidays_import

    for year in range(now.year - 1, now.year + 2):
        holidays_import(clinic=clinic, year=year, services=ORAL)
    return clinic


def _slots(start: time, end: time) -> int:
    """30-minute diamorphine booth slots in a window (engine.SESSION_MINUTES, as visits.generation counts them)."""
    minutes = (datetime.combine(date.min, end) - datetime.combine(date.min, start)) // timedelta(minutes=1)
    return max(minutes // engine.SESSION_MINUTES, 1)


def fit_windows(clinic: Clinic, plans: list[Plan]) -> None:
    """Size the clinic's windows for its patients, so that neither these rows nor a later generation is ever
    over a window's capacity or refused: every window takes every patient who may need it on one date (an upper
    bound), and a diamorphine window has booths for all its sessions in its 30-minute slots (each diamorphine
    patient has at most one session a window: the windows are 4 h apart, the plans' interval 3 h)."""
    need = Counter(plan.medication for plan in plans)
    for window in DosingWindow.objects.filter(clinic=clinic).order_by("id"):
        changed = []
        wanted = sum(need[service] for service in window.services)
        if wanted > window.capacity:
            window.capacity = wanted
            changed.append("capacity")
        if "diamorphine" in window.services:
            stations = max(window.stations or 1, math.ceil(need["diamorphine"] / _slots(window.start, window.end)))
            if stations != window.stations:
                window.stations = stations
                changed.append("stations")
        if changed:
            window.save(update_fields=changed)


def _booth_offsets(clinic: Clinic, plans: list[Plan]) -> dict[int, timedelta]:
    """Diamorphine sessions share a window's booths 30 minutes at a time, as visits.generation places them: the
    n-th diamorphine patient of the clinic takes slot n // booths in each of their windows (the same offset in
    every window keeps the interval between their sessions)."""
    windows = DosingWindow.objects.filter(clinic=clinic).values_list("services", "stations")
    stations = min((n or 1 for services, n in windows if "diamorphine" in services), default=1)
    diamorphine = [plan.pk for plan in plans if plan.medication == "diamorphine"]
    return {pk: timedelta(minutes=engine.SESSION_MINUTES) * (n // stations) for n, pk in enumerate(diamorphine)}


def _staff(clinics: list[Clinic]) -> None:
    user_model = get_user_model()
    for role in ROLES:
        user, made = user_model.objects.get_or_create(username=f"scale_{role}")
        if made:
            user.set_password(SCALE_PASSWORD)
            user.save()
        profile, _ = StaffProfile.objects.get_or_create(user=user, defaults={"role": role})
        profile.clinics.add(*clinics)


def _patients_and_plans(clinic: Clinic, size: int, days: int, now: datetime, rng: random.Random) -> list[Plan]:
    today = local_date(now, clinic.timezone)
    history_start = today - timedelta(days=days)
    intakes = [history_start + timedelta(days=7 * k) for k in range(1, max(days // 7, 1) + 1)]
    rows = []
    for n in range(size):
        rows.append(
            Patient(
                clinic=clinic,
                mrn=f"S{clinic.pk}-{n + 1:07d}",
                first_name=rng.choice(FIRST),
                last_name=rng.choice(LAST),
                date_of_birth=date(1955 + rng.randrange(45), rng.randrange(1, 13), rng.randrange(1, 29)),
                phone=f"+1{rng.randrange(200, 999)}555{rng.randrange(10000):04d}",
                sms_consent=rng.random() < 0.8,
                language="es" if rng.random() < 0.15 else "en",
            )
        )
    created = Patient.objects.bulk_create(rows, batch_size=5000)
    plans = []
    for patient in created:
        _, medication, patterns, doses = _pick(rng, [(p[0], p) for p in PROGRAMS])
        if rng.random() < NEW_ADMISSIONS and intakes:
            start = treatment_start = rng.choice(intakes)
        else:
            start, treatment_start = history_start, history_start - timedelta(days=rng.choice(TENURES))
        weekdays = _pick(rng, patterns)
        plans.append(
            Plan(
                patient=patient,
                medication=medication,
                start_date=start,
                treatment_start=treatment_start,
                doses_per_day=rng.choice(doses),
                min_interval_minutes=180 if medication == "diamorphine" else 0,
                attendance_weekdays=weekdays,
                status="active",
            )
        )
    return Plan.objects.bulk_create(plans, batch_size=5000)


def _shape(plan: Plan) -> Shape:
    return Shape(
        plan.patient.clinic_id,
        plan.medication,
        tuple(plan.attendance_weekdays),
        plan.start_date,
        plan.treatment_start,
        plan.doses_per_day,
    )


def _shape_days(
    shape: Shape, calendar: engine.Calendar, rules: Rules, date_to: date, cache: dict[Shape, list[engine.Day]]
) -> list[engine.Day]:
    if shape not in cache:
        spec = engine.PlanSpec(
            medication=shape.medication,
            start_date=shape.start_date,
            treatment_start=shape.treatment_start,
            doses_per_day=shape.doses_per_day,
            min_interval_minutes=180 if shape.medication == "diamorphine" else 0,
            attendance_weekdays=frozenset(shape.weekdays or range(7)),
        )
        try:
            days = engine.plan_days(spec, calendar, rules, shape.start_date, date_to)
        except engine.PlanNotSatisfiable:
            days = []
        cache[shape] = [d for d in days if d.expected == engine.VISIT]
    return cache[shape]


@dataclass(frozen=True)
class Streak:
    """A past run of missed visits that a completed visit ended: the sweep escalated it, someone resolved it."""

    plan: Plan
    missed_days: int
    anchor: date  # the last covered date before the streak (the escalations' unique key)
    resolved_at: datetime


def _visits(
    clinic: Clinic, plans: list[Plan], days: int, future: int, now: datetime, rng: random.Random, bar: tqdm
) -> tuple[int, list[Streak]]:
    today = local_date(now, clinic.timezone)
    date_to = today + timedelta(days=max(future - 1, 0)) if future else today - timedelta(days=1)
    cache: dict[Shape, list[engine.Day]] = {}
    # Read before COPY starts: the connection can run nothing else until COPY ends.
    calendar, rules = calendar_for_clinic(clinic), rules_for_clinic(clinic)
    kind_for = {p[1]: "injection" if p[1] in engine.INJECTIONS else "dose" for p in PROGRAMS}
    offsets = _booth_offsets(clinic, plans)
    count = 0
    streaks: list[Streak] = []
    sql = f"COPY visits_visit ({QUOTED_COLUMNS}) FROM STDIN"
    with transaction.atomic(), connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for plan in plans:
            plan.patient.clinic = clinic
            shape_days = _shape_days(_shape(plan), calendar, rules, date_to, cache)
            for row in _plan_rows(plan, shape_days, kind_for, now, rng, offsets.get(plan.pk), streaks):
                copy.write_row(row)
                count += 1
            bar.update(1)
    return count, streaks


def _plan_rows(
    plan: Plan,
    days: list[engine.Day],
    kind_for: dict[str, str],
    now: datetime,
    rng: random.Random,
    offset: timedelta | None = None,
    streaks: list[Streak] | None = None,
) -> Iterator[tuple[Any, ...]]:
    """One patient's visits: the engine's days with attendance drawn on top, oldest first; diamorphine
    sessions moved `offset` into their window (their booth slot). Missed streaks that a later completed
    visit ended are appended to `streaks`."""
    sessions = [(day, i, s) for day in days for i, s in enumerate(day.sessions)]
    if offset:
        sessions = [(day, i, engine.Session(s.start + offset, s.end, s.window_id)) for day, i, s in sessions]
    decided = [x for x in sessions if x[2].end + GRACE <= now]
    streak = len(decided) - rng.randint(2, 7) if rng.random() < STREAKS else len(decided)
    previous_take_homes = 0
    missed_dates: set[date] = set()
    covered = plan.start_date - timedelta(days=1)
    for n, (day, index, session) in enumerate(sessions):
        status, values = "scheduled", {}
        if n < len(decided):
            status = "missed" if n >= streak else _pick(rng, OUTCOMES)
            values = _outcome(status, day, session, previous_take_homes, now, rng)
            if status == "missed":
                missed_dates.add(day.date)
            elif status == "completed":
                previous_take_homes = values["take_home_doses"]
                if missed_dates and streaks is not None:
                    streaks.append(Streak(plan, len(missed_dates), covered, values["completed_at"]))
                missed_dates = set()
                covered = max(covered, values["covered_through"])
        elif session.start <= now and rng.random() < 0.5:
            status, values = "checked_in", {"checked_in_at": session.start + timedelta(minutes=rng.randrange(30))}
        yield (
            plan.patient_id,
            plan.patient.clinic_id,
            plan.pk,
            kind_for[plan.medication],
            day.date,
            session.start,
            session.end,
            session.window_id,
            status,
            "plan",
            day.date,
            index,
            False,
            day.reason[:300],
            day.take_home_doses,
            day.target_date,
            day.earliest,
            day.latest,
            values.get("take_home_doses", 0),
            values.get("covered_through"),
            values.get("checked_in_at"),
            values.get("completed_at"),
            values.get("bottles_returned"),
            "",
            values.get("status_reason", ""),
            values.get("missed_at"),
            now,
            now,
        )


def _outcome(
    status: str,
    day: engine.Day,
    session: engine.Session,
    previous_take_homes: int,
    now: datetime,
    rng: random.Random,
) -> dict[str, Any]:
    if status == "missed":
        return {"missed_at": session.end + GRACE}
    if status in ("excused", "cancelled"):
        return {"status_reason": "seeded: patient called ahead" if status == "excused" else "seeded: rebooked"}
    window_minutes = int((session.end - session.start).total_seconds() // 60)
    arrived = session.start + timedelta(minutes=rng.randrange(max(window_minutes - 15, 1)))
    # Now and then fewer take-homes than planned (a clinician's call): the sweep sees uncovered days.
    doses = day.take_home_doses if rng.random() > 0.01 else max(day.take_home_doses - 1, 0)
    return {
        "checked_in_at": arrived,
        "completed_at": arrived + timedelta(minutes=rng.randrange(2, 10)),
        "take_home_doses": doses,
        "covered_through": day.date + timedelta(days=doses),
        "bottles_returned": (rng.random() < 0.97) if previous_take_homes else None,
    }


# --- escalations and texts ------------------------------------------------------------------------------

ESCALATION_COLUMNS = (
    "patient_id",
    "plan_id",
    "clinic_id",
    "kind",
    "reason",
    "consecutive_missed",
    "anchor_date",
    "created",
    "resolved_at",
    "resolution_note",
)


def _steps(ladder: Ladder, medication: str, missed: int) -> list[str]:
    """The ladder's steps a streak of `missed` days reached (DOMAIN.md §4); an injection's is one overdue step."""
    if medication in engine.INJECTIONS:
        return ["overdue_injection"]
    steps = [("outreach", ladder.outreach), ("hold", ladder.hold), ("clinician_review", ladder.clinician_review)]
    steps.append(("reinduction", ladder.reinduction))
    return [kind for kind, at in steps if missed >= at]


def _escalations(clinic: Clinic, plans: list[Plan], streaks: list[Streak], now: datetime) -> int:
    """The escalations past streaks raised, each resolved when the patient came back (COPY). Streaks still
    running at the end of the history are left to the sweep, as in a clinic whose sweep is about to run."""
    ladder = rules_for_clinic(clinic).ladder
    count = 0
    seen: set[tuple[int, str, date]] = set()  # the (plan, kind, anchor_date) unique key
    sql = f"COPY visits_escalation ({', '.join(ESCALATION_COLUMNS)}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for streak in streaks:
            plan = streak.plan
            for kind in _steps(ladder, plan.medication, streak.missed_days):
                if (plan.pk, kind, streak.anchor) in seen:
                    continue
                seen.add((plan.pk, kind, streak.anchor))
                created = datetime.combine(streak.anchor + timedelta(days=streak.missed_days), time(12), UTC)
                copy.write_row(
                    (
                        plan.patient_id,
                        plan.pk,
                        clinic.pk,
                        kind,
                        f"{streak.missed_days} missed day(s) in a row (seeded history)",
                        streak.missed_days,
                        streak.anchor,
                        min(created, streak.resolved_at),
                        streak.resolved_at,
                        "seeded: the patient came back",
                    )
                )
                count += 1
    return count


# The shipped policies (notifications.defaults: scheduler cannot import it) as the dispatcher sends them: 7 and 1
# days before a monthly injection, 1 day before a weekly one, a check-in text after the first missed day of a daily
# dose (methadone, buprenorphine). Past texts were delivered; later ones are pending. Bodies follow the shipped
# English templates (no treatment, no amounts).
_MESSAGES_SQL = """
    INSERT INTO notifications_message (
        purpose, slot, body, to_number, scheduled_for, status, status_reason, provider_id, error_code, attempts,
        sent_at, delivered_at, created, updated, patient_id, visit_id
    )
    SELECT t.purpose, t.slot, t.body, t.to_number, t.due,
           CASE WHEN t.due <= %(now)s THEN 'delivered' ELSE 'pending' END, '',
           CASE WHEN t.due <= %(now)s THEN 'SEED' || t.visit_id || t.slot ELSE '' END, '',
           CASE WHEN t.due <= %(now)s THEN 1 ELSE 0 END,
           CASE WHEN t.due <= %(now)s THEN t.due END,
           CASE WHEN t.due <= %(now)s THEN t.due + interval '5 seconds' END,
           %(now)s, %(now)s, t.patient_id, t.visit_id
    FROM (
        SELECT 'reminder' AS purpose, s.slot, v.id AS visit_id, v.patient_id, p.phone AS to_number,
               v.start - s.ahead AS due,
               'Hi ' || p.first_name || ', a reminder of your appointment at ' || c.sms_name || ' on '
                   || to_char(v.date, 'Mon FMDD') || ' at ' || to_char(v.start AT TIME ZONE c.timezone, 'FMHH12:MI AM')
                   || '. Questions: ' || c.phone || '. Reply STOP to opt out.' AS body
        FROM visits_visit v
        JOIN scheduler_patient p ON p.id = v.patient_id
        JOIN scheduler_clinic c ON c.id = v.clinic_id
        JOIN scheduler_plan pl ON pl.id = v.plan_id
        JOIN (VALUES ('7d', interval '7 days', ARRAY['naltrexone_xr', 'buprenorphine_xr_monthly']),
                     ('1d', interval '1 day',
                      ARRAY['naltrexone_xr', 'buprenorphine_xr_monthly', 'buprenorphine_xr_weekly'])
        ) AS s(slot, ahead, medications) ON pl.medication = ANY(s.medications)
        WHERE v.clinic_id = %(clinic)s AND v.kind = 'injection' AND v.start IS NOT NULL AND p.sms_consent
          AND v.status <> 'cancelled'
        UNION ALL
        SELECT 'missed_checkin', '', m.id, m.patient_id, p.phone, m.missed_at,
               'Hi ' || p.first_name || ', we missed you at ' || c.sms_name || '. If you need anything, call '
                   || c.phone || '. Reply STOP to opt out.'
        FROM (
            SELECT v.id, v.patient_id, v.plan_id, v.status, v.missed_at,
                   lag(v.status) OVER (PARTITION BY v.plan_id ORDER BY v.date, v.session) AS before
            FROM visits_visit v
            WHERE v.clinic_id = %(clinic)s AND v.kind = 'dose'
        ) AS m
        JOIN scheduler_patient p ON p.id = m.patient_id
        JOIN scheduler_clinic c ON c.id = p.clinic_id
        JOIN scheduler_plan pl ON pl.id = m.plan_id
        WHERE m.status = 'missed' AND m.before IS DISTINCT FROM 'missed' AND m.missed_at IS NOT NULL
          AND pl.medication IN ('methadone', 'buprenorphine') AND p.sms_consent
    ) AS t
"""


def _messages(clinic: Clinic, now: datetime) -> int:
    with connection.cursor() as cursor:
        cursor.execute(_MESSAGES_SQL, {"clinic": clinic.pk, "now": now})
        return int(cursor.rowcount)
