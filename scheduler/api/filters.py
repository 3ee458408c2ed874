"""Query filters for the API; bad values answer 400 naming the parameter (django-filter).

Every id filter (`clinic`, `patient`, `plan`, `visit`) is a ScopedIdFilter: an id of another clinic (or
no such id) answers 404, as it does in a URL (API.md), instead of an empty page. Dates are BoundedDateFilters
(scheduler.bounds), ids ASCII digits within a bigint.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import django_filters
from django import forms
from django.db.models import Model, Q, QuerySet
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework.exceptions import NotFound

from scheduler import bounds
from scheduler.api.serializers import BoundedDateField
from scheduler.models import Clinic, Patient, Plan
from scheduler.permissions import clinic_ids_for, scope_to_clinics


@extend_schema_field(
    {
        "type": "integer",
        "minimum": 1,
        "maximum": bounds.ID_MAX,
        "description": "An id of your clinics; another clinic's (or no such) id answers 404.",
    }
)
class ScopedIdFilter(django_filters.NumberFilter):
    """`?clinic=`, `?patient=`, ...: an id the user may see; another clinic's (or no such) id answers 404."""

    field_class = bounds.WholeNumberField

    def __init__(self, *, model: type[Model], scope_field: str, **kwargs: Any) -> None:
        name = model._meta.verbose_name
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", bounds.ID_MAX)
        kwargs.setdefault("help_text", f"A {name} id of your clinics; another clinic's id answers 404.")
        super().__init__(**kwargs)
        self.scope_model, self.scope_field = model, scope_field

    def get_max_validator(self) -> None:
        return None  # WholeNumberField bounds the value itself

    def filter(self, qs: QuerySet[Any], value: Any) -> QuerySet[Any]:
        if value is None:
            return qs
        user = getattr(self.parent.request, "user", None)
        if not self._one_of_theirs(user, value):
            param = self.field_name.removesuffix("_id")
            raise NotFound(f"No {self.scope_model._meta.verbose_name} with id {value} in your clinics (?{param}=).")
        return super().filter(qs, value)

    def _one_of_theirs(self, user: Any, value: Any) -> bool:
        """Whether the user may see the row. A clinic id among the user's clinic ids (read in this request from their
        clinics, so the clinic exists) needs no query (issue #16: every clinic's list asks ?clinic=)."""
        if self.scope_model is Clinic and self.scope_field == "id":
            ids = clinic_ids_for(user)
            if ids is not None and value in ids:
                return True
        visible = scope_to_clinics(self.scope_model._default_manager.filter(pk=value), user, field=self.scope_field)
        return bool(visible.exists())


class FormClassOnce:
    """A FilterSet mixin: the form class built once per filterset class, not on every request. django-filter builds
    it with `type()` from the request's fresh copies of the filters, each making its form field anew (issue #16:
    a visit list's request spent more on that than on its count). The fields depend on the filters' declarations
    only, and Django copies a form class's fields for each form it makes, so one class serves every request."""

    def get_form_class(self) -> type[forms.Form]:
        cls = type(self)
        made: type[forms.Form] | None = cls.__dict__.get("_form_class_once")
        if made is None:
            made = super().get_form_class()  # type: ignore[misc]
            cls._form_class_once = made  # type: ignore[attr-defined]
        return made


@extend_schema_field(BoundedDateField)  # its exact pattern, computed when the schema is generated
class BoundedDateFilter(django_filters.DateFilter):
    """A query date within scheduler.bounds.schedule_range (checked when the request is read)."""

    field_class = bounds.BoundedDateField

    def __init__(self, **kwargs: Any) -> None:
        kwargs["help_text"] = " ".join(t for t in (kwargs.get("help_text", ""), bounds.SCHEDULE_RANGE_TEXT) if t)
        super().__init__(**kwargs)


@extend_schema_field({"type": "boolean"})
class StrictBooleanFilter(django_filters.BooleanFilter):
    """`true` or `false`; anything else answers 400 (django-filter's BooleanWidget ignored other values)."""

    field_class = forms.TypedChoiceField

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("choices", [("true", "true"), ("false", "false")])
        kwargs.setdefault("coerce", lambda value: value == "true")
        kwargs.setdefault("empty_value", None)
        super().__init__(**kwargs)


def clinic_filter() -> ScopedIdFilter:
    return ScopedIdFilter(field_name="clinic_id", model=Clinic, scope_field="id")


def patient_filter(field_name: str = "patient_id") -> ScopedIdFilter:
    return ScopedIdFilter(field_name=field_name, model=Patient, scope_field="clinic")


def plan_filter(field_name: str = "plan_id") -> ScopedIdFilter:
    return ScopedIdFilter(field_name=field_name, model=Plan, scope_field="patient__clinic")


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
    clinic = clinic_filter()
    q = django_filters.CharFilter(method="search", label="Name, MRN or date of birth (YYYY-MM-DD)")

    class Meta:
        model = Patient
        fields = ["clinic", "q"]

    def search(self, queryset: QuerySet[Patient], name: str, value: str) -> QuerySet[Patient]:
        return patient_search(queryset, value)


class PlanFilter(django_filters.FilterSet):
    patient = patient_filter()
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
