"""No text may reveal treatment (DOMAIN.md §5): the word list, every template, the clinic's sms_name."""

from __future__ import annotations

import pytest

from notifications.defaults import DEFAULT_POLICIES, DEFAULT_TEMPLATES
from notifications.models import MessageTemplate, ReminderPolicy
from notifications.privacy import FORBIDDEN_WORDS, ForbiddenContent, find_forbidden
from notifications.rendering import GSM7, MessageTooLong, render, validate_template

LONG_VALUES = {
    "first_name": "Maximiliana-Guadalupe",
    "initials": "M.G.",
    "clinic": "Riverside Community Health Partners",  # 35 of the 40 characters sms_name allows
    "date": "Wed Sep 30",
    "time": "12:30 PM",
    "phone": "+442071234567890",
}


@pytest.mark.parametrize("word", FORBIDDEN_WORDS)
def test_every_forbidden_word_is_found_in_any_case(word):
    assert find_forbidden(f"Hello {word.upper()} there") == word.lower()
    assert find_forbidden(f"hello {word.lower()}.") == word.lower()


def test_it_matches_whole_words_and_plurals_only():
    assert find_forbidden("Your doses are ready") == "dose"
    assert find_forbidden("opioids") == "opioid"
    assert find_forbidden("Otpwise, matter, mathematics, dosewise, addictive") is None
    assert find_forbidden("Riverside Health") is None


@pytest.mark.parametrize(("key", "body"), sorted(DEFAULT_TEMPLATES.items()))
def test_every_default_template_is_neutral_short_and_gsm7(key, body):
    validate_template(body)
    text = render(body, LONG_VALUES, max_chars=160)
    assert len(text) <= 160
    assert find_forbidden(text) is None
    assert set(text) <= GSM7, f"{key}: non-GSM-7 characters {set(text) - GSM7}"


@pytest.mark.django_db
def test_every_template_in_the_database_is_neutral_and_fits():
    templates = list(MessageTemplate.objects.all())
    assert {(t.purpose, t.language) for t in templates if t.clinic_id is None} == set(DEFAULT_TEMPLATES)
    for template in templates:
        if template.clinic_id is None:
            assert template.body == DEFAULT_TEMPLATES[(template.purpose, template.language)]  # code and DB agree
        assert find_forbidden(template.body) is None, template
        assert len(render(template.body, LONG_VALUES, max_chars=160)) <= 160


@pytest.mark.django_db
def test_the_default_policies_are_installed_by_migration():
    rows = {p.medication: p for p in ReminderPolicy.objects.filter(clinic__isnull=True)}
    assert {m: (p.days_before, p.missed_checkin) for m, p in rows.items()} == {
        m: (v["days_before"], v["missed_checkin"]) for m, v in DEFAULT_POLICIES.items()
    }


def test_a_long_first_name_is_shortened_instead_of_exceeding_the_limit():
    body = DEFAULT_TEMPLATES[("reminder", "en")]
    text = render(body, {**LONG_VALUES, "first_name": "Bartholomew-Alexander" * 3}, max_chars=160)
    assert len(text) <= 160
    assert text.startswith("Hi Bartho")
    assert len(text) == 160  # shortened just enough, never more


def test_it_refuses_a_text_that_cannot_fit():
    with pytest.raises(MessageTooLong):
        render(DEFAULT_TEMPLATES[("reminder", "en")], LONG_VALUES, max_chars=60)


def test_a_clinic_sms_name_with_a_forbidden_word_is_refused_at_render():
    with pytest.raises(ForbiddenContent, match="methadone"):
        render(DEFAULT_TEMPLATES[("reminder", "en")], {**LONG_VALUES, "clinic": "Eastside Methadone"}, max_chars=160)


@pytest.mark.django_db
def test_a_template_with_a_forbidden_word_fails_validation(clinic):
    from django.core.exceptions import ValidationError

    template = MessageTemplate(
        clinic=clinic, purpose="reminder", language="en", body="Time for your dose, {first_name}"
    )
    with pytest.raises(ValidationError):
        template.full_clean()


@pytest.mark.parametrize("text", ["Your 30 mg is ready", "bring 2.5ml bottle", "8 milligrams", "5 MG today", "40mg"])
def test_amounts_with_their_unit_are_refused_in_texts(text):
    from notifications.privacy import find_forbidden

    assert find_forbidden(text) is not None


@pytest.mark.parametrize("text", ["See you at 10:30 on Mon 3 Nov", "Call 212-555-0100", "Room 12, 2nd floor"])
def test_times_phone_numbers_and_rooms_are_not_amounts(text):
    from notifications.privacy import find_forbidden

    assert find_forbidden(text) is None
