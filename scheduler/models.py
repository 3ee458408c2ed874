"""The rules of time: clinics, dosing windows, closures, rule sets, patients, plans, pauses.

Everything a clinic can tune is data here (a RuleSet per clinic); the engine in
scheduler/engine.py turns these rows into plain values and answers "which days, which windows".
"""

from __future__ import annotations

import functools
import zoneinfo
from datetime import date
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

MEDICATION_CHOICES = [
    ("methadone", "Methadone"),
    ("buprenorphine", "Buprenorphine (sublingual)"),
    ("diamorphine", "Diamorphine (supervised injection)"),
    ("naltrexone_xr", "Naltrexone XR (monthly injection)"),
    ("buprenorphine_xr_monthly", "Buprenorphine XR monthly (Sublocade)"),
    ("buprenorphine_xr_weekly", "Buprenorphine XR weekly"),
    # Issue #15: Brixadi monthly has its own window (label: every 28 days, ±7 days), apart from Sublocade.
    ("buprenorphine_xr_monthly_brixadi", "Buprenorphine XR monthly (Brixadi)"),
]
MEDICATIONS = [value for value, _ in MEDICATION_CHOICES]
VISIT_KIND_SERVICES = ["counselling", "assessment", "callback"]
SERVICES = MEDICATIONS + VISIT_KIND_SERVICES


# Names the tz database ships that are not places: the host's own zone (`localtime`, which follows
# whatever machine runs us), the POSIX default rules file, and `Factory` (a placeholder whose
# abbreviation is "-00"). zoneinfo opens them all, so a clinic could be set to one.
_NOT_CLINIC_ZONES = frozenset({"localtime", "posixrules", "posix/localtime", "Factory", "right/localtime"})


@functools.cache
def canonical_timezones() -> frozenset[str]:
    # available_timezones() walks the tz database on disk: once per process is enough.
    return frozenset(zoneinfo.available_timezones()) - _NOT_CLINIC_ZONES


def validate_timezone(value: str) -> None:
    """An IANA zone name such as America/New_York; the host's `localtime`, `posixrules`, `Factory` are refused."""
    if not isinstance(value, str) or value not in canonical_timezones():
        raise ValidationError(f"{value!r} is not an IANA time zone (for example America/New_York).")


def validate_weekdays(value: Any) -> None:
    if not isinstance(value, list) or not value:
        raise ValidationError("Give a non-empty list of weekdays, Monday = 0 … Sunday = 6.")
    if any(not isinstance(d, int) or isinstance(d, bool) or not 0 <= d <= 6 for d in value):
        raise ValidationError("Weekdays are integers from 0 (Monday) to 6 (Sunday).")
    if len(set(value)) != len(value):
        raise ValidationError("Each weekday may appear once.")


def validate_services(value: Any) -> None:
    if not isinstance(value, list):
        raise ValidationError("Give a list of services.")
    unknown = [s for s in value if s not in SERVICES]
    if unknown:
        raise ValidationError(f"Unknown service(s) {unknown}; allowed: {', '.join(SERVICES)}.")


class TimeStamped(models.Model):
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class RuleSet(TimeStamped):
    """A clinic's attendance rules. Presets are read-only templates; a clinic edits its own copy.

    `rules` holds the JSON shape of scheduler.rules.Rules (see Rules.from_dict).
    """

    name = models.CharField(max_length=120)
    is_preset = models.BooleanField(default=False)
    rules = models.JSONField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["name"], condition=Q(is_preset=True), name="unique_preset_name")
        ]

    def __str__(self) -> str:
        return f"{self.name}{' (preset)' if self.is_preset else ''}"

    def clean(self) -> None:
        from scheduler.rules import Rules

        try:
            Rules.from_dict({**self.rules, "name": self.name})
        except (ValueError, TypeError, KeyError) as exc:
            raise ValidationError({"rules": str(exc)}) from exc

    def to_rules(self):  # type: ignore[no-untyped-def]
        from scheduler.rules import Rules

        return Rules.from_stored({**self.rules, "name": self.name})


