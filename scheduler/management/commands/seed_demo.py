"""Demo data: one clinic in America/New_York, one user per role, ~40 patients across every program.

Running it twice changes nothing: every row is found by a natural key before it is created,
and visit history is only written the first time.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, time, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from scheduler.engine import SESSION_MINUTES
from scheduler.models import Clinic, DosingWindow, Patient, Plan, RuleSet, StaffProfile
from scheduler.rules import DEFAULT_PRESET, PRESETS
from scheduler.timeutil import local_date

DEMO_CLINIC = "Riverside Community Health (demo)"
DEMO_PASSWORD = "dosewise-demo"
ROLES = ("front_desk", "nurse", "clinician", "manager", "admin")
ORAL = ["methadone", "buprenorphine"]
INJECTIONS = ["naltrexone_xr", "buprenorphine_xr_monthly", "buprenorphine_xr_weekly"]
OTHER = ["counselling", "assessment", "callback"]
HISTORY_DAYS = 21

FIRST = ["Ana", "Ben", "Carla", "Dev", "Elena", "Femi", "Grace", "Hugo", "Iris", "Jamal", "Kira", "Luis",
         "Maya", "Nate", "Olga", "Pedro", "Quinn", "Rosa", "Sam", "Tara"]
LAST = ["Alvarez", "Brooks", "Chen", "Diaz", "Evans", "Foster", "Garcia", "Hughes", "Ibrahim", "Jones"]


def demo_name(n: int) -> tuple[str, str]:
    """The n-th demo patient's name, distinct for the first len(FIRST) × len(LAST) patients (issue #13: a demo with
    every name used twice taught staff to trust the name alone): each further round of first names moves the
    last name on by one."""
    return FIRST[n % len(FIRST)], LAST[(n * 7 + n // len(FIRST)) % len(LAST)]


@dataclass(frozen=True)
class WindowSpec:
    weekdays: list[int]
    start: time
    end: time
    services: list[str]
    capacity: int
    stations: int | None = None  # diamorphine booths: sessions at once, 30 minutes each (visits.generation)


# Sized for the patients of _plan_specs, so generation never refuses or leaves out a demo visit: 22 oral
# patients fit the first window of any day, 6 twice-daily diamorphine patients take 4 booths at 08:00 and
# 2 at 08:30 (then 15:00 and 15:30), 12 injection patients fit the appointments window.
WINDOWS = [
    # Oral dosing: 06:00–10:00 and 13:00–15:00 on weekdays, shorter on Saturday, closed Sunday.
    WindowSpec([0, 1, 2, 3, 4], time(6), time(10), ORAL, 80),
    WindowSpec([0, 1, 2, 3, 4], time(13), time(15), ORAL, 40),
    WindowSpec([5], time(8), time(10, 30), ORAL, 60),
    # Supervised injection: morning and afternoon sessions every day of the year, 4 booths × 30 min.
    WindowSpec([0, 1, 2, 3, 4, 5, 6], time(8), time(10), ["diamorphine"], 16, stations=4),
    WindowSpec([0, 1, 2, 3, 4, 5, 6], time(15), time(17), ["diamorphine"], 16, stations=4),
    # Injections and appointments on weekdays.
    WindowSpec([0, 1, 2, 3, 4], time(10, 30), time(12, 30), INJECTIONS + OTHER, 12),
]


def _plan_specs(today: date) -> list[dict[str, Any]]:
    """~40 plans: the mix a mid-size clinic has, with treatment days spread across the tiers."""
    specs: list[dict[str, Any]] = []
    for i in range(16):  # methadone: daily, Mon–Sat, Mon/Wed/Fri, weekly pick-up
        weekdays = [[0, 1, 2, 3, 4, 5], [0, 2, 4], [0, 1, 2, 3, 4], [0]][i % 4]
        start = today - timedelta(days=[3, 10, 20, 40, 120, 400][i % 6] + HISTORY_DAYS)
        specs.append({"medication": "methadone", "attendance_weekdays": weekdays, "treatment_start": start})
    for i in range(6):
        specs.append({"medication": "buprenorphine", "attendance_weekdays": [[0, 2, 4], [0, 3]][i % 2],
                      "treatment_start": today - timedelta(days=60 + i * 10)})
    for _ in range(6):
        specs.append({"medication": "diamorphine", "doses_per_day": 2, "min_interval_minutes": 180,
                      "treatment_start": today - timedelta(days=200)})
    for i in range(4):
        specs.append({"medication": "naltrexone_xr", "treatment_start": today - timedelta(days=20 + i * 6)})
    for i in range(4):
        specs.append({"medication": "buprenorphine_xr_monthly", "treatment_start": today - timedelta(days=15 + i * 5)})
    for i in range(4):
        specs.append({"medication": "buprenorphine_xr_weekly", "treatment_start": today - timedelta(days=3 + i)})
    return specs


class Command(BaseCommand):
    help = "Create the demo clinic, one user per role and ~40 patients with plans (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            clinic, created = self._clinic()
            users = self._users(clinic)
            if created:
                self._windows(clinic)
                self._holidays(clinic)
                self._patients_and_plans(clinic)
            else:
                self._distinct_names(clinic)
        if created:
            self._history(clinic)
        self._print_logins(clinic, users)

    def _clinic(self) -> tuple[Clinic, bool]:
        clinic = Clinic.objects.filter(name=DEMO_CLINIC).first()
        if clinic is not None:
            return clinic, False
        rules = RuleSet.objects.create(name=f"{DEMO_PRESET_LABEL} (Riverside)", rules=dict(PRESETS[DEFAULT_PRESET]))
        clinic = Clinic.objects.create(
            name=DEMO_CLINIC, timezone="America/New_York", phone="+12125550100",
            sms_name="Riverside Health", country="US", subdivision="NY", rule_set=rules,
        )
        return clinic, True

    def _users(self, clinic: Clinic) -> dict[str, str]:
        user_model = get_user_model()
        users: dict[str, str] = {}
        for role in ROLES:
            username = f"demo_{role}"
            user, made = user_model.objects.get_or_create(username=username)
            if made:
                user.set_password(DEMO_PASSWORD)
                user.is_staff = role == "admin"
                user.save()
                profile = StaffProfile.objects.create(user=user, role=role)
                profile.clinics.add(clinic)
            users[role] = username
        return users

    def _windows(self, clinic: Clinic) -> None:
        DosingWindow.objects.bulk_create(
            DosingWindow(clinic=clinic, weekdays=w.weekdays, start=w.start, end=w.end, services=w.services,
                         capacity=w.capacity, stations=w.stations,
                         minutes_per_visit=SESSION_MINUTES if w.stations else None)
            for w in WINDOWS
        )

    def _holidays(self, clinic: Clinic) -> None:
        from notifications.replanning import holidays_import

        year = timezone.now().year
        for y in (year, year + 1):
            holidays_import(clinic=clinic, year=y, services=ORAL)

    def _distinct_names(self, clinic: Clinic) -> None:
        """A demo seeded before names were distinct gets them now; a demo that has them is left as it is."""
        for patient in Patient.objects.filter(clinic=clinic, mrn__regex=r"^DEMO[0-9]{4}$").only("id", "mrn"):
            first, last = demo_name(int(patient.mrn[4:]) - 1)
            Patient.objects.filter(pk=patient.pk).exclude(first_name=first, last_name=last).update(
                first_name=first, last_name=last
            )

    def _patients_and_plans(self, clinic: Clinic) -> None:
        today = local_date(timezone.now(), clinic.timezone)
        clinician = get_user_model().objects.get(username="demo_clinician")
        rng = random.Random(20261121)  # noqa: S311 - demo data, reproducible
        for n, spec in enumerate(_plan_specs(today)):
            first, last = demo_name(n)
            patient = Patient.objects.create(
                clinic=clinic, mrn=f"DEMO{n + 1:04d}", first_name=first, last_name=last,
                date_of_birth=date(1960 + rng.randrange(40), rng.randrange(1, 13), rng.randrange(1, 28)),
                phone=f"+1212555{(200 + n) % 10000:04d}", sms_consent=n % 5 != 0,
                sms_consent_at=timezone.now() if n % 5 != 0 else None, language="es" if n % 6 == 0 else "en",
            )
            start = max(spec["treatment_start"], today - timedelta(days=HISTORY_DAYS))
            # Take-home reviews (DOMAIN §6): most recorded by the demo clinician 0–119 days ago (some due again),
            # every fourth never recorded, so the escalations page shows reviews due.
            reviewed = n % 4 != 3 and spec["medication"] in ORAL
            Plan.objects.create(
                patient=patient,
                start_date=start,
                takehome_approved_by=clinician if reviewed else None,
                takehome_approved_at=timezone.now() - timedelta(days=(n * 11) % 120) if reviewed else None,
                **{"attendance_weekdays": list(range(7)), **spec},
            )

    def _history(self, clinic: Clinic) -> None:
        """Three weeks of realistic attendance: most visits attended, a few missed streaks."""
        from visits.generation import visits_generate
        from visits.models import Visit

        today = local_date(timezone.now(), clinic.timezone)
        plans = list(Plan.objects.filter(patient__clinic=clinic).select_related("patient__clinic__rule_set"))
        visits_generate(plans=plans, today=today - timedelta(days=HISTORY_DAYS), horizon_days=HISTORY_DAYS + 28)
        rng = random.Random(7)  # noqa: S311 - demo data, reproducible
        streak_patients = {p.patient_id for p in plans[:: 9]}
        past = Visit.objects.filter(clinic=clinic, date__lt=today, status="scheduled").order_by("date")
        completed: list[Visit] = []
        for visit in past:
            recent = (today - visit.date).days <= 4
            if visit.patient_id in streak_patients and recent:
                continue  # left scheduled: the missed sweep turns these into misses and escalations
            if rng.random() < 0.08:
                continue
            visit.status = "completed"
            visit.completed_at = visit.start
            visit.take_home_doses = visit.expected_take_home_doses
            visit.covered_through = visit.date + timedelta(days=visit.expected_take_home_doses)
            completed.append(visit)
        Visit.objects.bulk_update(
            completed, ["status", "completed_at", "take_home_doses", "covered_through"], batch_size=500
        )
        self.stdout.write(f"Demo history: {len(completed)} past visits completed.")

    def _print_logins(self, clinic: Clinic, users: dict[str, str]) -> None:
        self.stdout.write(self.style.SUCCESS(f"Demo clinic: {clinic.name} (id {clinic.pk})"))
        self.stdout.write(f"Demo logins (password for all: {DEMO_PASSWORD}):")
        for role, username in users.items():
            self.stdout.write(f"  {role:<11} {username}")


DEMO_PRESET_LABEL = DEFAULT_PRESET
