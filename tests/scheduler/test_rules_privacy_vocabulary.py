"""Issue #15: the privacy vocabulary is rule-set data (default English, Spanish, German and French lists)."""

from __future__ import annotations

import pytest

from notifications.privacy import ForbiddenContent
from notifications.rendering import render
from scheduler.errors import RuleViolation
from scheduler.privacy_words import DEFAULT_VOCABULARY
from scheduler.rules import PRESETS, Rules, preset_rules
from scheduler.services import _check_sms_name

VALUES = {"first_name": "Maria", "clinic": "Riverside Health", "date": "Tue Nov 10", "time": "9:00 AM", "phone": ""}


def _rules(**changes):
    return Rules.from_dict({**PRESETS["US federal 2024"], **changes})


def test_the_presets_carry_the_four_default_lists():
    rules = preset_rules()
    assert set(rules.privacy_vocabulary) == {"en", "es", "de", "fr"}
    assert "methadon" in rules.privacy_vocabulary["de"].words
    assert "HAT" in rules.privacy_vocabulary["en"].capitals_only
    assert Rules.from_dict(rules.to_dict()) == rules


def test_a_stored_rule_set_without_a_vocabulary_loads_the_default_lists():
    stored = {k: v for k, v in PRESETS["US federal 2024"].items() if k != "privacy_vocabulary"}
    assert Rules.from_stored(stored).privacy_vocabulary == dict(DEFAULT_VOCABULARY)


def test_a_clinic_adds_words_and_a_language_and_every_check_refuses_them():
    vocabulary = {**PRESETS["US federal 2024"]["privacy_vocabulary"], "it": {"words": ["metadone"]}}
    vocabulary["en"] = {"words": ["Bridgeway"], "capitals_only": ["BW"]}
    rules = _rules(privacy_vocabulary=vocabulary)
    extra = rules.privacy_extra
    with pytest.raises(ForbiddenContent, match="metadone"):
        render("Hi {first_name}, metadone tomorrow", VALUES, max_chars=160, extra_words=extra)
    with pytest.raises(RuleViolation, match="bridgeway"):
        _check_sms_name("Bridgeway House", extra)
    with pytest.raises(RuleViolation, match="bw"):
        _check_sms_name("The BW Centre", extra)
    _check_sms_name("The bw Centre", extra)  # capitals only, as listed
    # Without the rule set's words the same names pass.
    _check_sms_name("Bridgeway House")


def test_a_rule_set_cannot_let_a_default_word_through():
    rules = _rules(privacy_vocabulary={"en": {"words": [], "capitals_only": []}})
    with pytest.raises(ForbiddenContent, match="methadone"):
        render("Hi {first_name}, methadone tomorrow", VALUES, max_chars=160, extra_words=rules.privacy_extra)
    with pytest.raises(RuleViolation, match="hat"):
        _check_sms_name("HAT Centre", rules.privacy_extra)


@pytest.mark.parametrize(
    ("vocabulary", "message"),
    [
        ({"English": {"words": ["x"]}}, "privacy_vocabulary.English: a language is a 2- or 3-letter"),
        ({"en": {"words": ["ok"], "banned": []}}, "privacy_vocabulary.en: unknown field"),
        ({"en": {"words": ["<b>"]}}, r"privacy_vocabulary.en.words\[0\]"),
        ({"en": {"capitals_only": ["Hat"]}}, "privacy_vocabulary.en.capitals_only: words refused only in capitals"),
        (["methadone"], "privacy_vocabulary: expected an object"),
    ],
)
def test_a_bad_vocabulary_is_refused_naming_the_field(vocabulary, message):
    with pytest.raises(ValueError, match=message):
        _rules(privacy_vocabulary=vocabulary)
