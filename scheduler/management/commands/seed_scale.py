"""Large data for benchmarks: C clinics, N patients across every program, D days of attended history.

    manage.py seed_scale --clinics 5 --patients 20000 --days 90 [--future 7] [--seed 1] [--reset]

Plans are materialised by the real engine, but once per *plan shape* (clinic, medication, weekdays,
start dates, doses a day), not once per patient: a clinic with 4,000 patients has a few hundred shapes.
Each patient's visits are the shape's days with that patient's own attendance drawn on top, written
with PostgreSQL COPY, so a million visits take a minute or two instead of an hour of ORM saves.

Not idempotent in the seed_demo sense (a second run would double the data): it refuses when the scale
clinics exist, and `--reset` deletes them (and everything hanging off them) first.
"""

from __future__ import annotations

import math
import random
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction
from django.utils import timezone
from tqdm import tqdm

from scheduler import engine
from scheduler.models import Clinic, DosingWindow, Patient, Plan, RuleSet, StaffProfile
from scheduler.rules import DEFAULT_PRESET, PRESETS, Rules
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
        parser.add_argument("--clinics", type=int, default=5)
        parser.add_argument("--patients", type=int, default=20000, help="Patients in total, spread over clinics.")
        parser.add_argument("--days", type=int, default=90, help="Days of history before today.")
        parser.add_argument("--future", type=int, default=7, help="Days of scheduled visits from today on.")
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--reset", action="store_true", help="Delete the scale clinics and their data first.")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        clinics, patients, days = options["clinics"], options["patients"], options["days"]
        if clinics < 1 or patients < clinics or days < 0 or options["future"] < 0:
            raise CommandError("Give --clinics ≥ 1, --patients ≥ --clinics, --days ≥ 0 and --future ≥ 0.")
        existing = Clinic.objects.filter(name__startswith=SCALE_PREFIX)
        if existing.exists():
            if not options["reset"]:
                raise CommandError(
                    f"{existing.count()} scale clinic(s) exist already; run with --reset to delete them and reseed."
                )
            removed = scale_reset()
            self.stdout.write(f"Deleted {removed} scale clinic(s) and their data.")
        self.progress = not options["no_progress"] and sys.stdout.isatty()
        rng = random.Random(options["seed"])
        started = timezone.now()
        made = seed(
            clinics=clinics,
            patients=patients,
            days=days,
            future=options["future"],
            rng=rng,
            now=started,
            progress=self.progress,
        )
        seconds = (timezone.now() - started).total_seconds()
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {made['clinics']} clinics, {made['patients']} patients, {made['plans']} plans, "
                f"{made['visits']} visits in {seconds:.1f} s."
            )
        )
        self.stdout.write(f"Staff logins scale_<role> (password {SCALE_PASSWORD}) see every scale clinic.")


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
) -> dict[str, int]:
    """Create the scale data; returns row counts. Usable from benchmarks without the command."""
    with transaction.atomic():  # all or nothing: a failed run leaves no half-seeded clinics behind
        made = _seed(
            clinics=clinics,
            patients=patients,
            days=days,
            future=future,
            rng=rng,
            now=now,
            progress=progress,
            prefix=prefix,
        )
    with connection.cursor() as cursor:
        for table in ("visits_visit", "scheduler_patient", "scheduler_plan"):
            cursor.execute(f"ANALYZE {table}")
    return made


def _seed(
    *,
    clinics: int,
    patients: int,
    days: int,
    future: int,
    rng: random.Random,
    now: datetime,
    progress: bool,
    prefix: str,
) -> dict[str, int]:
    made = {"clinics": 0, "patients": 0, "plans": 0, "visits": 0}
    per_clinic = [patients // clinics + (1 if i < patients % clinics else 0) for i in range(clinics)]
    created = [
        (clinic_create(name=f"{prefix} {i + 1}", index=i, size=size, now=now), size)
        for i, size in enumerate(per_clinic)
    ]
    _staff([c for c, _ in created])
    bar = tqdm(total=patients, unit="patient", disable=not progress, file=sys.stdout)
    for clinic, size in created:
        plans = _patients_and_plans(clinic, size, days, now, rng)
        fit_windows(clinic, plans)
        made["clinics"] += 1
        made["patients"] += size
        made["plans"] += len(plans)
        made["visits"] += _visits(clinic, plans, days, future, now, rng, bar)
    bar.close()
    return made


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


def _visits(
    clinic: Clinic, plans: list[Plan], days: int, future: int, now: datetime, rng: random.Random, bar: tqdm
) -> int:
    today = local_date(now, clinic.timezone)
    date_to = today + timedelta(days=max(future - 1, 0)) if future else today - timedelta(days=1)
    cache: dict[Shape, list[engine.Day]] = {}
    # Read before COPY starts: the connection can run nothing else until COPY ends.
    calendar, rules = calendar_for_clinic(clinic), rules_for_clinic(clinic)
    kind_for = {p[1]: "injection" if p[1] in engine.INJECTIONS else "dose" for p in PROGRAMS}
    offsets = _booth_offsets(clinic, plans)
    count = 0
    sql = f"COPY visits_visit ({QUOTED_COLUMNS}) FROM STDIN"
    with transaction.atomic(), connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for plan in plans:
            plan.patient.clinic = clinic
            shape_days = _shape_days(_shape(plan), calendar, rules, date_to, cache)
            for row in _plan_rows(plan, shape_days, kind_for, now, rng, offsets.get(plan.pk)):
                copy.write_row(row)
                count += 1
            bar.update(1)
    return count


def _plan_rows(
    plan: Plan,
    days: list[engine.Day],
    kind_for: dict[str, str],
    now: datetime,
    rng: random.Random,
    offset: timedelta | None = None,
) -> Iterator[tuple[Any, ...]]:
    """One patient's visits: the engine's days with attendance drawn on top, oldest first; diamorphine
    sessions moved `offset` into their window (their booth slot)."""
    sessions = [(day, i, s) for day in days for i, s in enumerate(day.sessions)]
    if offset:
        sessions = [(day, i, engine.Session(s.start + offset, s.end, s.window_id)) for day, i, s in sessions]
    decided = [x for x in sessions if x[2].end + GRACE <= now]
    streak = len(decided) - rng.randint(2, 7) if rng.random() < STREAKS else len(decided)
    previous_take_homes = 0
    for n, (day, index, session) in enumerate(sessions):
        status, values = "scheduled", {}
        if n < len(decided):
            status = "missed" if n >= streak else _pick(rng, OUTCOMES)
            values = _outcome(status, day, session, previous_take_homes, now, rng)
            if status == "completed":
                previous_take_homes = values["take_home_doses"]
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
