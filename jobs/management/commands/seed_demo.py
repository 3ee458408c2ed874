"""Demo data: one clinic in America/New_York, one user per role, ~40 patients across every program.

Running it twice changes nothing: every row is found by a natural key before it is created,
and visit history is only written the first time.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from scheduler.engine import SESSION_MINUTES
from scheduler.models import Clinic, DosingWindow, Patient, Plan, RuleSet, StaffProfile
from scheduler.rules import DEFAULT_PRESET, PRESETS
from scheduler.selectors import rules_for_clinic
from scheduler.services import CONSENT_WORDS
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
# Issue #13: some window is open at every hour of the clinic's day (weekdays 06:00–17:00, Saturday 08:00–17:00,
# Sunday 08:00–17:00), so whenever the demo is opened during the day there is something to act on.
ORAL_AFTERNOON = WindowSpec([0, 1, 2, 3, 4, 5], time(13), time(15), ORAL, 40)
# Injections and appointments from Monday to Saturday, between the dosing windows.
APPOINTMENTS = WindowSpec([0, 1, 2, 3, 4, 5], time(10), time(13), INJECTIONS + OTHER, 12)
# Sunday midday: call-backs (a take-home holder is called back within 24 hours, any day) and assessments.
SUNDAY_MIDDAY = WindowSpec([6], time(10), time(15), ["callback", "assessment"], 4)
WINDOWS = [
    # Oral dosing: 06:00–10:00 and 13:00–15:00 on weekdays, 08:00–10:30 and 13:00–15:00 on Saturday, closed Sunday.
    WindowSpec([0, 1, 2, 3, 4], time(6), time(10), ORAL, 80),
    ORAL_AFTERNOON,
    WindowSpec([5], time(8), time(10, 30), ORAL, 60),
    # Supervised injection: morning and afternoon sessions every day of the year, 4 booths × 30 min.
    WindowSpec([0, 1, 2, 3, 4, 5, 6], time(8), time(10), ["diamorphine"], 16, stations=4),
    WindowSpec([0, 1, 2, 3, 4, 5, 6], time(15), time(17), ["diamorphine"], 16, stations=4),
    APPOINTMENTS,
    SUNDAY_MIDDAY,
]
# Windows of a demo seeded before the day was covered (start, end), and what they become (see _cover_the_day).
OLD_WINDOWS = {(time(10, 30), time(12, 30)): APPOINTMENTS, (time(13), time(15)): ORAL_AFTERNOON}
# Texts from patients on the demo day (two-way replies, DOMAIN §5): each becomes a front-desk task.
INBOUND_TEXTS = ["C", "R", "LATE", "Can I come in the afternoon on Friday?", "C"]


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
                self._cover_the_day(clinic)
        if created:
            self._history(clinic)
            self._today(clinic)
        if created or not self._has_texts(clinic):
            self._texts(clinic)
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

    def _cover_the_day(self, clinic: Clinic) -> None:
        """A demo seeded before every hour of the day was covered gets the windows now; then nothing changes."""
        for (start, end), spec in OLD_WINDOWS.items():
            DosingWindow.objects.filter(clinic=clinic, start=start, end=end, services=spec.services).exclude(
                weekdays=spec.weekdays, start=spec.start, end=spec.end
            ).update(weekdays=spec.weekdays, start=spec.start, end=spec.end)
        sunday = SUNDAY_MIDDAY
        if not DosingWindow.objects.filter(clinic=clinic, weekdays=sunday.weekdays, start=sunday.start).exists():
            DosingWindow.objects.create(clinic=clinic, weekdays=sunday.weekdays, start=sunday.start, end=sunday.end,
                                        services=sunday.services, capacity=sunday.capacity)

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
        front_desk = get_user_model().objects.get(username="demo_front_desk")
        consent = {"sms_consent": True, "sms_consent_at": timezone.now(), "sms_consent_by": front_desk,
                   "sms_consent_words": CONSENT_WORDS}
        rng = random.Random(20261121)  # noqa: S311 - demo data, reproducible
        for n, spec in enumerate(_plan_specs(today)):
            first, last = demo_name(n)
            patient = Patient.objects.create(
                clinic=clinic, mrn=f"DEMO{n + 1:04d}", first_name=first, last_name=last,
                date_of_birth=date(1960 + rng.randrange(40), rng.randrange(1, 13), rng.randrange(1, 28)),
                phone=f"+1212555{(200 + n) % 10000:04d}", language="es" if n % 6 == 0 else "en",
                # DOMAIN §5: four in five consented to texts, recorded by the front desk with the words read.
                **(consent if n % 5 != 0 else {}),
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

    def _today(self, clinic: Clinic) -> None:
        """Issue #13: the demo day has something to act on at any hour of the clinic's day. Visits of windows that
        have ended are done (one in seven left for the missed sweep: late arrivals to re-open); two patients of a
        window open now are checked in and wait to be seen; a few oral patients come in the afternoon, and the
        midday window has counselling and assessments booked."""
        from visits.models import Visit

        zone = ZoneInfo(clinic.timezone)
        now = timezone.now()
        today = local_date(now, clinic.timezone)
        windows = [w for w in DosingWindow.objects.filter(clinic=clinic).order_by("start", "id")
                   if today.weekday() in w.weekdays]

        def at(moment: time) -> datetime:
            return datetime.combine(today, moment, tzinfo=zone)

        moved: list[Visit] = []
        afternoon = next((w for w in windows if set(ORAL) <= set(w.services) and w.start >= time(12)), None)
        if afternoon is not None:
            doses = Visit.objects.filter(clinic=clinic, date=today, status="scheduled", plan__medication__in=ORAL)
            for visit in list(doses.exclude(window=afternoon).order_by("patient_id"))[::5][:4]:
                visit.window, visit.start, visit.end = afternoon, at(afternoon.start), at(afternoon.end)
                visit.edited, visit.reason = True, "Comes in the afternoon (works mornings)"
                moved.append(visit)
            Visit.objects.bulk_update(moved, ["window", "start", "end", "edited", "reason"])
        midday = next((w for w in windows if "assessment" in w.services), None)
        if midday is not None:
            # Three appointments one after the other fill the midday window from its start to its end.
            busy = {v.patient_id for v in moved}
            patients = [p for p in Patient.objects.filter(clinic=clinic, plans__medication="methadone").order_by("id")
                        if p.pk not in busy][::4][:3]
            kinds = ["counselling", "assessment", "counselling"] if "counselling" in midday.services else ["assessment"]
            length = (at(midday.end) - at(midday.start)) / len(patients) if patients else timedelta(0)
            for k, patient in enumerate(patients):
                start = at(midday.start) + k * length
                Visit.objects.create(
                    patient=patient, clinic=clinic, kind=kinds[k % len(kinds)], date=today, start=start,
                    end=start + length, window=midday, status="scheduled", source="manual", edited=True,
                    reason="booked by staff",
                )
        for window in windows:
            # A session window's last session is booked too (patients are placed at its start), so there is
            # someone to see until it closes.
            last = at(window.end) - timedelta(minutes=SESSION_MINUTES)
            sessions = Visit.objects.filter(window=window, date=today, status="scheduled")
            if window.stations and not sessions.filter(start=last).exists():
                latest = sessions.order_by("-start", "-id").first()
                if latest is not None:
                    latest.start, latest.end, latest.edited = last, at(window.end), True
                    latest.save(update_fields=["start", "end", "edited"])
        front_desk = get_user_model().objects.get(username="demo_front_desk")
        done: list[Visit] = []
        waiting: list[Visit] = []
        todays = Visit.objects.filter(clinic=clinic, date=today, status="scheduled").exclude(start=None)
        for n, visit in enumerate(todays.order_by("start", "id")):
            if visit.start is None or visit.end is None:
                continue
            if visit.end <= now:
                if n % 7 == 3:
                    continue  # left scheduled: the missed sweep marks it, and the patient may still turn up late
                visit.status, visit.completed_at = "completed", visit.start
                visit.take_home_doses = visit.expected_take_home_doses
                visit.covered_through = visit.date + timedelta(days=visit.expected_take_home_doses)
                done.append(visit)
            elif visit.start <= now and len(waiting) < 2:
                visit.status, visit.checked_in_by = "checked_in", front_desk
                visit.checked_in_at = max(visit.start, now - timedelta(minutes=10))
                waiting.append(visit)
        Visit.objects.bulk_update(done, ["status", "completed_at", "take_home_doses", "covered_through"])
        Visit.objects.bulk_update(waiting, ["status", "checked_in_by", "checked_in_at"])
        self.stdout.write(
            f"Demo day: {len(done)} visits done so far, {len(waiting)} waiting, {len(moved)} in the afternoon."
        )

    def _has_texts(self, clinic: Clinic) -> bool:
        from notifications.models import InboundMessage

        return InboundMessage.objects.filter(provider_id__startswith=f"DEMO-IN{clinic.pk}-").exists()

    def _texts(self, clinic: Clinic) -> None:
        """Delivered reminders for the injection patients' visits of the last two weeks and the next week (those
        whose sending time has passed) and texts from patients that became front-desk tasks. Written once (a demo
        seeded before there were texts gets them on its next run); found by visit and slot, and by provider id."""
        from notifications.defaults import DEFAULT_POLICIES, DEFAULT_TEMPLATES
        from notifications.inbound import inbound_receive
        from notifications.models import Message
        from notifications.outbox import render_message
        from notifications.selectors import PolicyBook, TemplateBook
        from visits.models import Visit

        zone = ZoneInfo(clinic.timezone)
        now = timezone.now()
        today = local_date(now, clinic.timezone)
        rules = rules_for_clinic(clinic)
        policies = PolicyBook.load([clinic.pk])
        book = TemplateBook.load([clinic.pk], ["reminder"])
        for (purpose, language), body in DEFAULT_TEMPLATES.items():  # a flushed test database lost migration 0002's
            book.by_key.setdefault((None, purpose, language), body)
        visits = (
            Visit.objects.filter(
                clinic=clinic, date__range=(today - timedelta(days=14), today + timedelta(days=7)),
                plan__medication__in=INJECTIONS, patient__sms_consent=True, patient__sms_opted_out=False,
            )
            .exclude(status="cancelled")
            .exclude(start=None)
            .select_related("patient", "plan")
            .order_by("date", "id")
        )
        have = set(Message.objects.filter(visit__in=visits, purpose="reminder").values_list("visit_id", "slot"))
        new: list[Message] = []
        for visit in visits:
            assert visit.plan is not None
            policy = policies.resolve(clinic.pk, visit.plan.medication)
            shipped = DEFAULT_POLICIES[visit.plan.medication]["days_before"]
            days_before = cast(list[int], policy.days_before if policy else shipped)
            send_at = policy.send_at if policy else time(10)
            for days in days_before:
                slot = f"{days}d"
                when = datetime.combine(visit.date - timedelta(days=days), send_at, tzinfo=zone)
                if when >= now or (visit.pk, slot) in have:
                    continue
                body = render_message(
                    patient=visit.patient, clinic=clinic, purpose="reminder", templates=book,
                    max_chars=rules.sms_max_chars, visit=visit, extra_words=rules.privacy_words,
                )
                new.append(Message(
                    patient=visit.patient, visit=visit, purpose="reminder", slot=slot, body=body,
                    to_number=visit.patient.phone, scheduled_for=when, status="delivered", attempts=1,
                    sent_at=when, delivered_at=when + timedelta(seconds=6), provider_id=f"DEMO-SM{visit.pk}-{slot}",
                ))
        Message.objects.bulk_create(new)
        texting = Patient.objects.filter(clinic=clinic, sms_consent=True, sms_opted_out=False).exclude(phone="")
        for k, (patient, body) in enumerate(zip(list(texting.order_by("id"))[1::3], INBOUND_TEXTS, strict=False)):
            inbound_receive(provider_id=f"DEMO-IN{clinic.pk}-{k + 1}", from_number=patient.phone, body=body)

    def _print_logins(self, clinic: Clinic, users: dict[str, str]) -> None:
        self.stdout.write(self.style.SUCCESS(f"Demo clinic: {clinic.name} (id {clinic.pk})"))
        self.stdout.write(f"Demo logins (password for all: {DEMO_PASSWORD}):")
        for role, username in users.items():
            self.stdout.write(f"  {role:<11} {username}")


DEMO_PRESET_LABEL = DEFAULT_PRESET
