"""Rule sets: presets, JSON round trip and validation, take-home tiers, the missed-dose ladder."""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

import pytest

from scheduler.rules import (
    DEFAULT_PRESET,
    PRESETS,
    Ladder,
    Rules,
    ladder_step,
    preset_rules,
    takehome_limit,
    treatment_day,
)

RULES_2024 = preset_rules("US federal 2024")
RULES_2001 = preset_rules("US federal 2001")


def test_the_default_preset_is_the_2024_federal_table() -> None:
    assert DEFAULT_PRESET == "US federal 2024"
    assert set(PRESETS) == {"US federal 2024", "US federal 2001"}


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_it_round_trips_each_preset_through_its_json_shape(name: str) -> None:
    rules = Rules.from_dict(PRESETS[name])
    assert Rules.from_dict(rules.to_dict()) == rules
    assert rules.to_dict() == Rules.from_dict(rules.to_dict()).to_dict()
    hash(rules)  # usable as a cache key


def test_closure_doses_count_in_2024_but_not_in_2001() -> None:
    assert RULES_2024.closure_doses_count is True
    assert RULES_2001.closure_doses_count is False


@pytest.mark.parametrize(
    ("day", "max_supply"),
    [(1, 7), (14, 7), (15, 14), (30, 14), (31, 28), (400, 28)],
)
def test_2024_table_gives_the_largest_supply_by_treatment_day(day: int, max_supply: int) -> None:
    limit = takehome_limit(RULES_2024, "methadone", day)
    assert (limit.max_supply, limit.max_per_week, limit.treatment_day) == (max_supply, None, day)


@pytest.mark.parametrize(
    ("day", "max_supply", "max_per_week"),
    [
        (1, 1, 1),
        (90, 1, 1),
        (91, 2, 2),
        (180, 2, 2),
        (181, 3, 3),
        (270, 3, 3),
        (271, 6, None),
        (365, 6, None),
        (366, 14, None),
        (730, 14, None),
        (731, 31, None),
    ],
)
def test_2001_table_gives_weekly_take_homes_then_supplies(day: int, max_supply: int, max_per_week: int | None) -> None:
    limit = takehome_limit(RULES_2001, "methadone", day)
    assert (limit.max_supply, limit.max_per_week) == (max_supply, max_per_week)


def test_the_limit_names_the_rule_and_its_days() -> None:
    assert takehome_limit(RULES_2024, "methadone", 3).rule == (
        "US federal 2024: at most 7 take-home doses at once on treatment days 1–14"
    )
    assert takehome_limit(RULES_2024, "methadone", 40).rule == (
        "US federal 2024: at most 28 take-home doses at once from treatment day 31"
    )
    assert "at most 1 take-home day a week beyond closure days" in takehome_limit(RULES_2001, "methadone", 3).rule


@pytest.mark.parametrize("medication", ["buprenorphine", "diamorphine", "naltrexone_xr"])
def test_take_home_tiers_do_not_limit_other_medications(medication: str) -> None:
    limit = takehome_limit(RULES_2024, medication, 1)
    assert (limit.max_supply, limit.max_per_week) == (None, None)
    assert "not limited" in limit.rule


def test_treatment_day_one_is_the_treatment_start() -> None:
    assert treatment_day(date(2026, 1, 5), date(2026, 1, 5)) == 1
    assert treatment_day(date(2026, 1, 5), date(2026, 1, 19)) == 15


@pytest.mark.parametrize(
    ("missed", "step"),
    [
        (0, None),
        (1, "checkin_text"),
        (2, "outreach"),
        (3, "hold"),
        (4, "clinician_review"),
        (5, "reinduction"),
        (12, "reinduction"),
    ],
)
def test_the_default_ladder_escalates_by_days_without_medication(missed: int, step: str | None) -> None:
    assert ladder_step(Ladder(), missed) == step


def test_a_clinic_ladder_can_hold_later() -> None:
    ladder = Ladder(checkin_text=1, outreach=3, hold=5, clinician_review=6, reinduction=8)
    assert ladder_step(ladder, 4) == "outreach"
    assert ladder_step(ladder, 7) == "clinician_review"


def test_injection_windows_carry_the_label_numbers() -> None:
    monthly = RULES_2024.injection_windows["buprenorphine_xr_monthly"]
    assert monthly.interval_days - monthly.early_days == 26  # Sublocade: at least 26 days between doses
    assert monthly.late_days == 14
    weekly = RULES_2024.injection_windows["buprenorphine_xr_weekly"]
    assert (weekly.interval_days, weekly.early_days, weekly.late_days) == (7, 2, 2)
    naltrexone = RULES_2024.injection_windows["naltrexone_xr"]
    assert (naltrexone.interval_days, naltrexone.late_days, naltrexone.restart_after_days) == (28, 7, 14)


def _broken(change: Any) -> dict[str, Any]:
    data = copy.deepcopy(PRESETS[DEFAULT_PRESET])
    change(data)
    return data


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["takehome_tiers"][0].update(from_day=2), "takehome_tiers[0].from_day"),
        (lambda d: d["takehome_tiers"][2].update(from_day=15), "takehome_tiers[2].from_day"),
        (lambda d: d["takehome_tiers"][1].update(max_supply=-1), "takehome_tiers[1].max_supply"),
        (lambda d: d["takehome_tiers"][1].update(max_supply="14"), "takehome_tiers[1].max_supply"),
        (lambda d: d["takehome_tiers"][0].update(max_per_week=8), "takehome_tiers[0].max_per_week"),
        (lambda d: d.update(takehome_tiers=[]), "takehome_tiers"),
        (lambda d: d.update(quiet_hours_start="9am"), "quiet_hours_start"),
        (lambda d: d.update(quiet_hours_end="25:00"), "quiet_hours_end"),
        (lambda d: d.update(quiet_hours_end="08:00"), "quiet_hours_end"),
        (lambda d: d.pop("sms_max_chars"), "sms_max_chars"),
        (lambda d: d.update(sms_max_chr=160), "sms_max_chr"),
        (lambda d: d.update(reminders_max_per_day=True), "reminders_max_per_day"),
        (lambda d: d.update(closure_doses_count="yes"), "closure_doses_count"),
        (lambda d: d.update(takehome_medications=["methadon"]), "takehome_medications"),
        (lambda d: d["ladder"].update(hold=2), "ladder.hold"),
        (lambda d: d["ladder"].pop("reinduction"), "ladder"),
        (lambda d: d["injection_windows"]["naltrexone_xr"].update(early_days=28), "injection_windows.naltrexone_xr"),
        (lambda d: d["injection_windows"].update(methadone={"interval_days": 1}), "injection_windows.methadone"),
        (lambda d: d.update(name=""), "name"),
    ],
)
def test_it_refuses_bad_rule_sets_naming_the_field(change: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        Rules.from_dict(_broken(change))


def test_a_state_table_may_allow_no_take_homes_early_on() -> None:
    data = _broken(lambda d: d["takehome_tiers"][0].update(max_supply=0))
    assert takehome_limit(Rules.from_dict(data), "methadone", 1).max_supply == 0
