"""Query filters for the scheduler API; bad values answer 400 naming the parameter (django-filter)."""

from __future__ import annotations

from datetime import date, timedelta

import django_filters
from django.db.models import Q, QuerySet
from django.utils import timezone

from scheduler.models import Patient, Plan


def patient_search(queryset: QuerySet[Patient], q: str) -> QuerySet[Patient]:
    """Name ("first last" or "last, first"), MRN, case-insensitive; or an exact date of birth YYYY-MM-DD."""
    q = q.strip()
    if not q:
        return queryset
    try:
        born = date.fromisoformat(q)
    except ValueError:
        born = None
    if born is not None and len(q) == 10:
        return queryset.filter(date_of_birth=born)
    for token in q.replace(",", " ").split():
        queryset = queryset.filter(
            Q(first_name__icontains=token) | Q(last_name__icontains=token) | Q(mrn__icontains=token)
        )
    return queryset


class PatientFilter(django_filters.FilterSet):
    clinic = django_filters.NumberFilter(field_name="clinic_id")
    q = django_filters.CharFilter(method="search", label="Name, MRN or date of birth (YYYY-MM-DD)")

    class Meta:
        model = Patient
        fields = ["clinic", "q"]

    def search(self, queryset: QuerySet[Patient], name: str, value: str) -> QuerySet[Patient]:
        return patient_search(queryset, value)


class PlanFilter(django_filters.FilterSet):
    patient = django_filters.NumberFilter(field_name="patient_id")
    active = django_filters.TypedChoiceFilter(
        choices=[("true", "true"), ("false", "false")], coerce=lambda v: v == "true",
        method="filter_active", label="true: active and not ended before today; false: the others",
    )

    class Meta:
        model = Plan
        fields = ["patient", "medication", "status", "active"]

    def filter_active(self, queryset: QuerySet[Plan], name: str, value: bool | None) -> QuerySet[Plan]:
        if value is None:
            return queryset
        # Plans of several clinics (time zones) in one query: take the earliest local "today" anywhere
        # (UTC-12), so a plan that ends today in its clinic is never hidden; it may show a few hours longer.
        today = (timezone.now() - timedelta(hours=12)).date()
        current = Q(status="active") & (Q(end_date__isnull=True) | Q(end_date__gte=today))
        return queryset.filter(current) if value else queryset.exclude(current)
