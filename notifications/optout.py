"""Patients' texting state: opt-out and opt-in (STOP/START, the provider's unsubscribed code) and numbers the
provider calls invalid."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from notifications.reminders import reminders_sync
from scheduler.models import Patient
from visits.models import StaffTask, Visit


def patients_opt_out(*, patient_ids: Iterable[int], now: datetime) -> int:
    return Patient.objects.filter(id__in=list(patient_ids), sms_opted_out=False).update(
        sms_opted_out=True, sms_opted_out_at=now
    )


def patients_opt_in(*, patient_ids: Iterable[int], now: datetime) -> int:
    """START/UNSTOP/YES: the patient asked by text from this number, which is consent, timestamped."""
    ids = list(patient_ids)
    n = Patient.objects.filter(id__in=ids, sms_opted_out=True).update(sms_opted_out=False)
    Patient.objects.filter(id__in=ids, sms_consent=False).update(sms_consent=True, sms_consent_at=now)
    visit_ids = Visit.objects.filter(
        patient_id__in=ids, status="scheduled", date__gte=now.date() - timedelta(days=1)
    ).values_list("id", flat=True)
    reminders_sync(visit_ids=list(visit_ids))
    return n


def patient_phone_invalid(*, patient: Patient, visit_id: int | None, code: str, now: datetime) -> None:
    Patient.objects.filter(id=patient.pk).update(phone_invalid=True)
    if not StaffTask.objects.filter(patient=patient, kind="phone_invalid", done_at__isnull=True).exists():
        StaffTask.objects.create(
            clinic_id=patient.clinic_id,
            patient=patient,
            visit_id=visit_id,
            kind="phone_invalid",
            detail=f"The text provider rejected the phone number on file (error {code}). "
            "Check the number with the patient.",
        )
