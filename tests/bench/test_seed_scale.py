"""seed_scale: realistic scale data in one COPY, refused twice, replaced with --reset."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from scheduler.models import Clinic, Patient, Plan
from visits.models import Visit


@pytest.mark.django_db
def test_seed_scale_makes_clinics_patients_and_attended_history_and_refuses_a_second_run():
    call_command("seed_scale", "--clinics", "2", "--patients", "60", "--days", "14", "--no-progress")
    clinics = Clinic.objects.filter(name__startswith="Scale clinic")
    assert clinics.count() == 2
    assert Patient.objects.filter(clinic__in=clinics).count() == 60
    assert Plan.objects.filter(patient__clinic__in=clinics).count() == 60
    visits = Visit.objects.filter(clinic__in=clinics)
    statuses = set(visits.values_list("status", flat=True))
    assert {"completed", "missed", "scheduled"} <= statuses
    assert visits.filter(status="completed", completed_at__isnull=True).count() == 0
    assert set(visits.values_list("kind", flat=True)) <= {"dose", "injection"}
    with pytest.raises(CommandError, match="--reset"):
        call_command("seed_scale", "--clinics", "2", "--patients", "60", "--days", "14", "--no-progress")
    call_command("seed_scale", "--clinics", "1", "--patients", "10", "--days", "7", "--reset", "--no-progress")
    assert Clinic.objects.filter(name__startswith="Scale clinic").count() == 1
    assert Patient.objects.count() == 10
