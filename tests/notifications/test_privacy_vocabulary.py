"""Issue #15: one privacy vocabulary for texts and sender names, with the clinic's own words as rule-set data."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import time_machine

from notifications.defaults import DEFAULT_TEMPLATES
from notifications.models import Message
from notifications.privacy import CAPITALS_ONLY, FORBIDDEN_WORDS, ForbiddenContent, find_forbidden
from notifications.reminders import reminders_sync
from notifications.rendering import render
from scheduler.errors import RuleViolation
from scheduler.models import RuleSet
from scheduler.services import _check_sms_name

from .conftest import make_visit

VALUES = {
    "first_name": "Maria",
    "initials": "M.L.",
    "clinic": "Riverside Health",
    "date": "Tue Nov 10",
    "time": "11:00 AM",
    "phone": "+12125550100",
}
SLIPPED_THROUGH = (
    "MMT",
    "OUD",
    "SUD",
    "Bupe",
    "Zubsolv",
    "Methadon",
    "Diaphin",
    "HAT",
    "naloxone",
    "fentanyl",
    "narcotic",
    "detox",
    "Subutex",
)


@pytest.mark.parametrize("word", SLIPPED_THROUGH)
def test_the_words_that_slipped_through_are_refused_in_a_text(word):
    assert find_forbidden(f"Hi Maria, your {word} visit is on Tue") == word.lower()


@pytest.mark.parametrize("word", SLIPPED_THROUGH)
def test_the_words_that_slipped_through_are_refused_in_a_clinic_text_name(word):
    with pytest.raises(RuleViolation, match=word.lower()):
        _check_sms_name(f"Eastside {word} Center")


@pytest.mark.parametrize("word", (*FORBIDDEN_WORDS, *CAPITALS_ONLY))
def test_the_text_check_and_the_sender_name_check_use_one_list(word):
    assert find_forbidden(f"Eastside {word}") == word.lower()
    with pytest.raises(RuleViolation):
        _check_sms_name(f"Eastside {word}")


@pytest.mark.parametrize("word", CAPITALS_ONLY)
def test_an_abbreviation_that_is_an_everyday_word_is_refused_in_capitals_and_plural(word):
    assert find_forbidden(f"your {word} slot") == word.lower()
    assert find_forbidden(f"your {word}s") == word.lower()


@pytest.mark.parametrize(
    "text",
    [
        "Bring a hat, it is cold",
        "Ihr Termin hat sich geändert",  # German "hat" (has)
        "Clinique Sud, 12 rue du Sud",  # French "sud" (south)
        "Mind the mat at the door",
        "Hattie Matthews, Sudbury Road, Mattapan",
        "Detroit office, Bupelli Street, Methadonstrasse-free text",
        "Oudenaarde, Mammoth Lakes, Fentress County",
        "Narcissus Lane, Detoxx is not a word",
    ],
)
def test_everyday_words_streets_and_places_are_not_refused(text):
    assert find_forbidden(text) is None


def test_the_sender_name_check_now_matches_whole_words_like_the_text_check():
    # The old sender-name check refused any word starting with a forbidden one ("Dosewise", "Recoveryville").
    _check_sms_name("Dosewise Health")
    _check_sms_name("Sud Clinic")  # French "south" as a place name, not the abbreviation
    with pytest.raises(RuleViolation, match="narcotic"):
        _check_sms_name("Narcotics Anonymous Room")


@pytest.mark.parametrize(("key", "body"), sorted(DEFAULT_TEMPLATES.items()))
def test_every_shipped_template_still_renders_with_the_longer_list(key, body):
    assert find_forbidden(render(body, VALUES, max_chars=160)) is None


def test_a_rule_set_word_is_refused_in_the_template_the_text_and_the_sender_name():
    extra = ("Harbor Lane", "Kestrel")
    with pytest.raises(ForbiddenContent, match="harbor lane"):
        render("Hi {first_name}, see you at Harbor Lane", VALUES, max_chars=160, extra_words=extra)
    with pytest.raises(ForbiddenContent, match="kestrel"):
        render("Hi {first_name} at {clinic}", {**VALUES, "clinic": "Kestrel House"}, max_chars=160, extra_words=extra)
    with pytest.raises(RuleViolation, match="kestrel"):
        _check_sms_name("KESTREL House", extra)
    assert render("Hi {first_name}, see you at {clinic}", VALUES, max_chars=160, extra_words=extra)


def test_without_rule_set_words_the_same_text_passes():
    assert find_forbidden("See you at Harbor Lane") is None
    assert find_forbidden("See you at Harbor Lane", ["harbor lane"]) == "harbor lane"
    assert find_forbidden("See you at Harborlane", ["harbor lane"]) is None


# --- the clinic's words in the running system ------------------------------------------------------------


def _add_privacy_words(clinic, words):
    rule_set = clinic.rule_set
    RuleSet.objects.filter(pk=rule_set.pk).update(rules={**rule_set.rules, "privacy_words": words})
    clinic.refresh_from_db()


@pytest.mark.django_db
@time_machine.travel(datetime(2026, 10, 20, 16, 0, tzinfo=UTC), tick=False)
def test_a_clinic_whose_rule_set_forbids_its_text_name_plans_no_reminder(injection_plan):
    clinic = injection_plan.patient.clinic
    visit = make_visit(injection_plan, date(2026, 11, 10))
    _add_privacy_words(clinic, ["Riverside"])

    reminders_sync(visit_ids=[visit.pk])

    assert not Message.objects.filter(visit=visit, purpose="reminder").exists()


@pytest.mark.django_db
def test_the_send_path_refuses_a_rule_set_word_in_a_body_edited_after_planning(injection_plan, memory_sms):
    from notifications.dispatch import reminders_dispatch_due
    from notifications.sending import message_send

    planned = datetime(2026, 10, 20, 16, 0, tzinfo=UTC)
    due = datetime(2026, 11, 9, 15, 30, tzinfo=UTC)
    with time_machine.travel(planned, tick=False):
        visit = make_visit(injection_plan, date(2026, 11, 10))
        reminders_sync(visit_ids=[visit.pk])
    Message.objects.filter(visit=visit, slot="7d").delete()
    message = Message.objects.get(visit=visit, slot="1d")
    Message.objects.filter(pk=message.pk).update(body="Hi Maria, Kestrel House tomorrow at 11:00 AM.")
    _add_privacy_words(injection_plan.patient.clinic, ["Kestrel"])

    with time_machine.travel(due, tick=False):
        reminders_dispatch_due(now=due)
        for queued in Message.objects.filter(status="queued"):
            message_send(message_id=queued.pk)

    message.refresh_from_db()
    assert (message.status, message.status_reason) == ("skipped", "forbidden word: kestrel")
    assert memory_sms == []


@pytest.mark.django_db
def test_the_api_refuses_a_text_name_with_a_word_from_the_clinic_rule_set(api_as, clinic, staff):
    _add_privacy_words(clinic, ["Kestrel"])

    refused = api_as("admin").patch(f"/api/v1/clinics/{clinic.pk}/", {"sms_name": "Kestrel Health"}, format="json")
    allowed = api_as("admin").patch(f"/api/v1/clinics/{clinic.pk}/", {"sms_name": "Dosewise Health"}, format="json")

    assert refused.status_code == 400 and "kestrel" in str(refused.json()["sms_name"])
    assert allowed.status_code == 200
