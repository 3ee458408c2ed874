"""Forms for clinic setup: they only parse and validate input; the scheduler services write."""

from __future__ import annotations

from typing import Any

from django import forms

from scheduler import bounds
from scheduler.models import MEDICATION_CHOICES, SERVICES

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


# Languages by their names (the patient's language for texts); the value stored is the ISO 639-1 code.
LANGUAGE_CHOICES = [
    ("en", "English"),
    ("es", "Spanish"),
    ("fr", "French"),
    ("pt", "Portuguese"),
    ("zh", "Chinese"),
    ("vi", "Vietnamese"),
    ("ru", "Russian"),
    ("ar", "Arabic"),
    ("ht", "Haitian Creole"),
]

# DOMAIN §5: texts only to patients who opted in, to the number they gave; these are the words read to them.
CONSENT_WORDS = (
    "We can send you appointment reminders by text message to this number. The texts never say what the "
    "appointment is for. Standard message rates may apply. Reply STOP at any time to stop them. "
    "Do you agree to receive them?"
)


class PatientForm(forms.Form):
    """Registering or editing a patient: parsing only; scheduler.services validates (MRN, phone, consent) and writes."""

    first_name = forms.CharField(max_length=100, label="First name")
    last_name = forms.CharField(max_length=100, label="Last name")
    date_of_birth = bounds.BoundedDateField(
        date_range=bounds.birth_range,
        input_formats=["%Y-%m-%d"],
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        label="Date of birth",
    )
    mrn = forms.CharField(max_length=40, label="MRN")
    phone = forms.CharField(max_length=40, required=False, label="Mobile phone")
    language = forms.ChoiceField(choices=LANGUAGE_CHOICES, initial="en", label="Language for texts")
    sms_consent = forms.BooleanField(
        required=False, label="The patient agreed to receive text reminders at this number (words read above)"
    )

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        language = self.initial.get("language")
        codes = {code for code, _ in LANGUAGE_CHOICES}
        if language and language not in codes:
            # A language set through the API keeps its place in the list rather than being silently changed.
            field = self.fields["language"]
            assert isinstance(field, forms.ChoiceField)
            field.choices = [*LANGUAGE_CHOICES, (language, f"Other ({language})")]


# --- plans, pauses and outreach calls from the patient page and the escalations inbox (issue #13) ---------------

PAUSE_REASON_CHOICES = [
    ("guest_dosing", "Guest dosing at another clinic"),
    ("hospital", "Hospital"),
    ("custody", "Custody"),
    ("other", "Other"),
]


class PlanForm(forms.Form):
    """A plan as a clinician types it; scheduler.services validates it against the rule set and the windows."""

    medication = forms.ChoiceField(choices=MEDICATION_CHOICES, label="Medication")
    start_date = bounds.BoundedDateField(widget=forms.DateInput(attrs={"type": "date"}), label="Plan starts on")
    treatment_start = bounds.BoundedDateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        label="Treatment started on (day 1 for take-home limits; empty: the plan's start)",
    )
    attendance_weekdays = forms.TypedMultipleChoiceField(
        choices=WEEKDAY_CHOICES, coerce=int, required=False, widget=forms.CheckboxSelectMultiple,
        label="Attendance days (empty: every day)",
    )
    attendance_every_weeks = bounds.WholeNumberField(
        min_value=1, max_value=4, required=False, label="Attend every N weeks (1: every week)"
    )
    doses_per_day = bounds.WholeNumberField(
        min_value=1, max_value=3, required=False, label="Sessions a day (diamorphine only: 1 to 3)"
    )
    min_interval_minutes = bounds.WholeNumberField(
        min_value=0, max_value=720, required=False, label="Minutes between sessions (diamorphine; 0: the rule set's)"
    )
    interval_days = bounds.WholeNumberField(
        min_value=1, max_value=120, required=False,
        label="Days between doses (injections; empty: the usual. Buprenorphine: 2 for alternate days)",
    )

    def __init__(self, *args: Any, medication_fixed: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if medication_fixed:
            del self.fields["medication"]

    def plan_data(self) -> dict[str, object]:
        """The cleaned values as scheduler.services.plan_create/plan_update take them."""
        data = self.cleaned_data
        values: dict[str, object] = {
            "start_date": data["start_date"],
            "treatment_start": data.get("treatment_start") or data["start_date"],
            "attendance_weekdays": sorted(data.get("attendance_weekdays") or range(7)),
            "attendance_every_weeks": data.get("attendance_every_weeks") or 1,
            "doses_per_day": data.get("doses_per_day") or 1,
            "min_interval_minutes": data.get("min_interval_minutes") or 0,
            "interval_days": data.get("interval_days"),
        }
        if "medication" in data:
            values["medication"] = data["medication"]
        return values


class PlanEndForm(forms.Form):
    end_date = bounds.BoundedDateField(widget=forms.DateInput(attrs={"type": "date"}), label="Last day of the plan")


class PauseForm(forms.Form):
    start = bounds.BoundedDateField(widget=forms.DateInput(attrs={"type": "date"}), label="First day away")
    end = bounds.BoundedDateField(widget=forms.DateInput(attrs={"type": "date"}), label="Last day away")
    reason = forms.ChoiceField(choices=PAUSE_REASON_CHOICES, label="Why")
    note = forms.CharField(max_length=300, required=False, label="Note (for guest dosing: the other clinic)")


OUTREACH_OUTCOME_CHOICES = [
    ("reached", "Reached"),
    ("no_answer", "No answer"),
    ("wrong_number", "Wrong number"),
    ("message_left", "Message left"),
]


class OutreachCallForm(forms.Form):
    outcome = forms.ChoiceField(choices=OUTREACH_OUTCOME_CHOICES, label="Outcome")
    note = forms.CharField(max_length=300, required=False, label="Note")