class Clinic(TimeStamped):
    name = models.CharField(max_length=200)
    timezone = models.CharField(max_length=64, default="America/New_York", validators=[validate_timezone])
    phone = models.CharField(max_length=32, blank=True, default="")
    sms_name = models.CharField(
        max_length=40,
        help_text="Neutral name used in text messages; must not reveal treatment.",
    )
    country = models.CharField(max_length=2, default="US", help_text="ISO 3166 country for holidays and phones.")
    subdivision = models.CharField(max_length=10, blank=True, default="", help_text="State/region for holidays.")
    rule_set = models.ForeignKey(RuleSet, on_delete=models.PROTECT, related_name="clinics", null=True, blank=True)

    def __str__(self) -> str:
        return self.name


class DosingWindow(TimeStamped):
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="windows")
    weekdays = models.JSONField(validators=[validate_weekdays])
    start = models.TimeField()
    end = models.TimeField()
    services = models.JSONField(default=list, validators=[validate_services])
    capacity = models.PositiveIntegerField(help_text="Visits this window can take on one date.")
    stations = models.PositiveIntegerField(null=True, blank=True)
    minutes_per_visit = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["start", "id"]

    def __str__(self) -> str:
        return f"Window #{self.pk} {str(self.start)[:5]}–{str(self.end)[:5]} {self.services}"


class Closure(TimeStamped):
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="closures")
    date = models.DateField()
    reason = models.CharField(max_length=200, blank=True, default="")
    services = models.JSONField(default=list, blank=True, validators=[validate_services])

    class Meta:
        ordering = ["date", "id"]
        indexes = [models.Index(fields=["clinic", "date"])]

    def __str__(self) -> str:
        return f"{self.date} {self.reason}"


class Patient(TimeStamped):
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="patients")
    mrn = models.CharField("MRN", max_length=40)
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    date_of_birth = models.DateField(null=True, blank=True)
    phone = models.CharField(max_length=20, blank=True, default="", help_text="E.164")
    phone_invalid = models.BooleanField(default=False, help_text="The SMS provider rejected this number.")
    sms_consent = models.BooleanField(default=False)
    sms_consent_at = models.DateTimeField(null=True, blank=True)
    sms_consent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        help_text="The staff member who asked the patient and recorded the consent (empty: by a text reply or API).",
    )
    sms_consent_words = models.TextField(
        blank=True, default="", help_text="The words read to the patient when consent was recorded.",
    )
    sms_opted_out = models.BooleanField(default=False)
    sms_opted_out_at = models.DateTimeField(null=True, blank=True)
    language = models.CharField(max_length=8, default="en")
    timezone = models.CharField(
        max_length=64, blank=True, default="", validators=[validate_timezone],
        help_text="Patient's own time zone for quiet hours; empty = the clinic's.",
    )

    class Meta:
        ordering = ["last_name", "first_name", "id"]
        constraints = [models.UniqueConstraint(fields=["clinic", "mrn"], name="unique_mrn_per_clinic")]
        indexes = [
            models.Index(fields=["clinic", "last_name", "first_name"]),
            models.Index(fields=["clinic", "date_of_birth"]),
        ]

    def __str__(self) -> str:
        # Admin and logs see the id and MRN only; names stay on the page.
        return f"Patient #{self.pk} ({self.mrn})"

    @property
    def effective_timezone(self) -> str:
        return self.timezone or self.clinic.timezone


