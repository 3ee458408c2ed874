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


@pytest.mark.django_db
def test_seed_scale_writes_resolved_escalations_for_past_streaks_and_the_shipped_policies_texts():
    from notifications.models import Message
    from visits.models import Escalation

    call_command("seed_scale", "--clinics", "1", "--patients", "120", "--days", "60", "--future", "14", "--no-progress")
    escalations = Escalation.objects.all()
    assert escalations.exists()
    # Past streaks only: every escalation was resolved when the patient came back; open ones are the sweep's.
    assert not escalations.filter(resolved_at__isnull=True).exists()
    assert set(escalations.values_list("kind", flat=True)) <= {
        "outreach",
        "hold",
        "clinician_review",
        "reinduction",
        "overdue_injection",
    }
    oral = escalations.exclude(kind="overdue_injection")
    assert not oral.filter(consecutive_missed__lt=2).exists()  # the ladder's first escalation is outreach at 2 days
    texts = Message.objects.all()
    assert set(texts.values_list("purpose", flat=True)) <= {"reminder", "missed_checkin"}
    reminders = texts.filter(purpose="reminder")
    assert reminders.exists()
    assert not reminders.exclude(visit__kind="injection").exists()  # daily doses get no routine reminder
    assert not texts.filter(patient__sms_consent=False).exists()
    checkins = texts.filter(purpose="missed_checkin")
    assert checkins.exists()
    assert not checkins.exclude(visit__status="missed").exists()
    for body in texts.values_list("body", flat=True)[:50]:
        assert "methadone" not in body.lower() and "mg" not in body and len(body) <= 320


@pytest.mark.django_db(transaction=True)
def test_seed_scale_resumes_after_a_failed_clinic_and_refuses_once_every_clinic_is_seeded(monkeypatch):
    from scheduler.management.commands import seed_scale

    real = seed_scale._seed_clinic
    calls: list[int] = []

    def failing_on_the_second(**kwargs):  # noqa: ANN003, ANN202
        calls.append(kwargs["index"])
        if kwargs["index"] == 1:
            raise RuntimeError("killed")
        return real(**kwargs)

    monkeypatch.setattr(seed_scale, "_seed_clinic", failing_on_the_second)
    args = ("seed_scale", "--clinics", "3", "--patients", "30", "--days", "7", "--future", "2", "--no-progress")
    with pytest.raises(RuntimeError, match="killed"):
        call_command(*args)
    # The first clinic was committed whole; the failed one left nothing behind (its own transaction).
    assert list(Clinic.objects.filter(name__startswith="Scale clinic").values_list("name", flat=True)) == [
        "Scale clinic 1"
    ]
    assert Patient.objects.count() == 10
    first_visits = Visit.objects.count()
    monkeypatch.setattr(seed_scale, "_seed_clinic", real)
    call_command(*args)
    names = sorted(Clinic.objects.filter(name__startswith="Scale clinic").values_list("name", flat=True))
    assert names == ["Scale clinic 1", "Scale clinic 2", "Scale clinic 3"]
    assert Patient.objects.count() == 30
    assert Visit.objects.filter(clinic__name="Scale clinic 1").count() == first_visits  # not seeded twice
    with pytest.raises(CommandError, match="--reset"):
        call_command(*args)
    call_command("seed_scale", "--reset", "--clinics", "1", "--patients", "5", "--days", "3", "--no-progress")
    assert Patient.objects.count() == 5


def test_seed_scale_presets_are_a_chain_of_500_patient_clinics_with_a_year_and_the_horizon(settings):
    from scheduler.management.commands.seed_scale import _sizes

    settings.GENERATION_HORIZON_DAYS = 28
    assert _sizes({"scale": "chain"}) == (100, 50_000, 365, 28)
    assert _sizes({"scale": "15m"}) == (158, 79_000, 365, 28)
    assert _sizes({"scale": "1m", "days": 30}) == (11, 5_500, 30, 28)  # explicit options win
    assert _sizes({}) == (5, 20_000, 90, 7)
