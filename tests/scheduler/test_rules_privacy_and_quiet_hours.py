"""Issue #15 in the rule set: the clinic's privacy words, and quiet hours inside the federal floor."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from scheduler.models import RuleSet
from scheduler.rules import PRESETS, Rules, preset_rules


def preset(**changes: Any) -> dict[str, Any]:
    return {**copy.deepcopy(PRESETS["US federal 2024"]), **changes}


# --- privacy_words ------------------------------------------------------------------------------------


def test_a_stored_rule_set_without_privacy_words_loads_with_none() -> None:
    stored = preset()
    stored.pop("privacy_words", None)

    assert Rules.from_dict(stored).privacy_words == ()
    assert preset_rules().privacy_words == ()


def test_privacy_words_round_trip_through_the_stored_json() -> None:
    rules = Rules.from_dict(preset(privacy_words=["Kestrel", " Harbor Lane ", "Saint-Luc", "kestrel"]))

    assert rules.privacy_words == ("Kestrel", "Harbor Lane", "Saint-Luc")
    assert rules.to_dict()["privacy_words"] == ["Kestrel", "Harbor Lane", "Saint-Luc"]
    assert Rules.from_dict(rules.to_dict()) == rules


@pytest.mark.parametrize(
    "value",
    ["Kestrel", ["Kestrel", 3], [""], ["   "], ["ok", "a|b"], ["(.*)"], ["x" * 61], [None], {"word": "x"}],
)
def test_privacy_words_must_be_a_list_of_plain_words(value: Any) -> None:
    with pytest.raises(ValueError, match=r"^privacy_words"):
        Rules.from_dict(preset(privacy_words=value))


# --- quiet hours and the federal floor -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end"),
    [("08:00", "21:00"), ("09:00", "20:00"), ("10:30", "18:00")],
)
def test_quiet_hours_inside_the_federal_floor_are_accepted(start: str, end: str) -> None:
    rules = Rules.from_dict(preset(quiet_hours_start=start, quiet_hours_end=end))

    assert (rules.quiet_hours_start.strftime("%H:%M"), rules.quiet_hours_end.strftime("%H:%M")) == (start, end)


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        ("06:00", "20:00", "quiet_hours_start"),
        ("07:59", "20:00", "quiet_hours_start"),
        ("09:00", "23:30", "quiet_hours_end"),
        ("09:00", "21:01", "quiet_hours_end"),
        ("21:30", "22:00", "quiet_hours_start"),
    ],
)
def test_quiet_hours_outside_the_federal_floor_are_refused_naming_the_field_and_the_rule(
    start: str, end: str, field: str
) -> None:
    with pytest.raises(ValueError) as refused:
        Rules.from_dict(preset(quiet_hours_start=start, quiet_hours_end=end))

    message = str(refused.value)
    assert message.startswith(f"{field}:")
    assert "08:00–21:00" in message and "47 CFR 64.1200(c)(1)" in message


@pytest.mark.django_db
def test_the_admin_form_refuses_a_rule_set_with_quiet_hours_outside_the_floor() -> None:
    from django.core.exceptions import ValidationError

    rule_set = RuleSet(name="Night owls", rules=preset(quiet_hours_start="06:00", quiet_hours_end="23:30"))

    with pytest.raises(ValidationError, match="quiet_hours_start"):
        rule_set.clean()


@pytest.mark.django_db
def test_a_rule_set_stored_before_the_check_still_loads_with_its_hours_moved_inside_the_floor() -> None:
    rule_set = RuleSet.objects.create(name="Old", rules=preset(quiet_hours_start="06:00", quiet_hours_end="23:30"))

    rules = rule_set.to_rules()

    assert (rules.quiet_hours_start.strftime("%H:%M"), rules.quiet_hours_end.strftime("%H:%M")) == ("08:00", "21:00")


@pytest.mark.django_db
def test_a_stored_rule_set_inside_the_floor_loads_unchanged() -> None:
    rule_set = RuleSet.objects.create(name="Strict", rules=preset(quiet_hours_start="10:00", quiet_hours_end="19:00"))

    rules = rule_set.to_rules()

    assert (rules.quiet_hours_start.strftime("%H:%M"), rules.quiet_hours_end.strftime("%H:%M")) == ("10:00", "19:00")
