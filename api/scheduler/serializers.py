"""The plan serializer: it shows a naltrexone plan's first injection date, which visits' selectors compute from
the doses recorded, so it lives above visits (the other scheduler serializers stay in scheduler/api/)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from scheduler import bounds
from scheduler.api.serializers import (
    BoundedDateField,
    BoundedIntegerField,
    ScopedPrimaryKeyField,
    WeekdaysField,
)
from scheduler.models import MEDICATION_CHOICES, Patient, Plan
from scheduler.selectors import rules_for_clinic
from scheduler.services import clinic_today, dose_in_force
from visits.selectors import first_injection_from


class PlanSerializer(serializers.ModelSerializer):
    patient = ScopedPrimaryKeyField(queryset=Patient.objects.all(), scope_field="clinic")
    medication = serializers.ChoiceField(choices=MEDICATION_CHOICES)
    start_date = BoundedDateField()
    treatment_start = BoundedDateField(required=False, help_text="Day 1 for take-home limits; default start_date.")
    end_date = BoundedDateField(required=False, allow_null=True, help_text="Empty: no end.")
    doses_per_day = BoundedIntegerField(
        min_value=bounds.DOSES_PER_DAY_MIN, max_value=bounds.DOSES_PER_DAY_MAX, default=1
    )
    min_interval_minutes = BoundedIntegerField(min_value=0, max_value=bounds.MIN_INTERVAL_MINUTES_MAX, default=0)
    interval_days = BoundedIntegerField(
        min_value=1, max_value=bounds.INTERVAL_DAYS_MAX, required=False, allow_null=True
    )
    attendance_weekdays = WeekdaysField(
        required=False, allow_empty=True, help_text="Days the patient comes in (oral plans); default every day."
    )
    attendance_every_weeks = BoundedIntegerField(min_value=1, max_value=bounds.ATTENDANCE_EVERY_WEEKS_MAX, default=1)
    takehome_reviewed_at = serializers.DateTimeField(
        source="takehome_approved_at",
        read_only=True,
        allow_null=True,
        help_text="When a clinician last reviewed this plan's take-homes (POST …/takehome-review/).",
    )
    takehome_reviewed_by = serializers.IntegerField(
        source="takehome_approved_by_id", read_only=True, allow_null=True, help_text="Who reviewed them (user id)."
    )
    takehome_approved = serializers.BooleanField(
        read_only=True,
        help_text="The clinician's standing take-home decision (API.md v1.1): false while a hold, clinician review "
        "or re-induction has suspended earned take-homes, until a clinician approves again.",
    )
    takehome_suspended_on = serializers.DateField(read_only=True, allow_null=True)
    current_dose_mg = serializers.SerializerMethodField(
        help_text="The dose order in force today at the clinic (mg per dose; diamorphine per session; a methadone "
        "split dose: the daily total), or null."
    )
    split_first_share = BoundedIntegerField(
        min_value=1, max_value=99, required=False, allow_null=True,
        help_text="A methadone split dose (doses_per_day 2): the first session's percent of the daily total; "
        "empty = 50. The second session gives the rest.",
    )
    first_injection_from = serializers.SerializerMethodField(
        help_text="Naltrexone XR: the first clinic-local date the first injection may be given (the last opioid dose "
        "or take-home recorded here + the rule set's naltrexone_opioid_free_days), or null."
    )

    @extend_schema_field({"type": "string", "format": "date", "nullable": True})
    def get_first_injection_from(self, plan: Plan) -> str | None:
        if plan.medication != "naltrexone_xr":
            return None
        day = first_injection_from(plan, rules_for_clinic(plan.patient.clinic))
        return None if day is None else day.isoformat()

    @extend_schema_field(
        {"type": "string", "format": "decimal", "pattern": r"^[0-9]{1,5}\.[0-9]{2}$", "nullable": True}
    )
    def get_current_dose_mg(self, plan: Plan) -> str | None:
        amount = dose_in_force(plan.orders.all(), clinic_today(plan.patient.clinic))
        return None if amount is None else f"{amount:.2f}"

    class Meta:
        model = Plan
        fields = [
            "id", "patient", "medication", "start_date", "treatment_start", "end_date", "doses_per_day",
            "min_interval_minutes", "interval_days", "attendance_weekdays", "attendance_every_weeks", "status",
            "takehome_reviewed_at", "takehome_reviewed_by", "takehome_approved", "takehome_suspended_on",
            "current_dose_mg", "split_first_share", "first_injection_from",
        ]


