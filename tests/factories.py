"""factory_boy factories shared by every test module."""

from __future__ import annotations

from datetime import date, time

import factory
from django.contrib.auth import get_user_model

from scheduler.models import Clinic, Closure, DosingWindow, Patient, Pause, Plan, RuleSet, StaffProfile

ALL_WEEKDAYS = [0, 1, 2, 3, 4, 5, 6]


def preset_rules(name: str = "US federal 2024") -> dict:
    from scheduler.rules import PRESETS

    return dict(PRESETS[name])


class RuleSetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RuleSet

    name = "Clinic rules (US federal 2024)"
    is_preset = False
    rules = factory.LazyFunction(preset_rules)


class ClinicFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Clinic

    name = factory.Sequence(lambda n: f"Clinic {n}")
    timezone = "America/New_York"
    phone = "+12125550100"
    sms_name = factory.Sequence(lambda n: f"Riverside Health {n}")
    country = "US"
    subdivision = "NY"
    rule_set = factory.SubFactory(RuleSetFactory)


class WindowFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DosingWindow

    clinic = factory.SubFactory(ClinicFactory)
    weekdays = factory.LazyFunction(lambda: list(ALL_WEEKDAYS))
    start = time(7, 0)
    end = time(10, 0)
    services = factory.LazyFunction(lambda: ["methadone", "buprenorphine"])
    capacity = 50


class ClosureFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Closure

    clinic = factory.SubFactory(ClinicFactory)
    date = date(2026, 12, 25)
    reason = "Christmas Day"
    services = factory.LazyFunction(list)


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Patient

    clinic = factory.SubFactory(ClinicFactory)
    mrn = factory.Sequence(lambda n: f"MRN{n:06d}")
    first_name = factory.Sequence(lambda n: f"Alex{n}")
    last_name = factory.Sequence(lambda n: f"Rivera{n}")
    date_of_birth = date(1985, 4, 12)
    phone = factory.Sequence(lambda n: f"+1212555{n % 10000:04d}")
    sms_consent = True
    language = "en"


class PlanFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Plan

    patient = factory.SubFactory(PatientFactory)
    medication = "methadone"
    start_date = date(2026, 11, 2)
    treatment_start = factory.LazyAttribute(lambda o: o.start_date)
    attendance_weekdays = factory.LazyFunction(lambda: list(ALL_WEEKDAYS))
    attendance_every_weeks = 1
    doses_per_day = 1
    status = "active"


class PauseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Pause

    plan = factory.SubFactory(PlanFactory)
    reason = "guest_dosing"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.PostGenerationMethodCall("set_password", "correct-horse-battery")


def make_staff(role: str, clinics: list[Clinic], username: str | None = None):
    user = UserFactory(**({"username": username} if username else {}))
    user.save()
    profile = StaffProfile.objects.create(user=user, role=role)
    profile.clinics.set(clinics)
    return user