class Plan(TimeStamped):
    STATUS_CHOICES = [("active", "Active"), ("paused", "Paused"), ("ended", "Ended")]

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="plans")
    medication = models.CharField(max_length=32, choices=MEDICATION_CHOICES)
    start_date = models.DateField()
    treatment_start = models.DateField(help_text="Day 1 for take-home limits.")
    end_date = models.DateField(null=True, blank=True)
    doses_per_day = models.PositiveSmallIntegerField(default=1)
    min_interval_minutes = models.PositiveIntegerField(default=0)
    interval_days = models.PositiveIntegerField(null=True, blank=True)
    attendance_weekdays = models.JSONField(default=list)
    attendance_every_weeks = models.PositiveSmallIntegerField(default=1)
    status = models.CharField(max_length=10, choices=STATUS_CHOICES, default="active")
    takehome_approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="Clinician who decided the patient may have take-homes.",
    )
    takehome_approved_at = models.DateTimeField(null=True, blank=True)
    # API.md v1.1: the attendance pattern is the clinician's standing take-home decision. A hold, clinician
    # review or re-induction suspends it (the calendar turns take-home days into visit days from that
    # date) until a clinician approves again.
    takehome_approved = models.BooleanField(default=True)
    takehome_suspended_on = models.DateField(
        null=True, blank=True, help_text="Clinic-local date from which earned take-homes are suspended."
    )
    takehome_note = models.CharField(max_length=300, blank=True, default="", help_text="The last review's note.")
    # Issue #14: a methadone plan with doses_per_day 2 is a split dose — two sessions a visit day, the order in
    # force being the daily total. The first session gives this percent of it, the second the rest (empty: 50).
    split_first_share = models.PositiveSmallIntegerField(
        null=True, blank=True,
        help_text="Methadone split dose: percent of the daily total given at the first session (empty = 50).",
    )
    # Issue #16: what the rolling generation last produced this plan's visits from (its inputs and the plan's rows
    # from that day on, hashed; visits.generation). The hourly run skips a plan whose fingerprint still matches;
    # empty: never generated by the rolling job, or a visit was left out for lack of room (retried every run).
    generated_fingerprint = models.CharField(max_length=32, blank=True, default="", editable=False)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["status", "medication"])]

    def __str__(self) -> str:
        return f"Plan #{self.pk} {self.medication} for patient #{self.patient_id}"

    def active_on(self, day: date) -> bool:
        return self.start_date <= day and (self.end_date is None or day <= self.end_date)


class DoseOrder(models.Model):
    """A clinician's order for a plan's dose (issue #14): the amount in mg per dose (diamorphine: per session),
    in force from a clinic-local date until a later order. Orders are never edited: a change is a new order, so
    the list is the plan's full history, and doses already given keep the amount recorded on their visit."""

    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="orders")
    dose_mg = models.DecimalField(max_digits=7, decimal_places=2)
    effective_date = models.DateField(help_text="Clinic-local date from which the order is in force.")
    note = models.CharField(max_length=300, blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["effective_date", "created", "id"]
        indexes = [models.Index(fields=["plan", "effective_date"])]

    def __str__(self) -> str:
        return f"Order #{self.pk} plan #{self.plan_id} {self.dose_mg} mg from {self.effective_date}"


class Pause(TimeStamped):
    REASON_CHOICES = [
        ("guest_dosing", "Guest dosing at another clinic"),
        ("hospital", "Hospital"),
        ("custody", "Custody"),
        ("other", "Other"),
    ]
    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="pauses")
    start = models.DateField()
    end = models.DateField()
    reason = models.CharField(max_length=20, choices=REASON_CHOICES)
    note = models.TextField(blank=True, default="")
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["start", "id"]
        constraints = [models.CheckConstraint(condition=Q(end__gte=models.F("start")), name="pause_end_after_start")]


class StaffProfile(TimeStamped):
    ROLE_CHOICES = [
        ("front_desk", "Front desk"),
        ("nurse", "Nurse"),
        ("clinician", "Clinician"),
        ("manager", "Manager"),
        ("admin", "Admin"),
    ]
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff")
    role = models.CharField(max_length=20, choices=ROLE_CHOICES)
    clinics = models.ManyToManyField(Clinic, related_name="staff", blank=True)

    def __str__(self) -> str:
        return f"{self.user_id} ({self.role})"
