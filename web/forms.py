"""Forms for clinic setup: they only parse and validate input; the scheduler services write."""

from __future__ import annotations

from django import forms

from scheduler import bounds
from scheduler.models import SERVICES

WEEKDAY_CHOICES = [(0, "Mon"), (1, "Tue"), (2, "Wed"), (3, "Thu"), (4, "Fri"), (5, "Sat"), (6, "Sun")]
SERVICE_CHOICES = [(s, s.replace("_", " ").capitalize()) for s in SERVICES]


class WindowForm(forms.Form):
    weekdays = forms.TypedMultipleChoiceField(
        choices=WEEKDAY_CHOICES, coerce=int, widget=forms.CheckboxSelectMultiple, label="Weekdays"
    )
    start = forms.TimeField(widget=forms.TimeInput(attrs={"type": "time"}), label="Opens")
    end = forms.TimeField(widget=forms.TimeInput(attrs={"type": "time"}), label="Closes")
    services = forms.MultipleChoiceField(choices=SERVICE_CHOICES, widget=forms.CheckboxSelectMultiple)
    capacity = bounds.WholeNumberField(min_value=1, max_value=bounds.CAPACITY_MAX, label="Capacity (visits per date)")


class ClosureForm(forms.Form):
    date = bounds.BoundedDateField(widget=forms.DateInput(attrs={"type": "date"}))
    reason = forms.CharField(max_length=200, required=False)
    services = forms.MultipleChoiceField(
        choices=SERVICE_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="Leave all unticked to close the whole clinic.",
        label="Services closed",
    )
    confirm_past = forms.BooleanField(
        required=False,
        label="The date is in the past: add it anyway",
        help_text="Patients may already have been dosed that day; their visits are listed after adding.",
    )


class HolidayImportForm(forms.Form):
    year = bounds.WholeNumberField(min_value=2000, max_value=2100)
    whole_clinic = forms.BooleanField(
        required=False, label="Close the whole clinic (default: oral dosing only; diamorphine sessions run)"
    )


class TakeHomeForm(forms.Form):
    """The take-home doses typed at the dosing window (empty: none), and a clinician's reason for handing out
    more than the plan's calendar expects (API.md v1.1; the guard decides who may and when)."""

    take_home_doses = bounds.WholeNumberField(min_value=0, max_value=bounds.TAKE_HOME_DOSES_MAX, required=False)
    take_home_reason = forms.CharField(max_length=300, required=False, strip=True)


class DateRangeForm(forms.Form):
    """The dashboard's date_from/date_to (GET); both optional, each within scheduler.bounds."""

    date_from = bounds.BoundedDateField(required=False, input_formats=["%Y-%m-%d"])
    date_to = bounds.BoundedDateField(required=False, input_formats=["%Y-%m-%d"])


class DayForm(forms.Form):
    """One clinic-local date (booking, rescheduling, availability)."""

    date = bounds.BoundedDateField(input_formats=["%Y-%m-%d"])
