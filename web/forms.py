"""Forms for clinic setup: they only parse and validate input; the scheduler services write."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms

from scheduler import bounds
from scheduler.models import MEDICATION_CHOICES, SERVICES
from scheduler.services import (
    CONSENT_WORDS,  # noqa: F401 - DOMAIN §5: the words read, shown on the form
    DOSE_MG_MAX,
)

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
    # Issue #14: the amount given (empty: the order in force) and why it is less than the order; the service
    # decides (more than the order is refused, less needs the reason).
    dose_mg = forms.DecimalField(min_value=0, max_value=DOSE_MG_MAX, max_digits=7, decimal_places=2, required=False)
    dose_reason = forms.CharField(max_length=300, required=False, strip=True)


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
        min_value=1, max_value=3, required=False,
        label="Sessions a day (diamorphine: 1 to 3; methadone: 2 for a split dose)",
    )
    # Issue #14: a methadone split dose gives the first session this percent of the daily order.
    split_first_share = bounds.WholeNumberField(
        min_value=1, max_value=99, required=False,
        label="First dose's share of the day, percent (methadone split dose; empty: 50)",
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
            "split_first_share": data.get("split_first_share"),
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


# --- doses (issue #14): orders, tapers, COWS, restarting after an escalation -----------------------------------


def _mg_field(label: str, *, required: bool = True) -> forms.DecimalField:
    return forms.DecimalField(
        min_value=Decimal("0.01"), max_value=DOSE_MG_MAX, max_digits=7, decimal_places=2, required=required,
        label=label,
    )


class DoseOrderForm(forms.Form):
    """A clinician's order as typed; scheduler.services.dose_order_create decides (limits, induction steps)."""

    dose_mg = _mg_field("Dose (mg)")
    effective_date = bounds.BoundedDateField(input_formats=["%Y-%m-%d"], label="From (clinic date)")
    note = forms.CharField(max_length=300, required=False, strip=True, label="Note")


class TaperForm(forms.Form):
    """A withdrawal taper as typed; scheduler.services.dose_taper_create makes the series of orders."""

    start_mg = _mg_field("Start dose (mg)")
    step_mg = _mg_field("Step down by (mg)")
    every_days = bounds.WholeNumberField(min_value=1, max_value=28, label="Days between steps")
    start_date = bounds.BoundedDateField(input_formats=["%Y-%m-%d"], label="First day (clinic date)")
    note = forms.CharField(max_length=300, required=False, strip=True, label="Note")


class RestartDoseForm(forms.Form):
    """The dose to restart on when a clinician resolves a hold, review, re-induction or re-titration."""

    restart_dose_mg = _mg_field("Restart dose (mg)", required=False)


class ReinductionForm(forms.Form):
    """A re-induction schedule when a clinician resolves a hold, review, re-induction or re-titration; the resolve
    service (scheduler.services.dose_reinduction_create) decides the induction limits."""

    start_mg = _mg_field("Start on (mg)")
    step_mg = _mg_field("Raise by (mg)")
    every_days = bounds.WholeNumberField(min_value=1, max_value=28, label="Every N days")
    target_mg = _mg_field("Up to (mg)")


def take_home_amounts(data: Any, count: int) -> tuple[list[Decimal] | None, str]:
    """The per-bottle amounts typed on the board (`take_home_mg_1`..`take_home_mg_N`): None when all are empty
    (the service's default, the order in force on each day), else one amount per bottle; or what is wrong."""
    raw = [(data.get(f"take_home_mg_{n}") or "").strip()[:20] for n in range(1, count + 1)]
    if not any(raw):
        return None, ""
    amounts: list[Decimal] = []
    errors: list[str] = []
    for n, text in enumerate(raw, start=1):
        if not text:
            errors.append(f"Bottle {n} (mg): type an amount for every bottle, or leave them all empty to give the "
                          "order in force.")
            continue
        try:
            amounts.append(_mg_field(f"Bottle {n} (mg)").clean(text))
        except forms.ValidationError as exc:
            errors.append(f"Bottle {n} (mg): give the amount in mg, for example 30 or 27.5. {' '.join(exc.messages)}")
    if errors:
        return None, " ".join(errors)
    return amounts, ""


def field_errors(form: forms.Form) -> dict[str, str]:
    """A form's errors as one sentence per field (shown beside it), naming the field's label and the rule."""
    out = {}
    for name, errors in form.errors.items():
        if name not in form.fields:
            out["form"] = " ".join(str(e) for e in errors)  # errors of the whole form (none of its fields)
            continue
        out[name] = f"{form.fields[name].label or name}: {' '.join(str(e) for e in errors)}"
    return out
