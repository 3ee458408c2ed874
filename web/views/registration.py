"""Registering a patient and editing their details from the staff pages (front desk, nurses, clinicians, admin).

The form only parses; scheduler.services.patient_create/patient_update validate (MRN unique in the clinic, phone
in the clinic's national format, consent needs a number) and write. A refusal goes back next to its field with
what was typed kept (STYLE.md).
Consent to texts newly given is recorded with who asked, when, and the words on the form (CONSENT_WORDS) that
were read to the patient."""

from __future__ import annotations

from typing import Any

import phonenumbers
from django.contrib import messages
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from scheduler.errors import RuleViolation
from scheduler.models import Clinic, Patient
from scheduler.permissions import FRONT_DESK
from scheduler.services import patient_create, patient_update, phone_to_e164
from web.access import clinic_or_404, patient_or_404, require, staff_view
from web.forms import CONSENT_WORDS, PatientForm
from web.views.common import page_context

FIELDS = ("first_name", "last_name", "date_of_birth", "mrn", "phone", "language", "sms_consent")


def phone_example(clinic: Clinic) -> str:
    """A number in the clinic's national format, for the hint and the error (never the library's own text)."""
    example = phonenumbers.example_number_for_type(clinic.country or "US", phonenumbers.PhoneNumberType.MOBILE)
    if example is None:
        return ""
    return phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.NATIONAL)


def _phone_error(clinic: Clinic) -> str:
    example = phone_example(clinic)
    hint = f", for example {example}" if example else ""
    return f"Enter a mobile number in the clinic's national format{hint}, or with its country code (+…)."


def _same_name_and_birth(clinic: Clinic, data: dict[str, Any], exclude: int | None) -> list[Patient]:
    qs = Patient.objects.filter(
        Q(first_name__iexact=data["first_name"].strip()) & Q(last_name__iexact=data["last_name"].strip()),
        clinic=clinic,
        date_of_birth=data["date_of_birth"],
    )
    if exclude is not None:
        qs = qs.exclude(pk=exclude)
    return list(qs.order_by("id")[:5])


def _warn_duplicates(request: HttpRequest, patient: Patient) -> None:
    """Not a block: two people can share a name and a birthday. The front desk checks it is not the same person."""
    others = _same_name_and_birth(
        patient.clinic,
        {"first_name": patient.first_name, "last_name": patient.last_name, "date_of_birth": patient.date_of_birth},
        exclude=patient.pk,
    )
    if not others:
        return
    links = format_html_join(
        ", ",
        '<a href="{}">{} {} (MRN {})</a>',
        ((reverse("web:patient", args=[o.pk]), o.first_name, o.last_name, o.mrn) for o in others),
    )
    messages.warning(
        request,
        format_html(
            "Check this is not a second record of the same person: {} also has this name and date of birth.", links
        ),
    )


def _render(
    request: HttpRequest, clinic: Clinic, form: PatientForm, patient: Patient | None, status: int = 200
) -> HttpResponse:
    context = page_context(
        request,
        clinic,
        nav_active="patients",
        form=form,
        patient=patient,
        consent_words=CONSENT_WORDS,
        phone_example=phone_example(clinic),
    )
    return render(request, "web/patient_form.html", context, status=status)


def _refused(form: PatientForm, clinic: Clinic, exc: RuleViolation) -> None:
    field = exc.field if exc.field in form.fields else None
    message = _phone_error(clinic) if field == "phone" else exc.message
    form.add_error(field, message)


@never_cache
@staff_view
@require_http_methods(["GET", "HEAD", "POST"])
def register(request: HttpRequest, clinic_id: int) -> HttpResponse:
    clinic = clinic_or_404(request.user, clinic_id)
    require(request.user, FRONT_DESK)
    if request.method != "POST":
        return _render(request, clinic, PatientForm(), None)
    form = PatientForm(request.POST)
    if not form.is_valid():
        return _render(request, clinic, form, None, status=400)
    try:
        patient = patient_create(
            clinic=clinic, data={k: form.cleaned_data[k] for k in FIELDS}, by=request.user, consent_words=CONSENT_WORDS
        )
    except RuleViolation as exc:
        _refused(form, clinic, exc)
        return _render(request, clinic, form, None, status=exc.status_code)
    consent = " Consent to texts recorded." if patient.sms_consent else ""
    messages.success(request, f"Registered {patient.first_name} {patient.last_name} (MRN {patient.mrn}).{consent}")
    _warn_duplicates(request, patient)
    return redirect("web:patient", patient_id=patient.pk)


def _initial(patient: Patient) -> dict[str, Any]:
    initial = {name: getattr(patient, name) for name in FIELDS}
    # The date input takes ISO dates (the browser shows them in the user's own format).
    initial["date_of_birth"] = patient.date_of_birth.isoformat() if patient.date_of_birth else ""
    if patient.phone:
        number = phonenumbers.parse(patient.phone, None)
        same_country = phonenumbers.region_code_for_number(number) == (patient.clinic.country or "US").upper()
        style = (
            phonenumbers.PhoneNumberFormat.NATIONAL if same_country else phonenumbers.PhoneNumberFormat.INTERNATIONAL
        )
        initial["phone"] = phonenumbers.format_number(number, style)
    return initial


def _phone_changed(patient: Patient, typed: str) -> bool:
    try:
        return phone_to_e164(typed, country=patient.clinic.country) != patient.phone
    except RuleViolation:
        return True


@never_cache
@staff_view
@require_http_methods(["GET", "HEAD", "POST"])
def edit(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = patient_or_404(request.user, patient_id)
    require(request.user, FRONT_DESK)
    clinic = patient.clinic
    if request.method != "POST":
        return _render(request, clinic, PatientForm(initial=_initial(patient)), patient)
    form = PatientForm(request.POST, initial=_initial(patient))
    if not form.is_valid():
        return _render(request, clinic, form, patient, status=400)
    data = {k: form.cleaned_data[k] for k in FIELDS}
    new_number = _phone_changed(patient, data["phone"])
    if new_number and patient.sms_consent:
        # DOMAIN §5: consent is to the number the patient gave; a new number needs consent asked again.
        data.pop("sms_consent")
    try:
        updated = patient_update(patient=patient, data=data, by=request.user, consent_words=CONSENT_WORDS)
    except RuleViolation as exc:
        _refused(form, clinic, exc)
        return _render(request, clinic, form, patient, status=exc.status_code)
    note = ""
    if patient.sms_consent and not updated.sms_consent:
        note = " Consent to texts was for the old number: ask the patient again and record it for the new one."
    messages.success(request, f"Saved {updated.first_name} {updated.last_name} (MRN {updated.mrn}).{note}")
    _warn_duplicates(request, updated)
    return redirect("web:patient", patient_id=updated.pk)
