"""manage.py import_holidays: public holidays as closures, idempotent, oral services by default."""

from __future__ import annotations

from datetime import date
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from scheduler.models import Closure
from tests.factories import PatientFactory, PlanFactory


def run(*args):
    out, err = StringIO(), StringIO()
    call_command("import_holidays", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_it_closes_oral_dosing_on_the_clinics_public_holidays(clinic):
    run("--clinic", str(clinic.pk), "--year", "2027")

    christmas = Closure.objects.get(clinic=clinic, date=date(2027, 12, 25))
    assert christmas.services == ["methadone", "buprenorphine"]
    assert "Christmas" in christmas.reason


def test_running_it_twice_adds_nothing(clinic):
    run("--clinic", str(clinic.pk), "--year", "2027")
    count = Closure.objects.count()

    out, _ = run("--clinic", str(clinic.pk), "--year", "2027")

    assert Closure.objects.count() == count
    assert out.strip().endswith(f"0 closures added, {count} already there, 0 refused.")


def test_whole_clinic_closures_skip_days_that_would_strand_diamorphine_patients(clinic):
    PlanFactory(patient=PatientFactory(clinic=clinic), medication="diamorphine", start_date=date(2026, 11, 2))

    _, err = run("--clinic", str(clinic.pk), "--year", "2027", "--all-services")

    assert "diamorphine" in err
    assert not Closure.objects.filter(services=[]).exists()


def test_an_unknown_clinic_is_an_error(db):
    with pytest.raises(CommandError):
        run("--clinic", "999999", "--year", "2027")
