"""Forms for clinic setup: they only parse and validate input; the scheduler services write."""

from __future__ import annotations

from django import forms

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
    capacity = forms.IntegerField(min_value=1, max_value=10000, label="Capacity (visits per date)")


class ClosureForm(forms.Form):
    date = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    reason = forms.CharField(max_length=200, required=False)
    services = forms.MultipleChoiceField(
        choices=SERVICE_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="Leave all unticked to close the whole clinic.",
        label="Services closed",
    )


class HolidayImportForm(forms.Form):
    year = forms.IntegerField(min_value=2000, max_value=2100)
    whole_clinic = forms.BooleanField(
        required=False, label="Close the whole clinic (default: oral dosing only; diamorphine sessions run)"
    )
