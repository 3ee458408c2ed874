"""Issue #15: the data steps of the Brixadi monthly migrations, run against the current models."""

from __future__ import annotations

import importlib
from datetime import date, time

import pytest
from django.apps import apps

from notifications.models import ReminderPolicy
from scheduler.models import Closure, DosingWindow
from tests.factories import ClinicFactory, WindowFactory

pytestmark = pytest.mark.django_db
BRIXADI = "buprenorphine_xr_monthly_brixadi"
scheduler_step = importlib.import_module("scheduler.migrations.0008_brixadi_monthly_medication")
notifications_step = importlib.import_module("notifications.migrations.0004_brixadi_monthly_reminder_policy")


def test_windows_and_closures_that_offered_sublocade_offer_brixadi_monthly_and_no_others():
    clinic = ClinicFactory()
    sublocade = WindowFactory(clinic=clinic, start=time(11), end=time(13), services=["buprenorphine_xr_monthly"])
    oral = WindowFactory(clinic=clinic, services=["methadone"])
    closed = Closure.objects.create(clinic=clinic, date=date(2026, 12, 25), services=["buprenorphine_xr_monthly"])
    everything = Closure.objects.create(clinic=clinic, date=date(2026, 12, 26), services=[])

    scheduler_step.offer_where_sublocade_is(apps, None)
    scheduler_step.offer_where_sublocade_is(apps, None)  # twice: nothing doubled

    assert DosingWindow.objects.get(pk=sublocade.pk).services == ["buprenorphine_xr_monthly", BRIXADI]
    assert DosingWindow.objects.get(pk=oral.pk).services == ["methadone"]
    assert Closure.objects.get(pk=closed.pk).services == ["buprenorphine_xr_monthly", BRIXADI]
    assert Closure.objects.get(pk=everything.pk).services == []  # already closes every service

    scheduler_step.remove(apps, None)
    assert DosingWindow.objects.get(pk=sublocade.pk).services == ["buprenorphine_xr_monthly"]


def test_brixadi_monthly_is_reminded_like_sublocade_including_a_clinics_override():
    assert ReminderPolicy.objects.get(clinic=None, medication=BRIXADI).days_before == [7, 1]  # migrated
    clinic = ClinicFactory()
    ReminderPolicy.objects.create(clinic=clinic, medication="buprenorphine_xr_monthly", days_before=[3])
    notifications_step.install(apps, None)
    assert ReminderPolicy.objects.get(clinic=clinic, medication=BRIXADI).days_before == [3]
