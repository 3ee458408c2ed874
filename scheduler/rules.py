"""Rule sets: take-home limits, injection windows, the missed-dose ladder, reminder limits.

Pure values, no ORM. A clinic's RuleSet row stores the JSON shape of `Rules.to_dict()`;
`Rules.from_dict()` validates it. Every default number carries its source (see DOMAIN.md §7).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, time
from typing import Any

from scheduler.privacy_words import DEFAULT_VOCABULARY, LanguageWords, extra_words

# Medication values, shared with scheduler.engine (which re-exports them).
MEDICATIONS: tuple[str, ...] = (
    "methadone",
    "buprenorphine",
    "diamorphine",
    "naltrexone_xr",
    "buprenorphine_xr_monthly",
    "buprenorphine_xr_weekly",
    "buprenorphine_xr_monthly_brixadi",
)
BRIXADI_MONTHLY = "buprenorphine_xr_monthly_brixadi"
INJECTIONS: frozenset[str] = frozenset(
    {"naltrexone_xr", "buprenorphine_xr_monthly", "buprenorphine_xr_weekly", BRIXADI_MONTHLY}
)

LADDER_STEPS: tuple[str, ...] = ("checkin_text", "outreach", "hold", "clinician_review", "reinduction")


@dataclass(frozen=True)
class TakeHomeTier:
    from_day: int
    max_supply: int
    max_per_week: int | None = None


@dataclass(frozen=True)
class InjectionWindow:
    interval_days: int
    early_days: int
    late_days: int
    restart_after_days: int | None = None


@dataclass(frozen=True)
class CallbackRate:
    """Issue #15 [PRACTICE]: a patient holding a take-home supply of at least `from_supply` doses is called back
    about `per_year` times a year (drawn at random on the days they hold take-homes)."""

    from_supply: int
    per_year: int


@dataclass(frozen=True)
class Ladder:
    """Consecutive days without medication -> step (Australian national guidelines §3.5; NHS "3-day rule")."""

    checkin_text: int = 1
    outreach: int = 2
    hold: int = 3
    clinician_review: int = 4
    reinduction: int = 5


@dataclass(frozen=True)
class Rules:
    name: str
    takehome_tiers: tuple[TakeHomeTier, ...]
    closure_doses_count: bool
    takehome_medications: frozenset[str]
    ladder: Ladder
    injection_windows: Mapping[str, InjectionWindow]
    diamorphine_min_interval_minutes: int
    diamorphine_retitration_days: int
    quiet_hours_start: time
    quiet_hours_end: time
    reminders_max_per_day: int
    reminders_max_per_week: int
    sms_max_chars: int
    missed_grace_minutes: int
    readmission_gap_days: int
    # DOMAIN §6: a clinician reviews each patient's earned take-homes at least this often.
    takehome_review_days: int = 90
    # API.md v1.1, DOMAIN §6: guest dosing needs 24–48 h notice; clinicians may approve shorter.
    guest_dosing_notice_hours: int = 24
    # Issue #17: the drift list names a patient whose kept visits a week over the last 4 weeks fell by at least
    # this share against the 8 weeks before.
    drift_drop_ratio: float = 0.25
    # Issue #14: amount limits the dosing guard checks (mg). Sources in PRESET comments (_COMMON).
    buprenorphine_daily_max_mg: int = 32
    methadone_first_dose_max_mg: int = 30
    methadone_first_day_max_mg: int = 40
    diamorphine_session_max_mg: int = 400
    diamorphine_daily_max_mg: int = 1000
    methadone_induction_days: int = 14
    methadone_induction_step_max_mg: int = 10
    methadone_induction_step_min_days: int = 3
    # None: off. API.md v1.1 lets `complete` give a first buprenorphine dose without an assessment, so the
    # presets leave it off; a clinic running inductions sets it (guideline: 8).
    buprenorphine_induction_cows_min: int | None = None
    naltrexone_opioid_free_days: int = 7
    # Issue #15: the clinic's own words no text or sender name may carry, on top of the built-in list
    # (scheduler.privacy_words): a local program name, a street name everyone knows as the clinic's.
    privacy_words: tuple[str, ...] = ()
    # Issue #15: 42 CFR 8.12(f)(6) (2024): at least 8 random drug tests a year per patient.
    drug_screens_per_year: int = 8
    # --- issue #15 (programs' patterns, privacy vocabulary) ---
    # The words no text, template or sender name may carry, per language (scheduler.privacy_words): the presets
    # carry the default English, Spanish, German and French lists; a clinic adds words (and languages). The
    # default lists apply whatever a rule set holds: a rule set can add words, never let one through.
    privacy_vocabulary: Mapping[str, LanguageWords] = dataclasses.field(
        default_factory=lambda: dict(DEFAULT_VOCABULARY)
    )
    # Issue #15: extra screens early in treatment, spread evenly over the first 90 days (3 = monthly); 0 = off.
    drug_screens_first_90_days: int = 0
    # Issue #15 [PRACTICE]: random call-backs for take-home holders, more often for larger supplies; () = off.
    callback_rates: tuple[CallbackRate, ...] = ()

    def __hash__(self) -> int:
        # The generated hash would fail on the injection_windows dict; hash its items instead.
        return hash((self.name, self.takehome_tiers, tuple(sorted(self.injection_windows.items()))))

    @property
    def privacy_extra(self) -> tuple[str, ...]:
        """The rule set's words for the privacy matchers (`extra`): its vocabulary and the clinic's own words."""
        return extra_words(self.privacy_vocabulary, self.privacy_words)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Rules:
        return _rules_from_dict(d)

    @classmethod
    def from_stored(cls, d: Mapping[str, Any]) -> Rules:
        """A rule set read back from the database. Like from_dict, except that quiet hours saved before the
        federal floor was checked (issue #15) load moved inside it instead of refusing the clinic's rules."""
        return _rules_from_dict(d, stored=True)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "takehome_tiers": [
                {"from_day": t.from_day, "max_supply": t.max_supply, "max_per_week": t.max_per_week}
                for t in self.takehome_tiers
            ],
            "closure_doses_count": self.closure_doses_count,
            "takehome_medications": sorted(self.takehome_medications),
            "ladder": {step: getattr(self.ladder, step) for step in LADDER_STEPS},
            "injection_windows": {
                med: {
                    "interval_days": w.interval_days,
                    "early_days": w.early_days,
                    "late_days": w.late_days,
                    "restart_after_days": w.restart_after_days,
                }
                for med, w in sorted(self.injection_windows.items())
            },
            "diamorphine_min_interval_minutes": self.diamorphine_min_interval_minutes,
            "diamorphine_retitration_days": self.diamorphine_retitration_days,
            "quiet_hours_start": self.quiet_hours_start.strftime("%H:%M"),
            "quiet_hours_end": self.quiet_hours_end.strftime("%H:%M"),
            "reminders_max_per_day": self.reminders_max_per_day,
            "reminders_max_per_week": self.reminders_max_per_week,
            "sms_max_chars": self.sms_max_chars,
            "missed_grace_minutes": self.missed_grace_minutes,
            "readmission_gap_days": self.readmission_gap_days,
            "takehome_review_days": self.takehome_review_days,
            "guest_dosing_notice_hours": self.guest_dosing_notice_hours,
            "drift_drop_ratio": self.drift_drop_ratio,
            **{name: getattr(self, name) for name in DOSE_LIMIT_FIELDS},
            "buprenorphine_induction_cows_min": self.buprenorphine_induction_cows_min,
            "privacy_words": list(self.privacy_words),
            "drug_screens_per_year": self.drug_screens_per_year,
            "privacy_vocabulary": _vocabulary_to_dict(self.privacy_vocabulary),
            "drug_screens_first_90_days": self.drug_screens_first_90_days,
            "callback_rates": [{"from_supply": r.from_supply, "per_year": r.per_year} for r in self.callback_rates],
        }


# --- validation helpers for from_dict -------------------------------------------------------------

_FIELDS = (
    "name",
    "takehome_tiers",
    "closure_doses_count",
    "takehome_medications",
    "ladder",
    "injection_windows",
    "diamorphine_min_interval_minutes",
    "diamorphine_retitration_days",
    "quiet_hours_start",
    "quiet_hours_end",
    "reminders_max_per_day",
    "reminders_max_per_week",
    "sms_max_chars",
    "missed_grace_minutes",
    "readmission_gap_days",
)
# Fields added after rule sets were first stored: a stored rule set without one gets this value.
DOSE_LIMIT_FIELDS = (
    "buprenorphine_daily_max_mg",
    "methadone_first_dose_max_mg",
    "methadone_first_day_max_mg",
    "diamorphine_session_max_mg",
    "diamorphine_daily_max_mg",
    "naltrexone_opioid_free_days",
    "methadone_induction_days",
    "methadone_induction_step_max_mg",
    "methadone_induction_step_min_days",
)
_OPTIONAL_FIELDS: dict[str, Any] = {
    "takehome_review_days": 90,
    "guest_dosing_notice_hours": 24,
    "drift_drop_ratio": 0.25,
    "privacy_words": (),
    "buprenorphine_daily_max_mg": 32,
    "methadone_first_dose_max_mg": 30,
    "methadone_first_day_max_mg": 40,
    "diamorphine_session_max_mg": 400,
    "diamorphine_daily_max_mg": 1000,
    "buprenorphine_induction_cows_min": None,
    "naltrexone_opioid_free_days": 7,
    "methadone_induction_days": 14,
    "methadone_induction_step_max_mg": 10,
    "methadone_induction_step_min_days": 3,
    "drug_screens_per_year": 8,
    "drug_screens_first_90_days": 0,
    # A stored rule set without the field draws no call-backs until the clinic sets a rate (never a surprise).
    "callback_rates": [],
}
# Issue #15 (programs' patterns, privacy vocabulary): stored rule sets without these load with the defaults.
_OPTIONAL_FIELDS.update(
    {
        "privacy_vocabulary": None,  # None: the default lists (scheduler.privacy_words.DEFAULT_VOCABULARY)
    }
)
# Call-backs a year above this are a typing mistake (one every working day).
CALLBACKS_PER_YEAR_MAX = 250


def _callback_rates(value: Any) -> tuple[CallbackRate, ...]:
    field = "callback_rates"
    if not isinstance(value, list | tuple):
        raise ValueError(f"{field}: expected a list of {{from_supply, per_year}}, got {value!r}")
    rates: list[CallbackRate] = []
    for i, raw in enumerate(value):
        where = f"{field}[{i}]"
        raw = _mapping(raw, where)
        _only_keys(raw, ("from_supply", "per_year"), where)
        rate = CallbackRate(
            from_supply=_int(raw.get("from_supply"), f"{where}.from_supply", 1),
            per_year=_int(raw.get("per_year"), f"{where}.per_year", 0),
        )
        if rate.per_year > CALLBACKS_PER_YEAR_MAX:
            raise ValueError(f"{where}.per_year: at most {CALLBACKS_PER_YEAR_MAX} a year, got {rate.per_year}")
        if rates and rate.from_supply <= rates[-1].from_supply:
            raise ValueError(f"{where}.from_supply: rates must be in strictly increasing from_supply order")
        if rates and rate.per_year < rates[-1].per_year:
            raise ValueError(f"{where}.per_year: a larger supply is called back at least as often as a smaller one")
        rates.append(rate)
    return tuple(rates)


def callbacks_per_year(rules: Rules, supply: int) -> int:
    """How often a year a patient holding `supply` take-home doses is called back (0: never)."""
    per_year = 0
    for rate in rules.callback_rates:
        if supply >= rate.from_supply:
            per_year = rate.per_year
    return per_year


def _ratio(value: Any, field: str) -> float:
    """A share strictly between 0 and 1 (a JSON number; true/false are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
        raise ValueError(f"{field}: expected a number between 0 and 1 (exclusive), got {value!r}")
    return float(value)


# A word is letters or digits, with single spaces, hyphens or apostrophes inside ("Elm Street", "Saint-Luc").
_PRIVACY_WORD = re.compile(r"\w+(?:[ '’-]\w+)*")
_PRIVACY_WORD_MAX = 60


def _privacy_words(value: Any, field: str = "privacy_words") -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        raise ValueError(f"{field}: expected a list of words, got {value!r}")
    words: list[str] = []
    for i, raw in enumerate(value):
        word = raw.strip() if isinstance(raw, str) else raw
        if not isinstance(word, str) or not _PRIVACY_WORD.fullmatch(word) or len(word) > _PRIVACY_WORD_MAX:
            raise ValueError(
                f"{field}[{i}]: expected a word or phrase of letters and digits (at most {_PRIVACY_WORD_MAX} "
                f"characters), got {raw!r}"
            )
        if word.lower() not in (w.lower() for w in words):
            words.append(word)
    return tuple(words)


def _vocabulary_to_dict(vocabulary: Mapping[str, LanguageWords]) -> dict[str, dict[str, list[str]]]:
    return {
        language: {"words": list(words.words), "capitals_only": list(words.capitals_only)}
        for language, words in sorted(vocabulary.items())
    }


_LANGUAGE = re.compile(r"[a-z]{2,3}")


def _privacy_vocabulary(value: Any) -> dict[str, LanguageWords]:
    """{"en": {"words": [...], "capitals_only": [...]}, ...}; null: the default lists."""
    name = "privacy_vocabulary"
    if value is None:
        return dict(DEFAULT_VOCABULARY)
    raw = _mapping(value, name)
    vocabulary: dict[str, LanguageWords] = {}
    for language, lists in raw.items():
        where = f"{name}.{language}"
        if not isinstance(language, str) or not _LANGUAGE.fullmatch(language):
            raise ValueError(f"{where}: a language is a 2- or 3-letter lower-case code (en, es, de, fr)")
        lists = _mapping(lists, where)
        _only_keys(lists, ("words", "capitals_only"), where)
        words = _privacy_words(lists.get("words", []), f"{where}.words")
        capitals = _privacy_words(lists.get("capitals_only", []), f"{where}.capitals_only")
        lower = [w for w in capitals if w != w.upper()]
        if lower:
            raise ValueError(
                f"{where}.capitals_only: words refused only in capitals are written in capitals, got {lower[0]!r}"
            )
        vocabulary[language] = LanguageWords(words, capitals)
    return vocabulary


def _int(value: Any, field: str, minimum: int = 0) -> int:
    # bool is an int subclass; `true` in JSON is never a count.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{field}: expected a whole number, got {value!r}")
    if value < minimum:
        raise ValueError(f"{field}: must be at least {minimum}, got {value}")
    return value


def _opt_int(value: Any, field: str, minimum: int = 0) -> int | None:
    return None if value is None else _int(value, field, minimum)


def _time(value: Any, field: str) -> time:
    if not isinstance(value, str):
        raise ValueError(f'{field}: expected a time as "HH:MM", got {value!r}')
    try:
        hours, minutes = value.split(":")
        return time(int(hours), int(minutes))
    except ValueError:
        raise ValueError(f'{field}: expected a time as "HH:MM", got {value!r}') from None


def _mapping(value: Any, field: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{field}: expected an object, got {value!r}")
    return value


def _only_keys(d: Mapping[str, Any], allowed: tuple[str, ...], field: str) -> None:
    unknown = sorted(set(d) - set(allowed))
    if unknown:
        raise ValueError(f"{field}: unknown field(s) {', '.join(map(str, unknown))}")


def _tiers(value: Any) -> tuple[TakeHomeTier, ...]:
    if not isinstance(value, list | tuple) or not value:
        raise ValueError("takehome_tiers: expected a non-empty list of tiers")
    tiers: list[TakeHomeTier] = []
    for i, raw in enumerate(value):
        field = f"takehome_tiers[{i}]"
        raw = _mapping(raw, field)
        _only_keys(raw, ("from_day", "max_supply", "max_per_week"), field)
        # 0 is allowed: some state tables give no take-homes at all early on (closure doses aside).
        tier = TakeHomeTier(
            from_day=_int(raw.get("from_day"), f"{field}.from_day", 1),
            max_supply=_int(raw.get("max_supply"), f"{field}.max_supply", 0),
            max_per_week=_opt_int(raw.get("max_per_week"), f"{field}.max_per_week", 0),
        )
        if i == 0 and tier.from_day != 1:
            raise ValueError(f"{field}.from_day: the first tier must start at treatment day 1")
        if tiers and tier.from_day <= tiers[-1].from_day:
            raise ValueError(f"{field}.from_day: tiers must be in strictly increasing from_day order")
        if tier.max_per_week is not None and tier.max_per_week > 7:
            raise ValueError(f"{field}.max_per_week: a week has 7 days, got {tier.max_per_week}")
        tiers.append(tier)
    return tuple(tiers)


def _medications(value: Any) -> frozenset[str]:
    if not isinstance(value, list | tuple | set | frozenset):
        raise ValueError("takehome_medications: expected a list of medication values")
    unknown = sorted(str(m) for m in value if m not in MEDICATIONS)
    if unknown:
        raise ValueError(f"takehome_medications: unknown medication(s) {', '.join(unknown)}")
    return frozenset(value)


def _ladder(value: Any) -> Ladder:
    raw = _mapping(value, "ladder")
    _only_keys(raw, LADDER_STEPS, "ladder")
    missing = [step for step in LADDER_STEPS if step not in raw]
    if missing:
        raise ValueError(f"ladder: missing step(s) {', '.join(missing)}")
    days = [_int(raw[step], f"ladder.{step}", 1) for step in LADDER_STEPS]
    for prev, step, n in zip(days, LADDER_STEPS[1:], days[1:], strict=False):
        if n <= prev:
            raise ValueError(f"ladder.{step}: steps must be strictly increasing, got {n} after {prev}")
    return Ladder(*days)


def _injection_windows(value: Any) -> dict[str, InjectionWindow]:
    raw = _mapping(value, "injection_windows")
    windows: dict[str, InjectionWindow] = {}
    keys = ("interval_days", "early_days", "late_days", "restart_after_days")
    for med, w in raw.items():
        field = f"injection_windows.{med}"
        if med not in INJECTIONS:
            raise ValueError(f"{field}: not an injection medication (one of {', '.join(sorted(INJECTIONS))})")
        w = _mapping(w, field)
        _only_keys(w, keys, field)
        window = InjectionWindow(
            interval_days=_int(w.get("interval_days"), f"{field}.interval_days", 1),
            early_days=_int(w.get("early_days"), f"{field}.early_days", 0),
            late_days=_int(w.get("late_days"), f"{field}.late_days", 0),
            restart_after_days=_opt_int(w.get("restart_after_days"), f"{field}.restart_after_days", 1),
        )
        if window.early_days >= window.interval_days:
            raise ValueError(f"{field}.early_days: must be less than interval_days ({window.interval_days})")
        windows[str(med)] = window
    return windows


def _with_optional_windows(windows: dict[str, InjectionWindow]) -> dict[str, InjectionWindow]:
    for med in _OPTIONAL_INJECTION_WINDOWS:
        if med not in windows:
            windows[med] = InjectionWindow(**_INJECTION_WINDOWS[med])  # type: ignore[arg-type]
    return windows


_DIAMORPHINE_INTERVAL = "diamorphine_min_interval_minutes"
# 47 CFR 64.1200(c)(1): no texts before 08:00 or after 21:00 at the called party's location. A rule set may be
# stricter (some states are), never looser.
FEDERAL_EARLIEST = time(8, 0)
FEDERAL_LATEST = time(21, 0)


def _within_federal_floor(value: time, field: str) -> None:
    if not FEDERAL_EARLIEST <= value <= FEDERAL_LATEST:
        raise ValueError(
            f"{field}: must lie within 08:00–21:00, the federal floor for texts (47 CFR 64.1200(c)(1)); "
            f"got {value.strftime('%H:%M')}"
        )


def _rules_from_dict(d: Mapping[str, Any], *, stored: bool = False) -> Rules:
    d = _mapping(d, "rules")
    _only_keys(d, (*_FIELDS, *_OPTIONAL_FIELDS), "rules")
    missing = [f for f in _FIELDS if f not in d]
    if missing:
        raise ValueError(f"rules: missing field(s) {', '.join(missing)}")
    if not isinstance(d["name"], str) or not d["name"].strip():
        raise ValueError("name: expected a non-empty text")
    if not isinstance(d["closure_doses_count"], bool):
        raise ValueError(f"closure_doses_count: expected true or false, got {d['closure_doses_count']!r}")
    quiet_start = _time(d["quiet_hours_start"], "quiet_hours_start")
    quiet_end = _time(d["quiet_hours_end"], "quiet_hours_end")
    if stored:
        quiet_start = min(max(quiet_start, FEDERAL_EARLIEST), FEDERAL_LATEST)
        quiet_end = min(max(quiet_end, FEDERAL_EARLIEST), FEDERAL_LATEST)
    _within_federal_floor(quiet_start, "quiet_hours_start")
    _within_federal_floor(quiet_end, "quiet_hours_end")
    if quiet_start >= quiet_end:
        raise ValueError("quiet_hours_end: must be later than quiet_hours_start")
    return Rules(
        name=d["name"],
        takehome_tiers=_tiers(d["takehome_tiers"]),
        closure_doses_count=d["closure_doses_count"],
        takehome_medications=_medications(d["takehome_medications"]),
        ladder=_ladder(d["ladder"]),
        injection_windows=_with_optional_windows(_injection_windows(d["injection_windows"])),
        diamorphine_min_interval_minutes=_int(d[_DIAMORPHINE_INTERVAL], _DIAMORPHINE_INTERVAL),
        diamorphine_retitration_days=_int(d["diamorphine_retitration_days"], "diamorphine_retitration_days", 1),
        quiet_hours_start=quiet_start,
        quiet_hours_end=quiet_end,
        reminders_max_per_day=_int(d["reminders_max_per_day"], "reminders_max_per_day"),
        reminders_max_per_week=_int(d["reminders_max_per_week"], "reminders_max_per_week"),
        sms_max_chars=_int(d["sms_max_chars"], "sms_max_chars", 1),
        missed_grace_minutes=_int(d["missed_grace_minutes"], "missed_grace_minutes"),
        readmission_gap_days=_int(d["readmission_gap_days"], "readmission_gap_days", 1),
        takehome_review_days=_int(
            d.get("takehome_review_days", _OPTIONAL_FIELDS["takehome_review_days"]), "takehome_review_days", 1
        ),
        guest_dosing_notice_hours=_int(
            d.get("guest_dosing_notice_hours", _OPTIONAL_FIELDS["guest_dosing_notice_hours"]),
            "guest_dosing_notice_hours",
        ),
        drift_drop_ratio=_ratio(d.get("drift_drop_ratio", _OPTIONAL_FIELDS["drift_drop_ratio"]), "drift_drop_ratio"),
        **{name: _int(d.get(name, _OPTIONAL_FIELDS[name]), name, 1) for name in DOSE_LIMIT_FIELDS},
        buprenorphine_induction_cows_min=_opt_int(
            d.get("buprenorphine_induction_cows_min"), "buprenorphine_induction_cows_min", 1
        ),
        privacy_words=_privacy_words(d.get("privacy_words", _OPTIONAL_FIELDS["privacy_words"])),
        drug_screens_per_year=_int(
            d.get("drug_screens_per_year", _OPTIONAL_FIELDS["drug_screens_per_year"]), "drug_screens_per_year", 1
        ),
        privacy_vocabulary=_privacy_vocabulary(d.get("privacy_vocabulary", _OPTIONAL_FIELDS["privacy_vocabulary"])),
        drug_screens_first_90_days=_early_screens(
            d.get("drug_screens_first_90_days", _OPTIONAL_FIELDS["drug_screens_first_90_days"])
        ),
        callback_rates=_callback_rates(d.get("callback_rates", _OPTIONAL_FIELDS["callback_rates"])),
    )


def _early_screens(value: Any) -> int:
    field = "drug_screens_first_90_days"
    n = _int(value, field, 0)
    if n > 90:
        raise ValueError(f"{field}: at most one a day (90), got {n}")
    return n


# --- presets ------------------------------------------------------------------------------------------

_INJECTION_WINDOWS: dict[str, dict[str, int | None]] = {
    # Vivitrol label: every 4 weeks; the label gives no late window, so practice [PRACTICE, DOMAIN §1]:
    # up to 7 days late give as planned, about 14+ days late is a re-start.
    "naltrexone_xr": {"interval_days": 28, "early_days": 3, "late_days": 7, "restart_after_days": 14},
    # Sublocade label: at least 26 days between doses (28 - 2); delays up to 2 weeks tolerated.
    "buprenorphine_xr_monthly": {"interval_days": 28, "early_days": 2, "late_days": 14, "restart_after_days": None},
    # Brixadi label: weekly dose may be given ±2 days.
    "buprenorphine_xr_weekly": {"interval_days": 7, "early_days": 2, "late_days": 2, "restart_after_days": None},
    # Brixadi label (issue #15): the monthly dose every 28 days, may be given ±7 days.
    BRIXADI_MONTHLY: {"interval_days": 28, "early_days": 7, "late_days": 7, "restart_after_days": None},
}
# Injection windows added after rule sets were first stored: a rule set without one gets the preset's window.
_OPTIONAL_INJECTION_WINDOWS = (BRIXADI_MONTHLY,)

_COMMON: dict[str, Any] = {
    "takehome_medications": ["methadone"],  # 42 CFR 8.12(i)(3): the tiers apply to methadone, not buprenorphine
    # Australian national guidelines §3.5 and NHS "3-day rule": 1 text, 2 outreach, 3 hold, 4 review, 5+ re-induction
    "ladder": {"checkin_text": 1, "outreach": 2, "hold": 3, "clinician_review": 4, "reinduction": 5},
    "injection_windows": _INJECTION_WINDOWS,
    "diamorphine_min_interval_minutes": 30,  # Diaphin (Swiss) label: at least 30 min between injections
    # [GUIDE] DOMAIN §4: re-titrate after an interruption of "several days"; 3 mirrors the NHS 3-day rule.
    "diamorphine_retitration_days": 3,
    "quiet_hours_start": "09:00",  # DOMAIN §5 default; federal floor 08:00 (47 CFR 64.1200(c)(1))
    "quiet_hours_end": "20:00",  # DOMAIN §5 default; federal floor 21:00 (47 CFR 64.1200(c)(1))
    "reminders_max_per_day": 1,  # FCC 2015 health-care exemption: at most 1 message a day
    "reminders_max_per_week": 3,  # FCC 2015 health-care exemption: at most 3 messages a week
    "sms_max_chars": 160,  # FCC 2015 health-care exemption: at most 160 characters
    "missed_grace_minutes": 60,  # [PRACTICE] a visit counts as missed an hour after its window closes
    "readmission_gap_days": 90,  # [PRACTICE] DOMAIN §3: 90+ days away restarts the time-in-treatment clock
    "takehome_review_days": 90,  # DOMAIN §6: take-home review at least every 90 days
    "guest_dosing_notice_hours": 24,  # DOMAIN §6: guest dosing needs 24–48 h notice (the shorter end)
    # [PRACTICE] clinic practice, not a regulation (issue #17): the drift list flags a fall of a quarter or more
    # in kept visits a week (last 4 weeks against the 8 before).
    "drift_drop_ratio": 0.25,
    "buprenorphine_daily_max_mg": 32,  # DOMAIN §1 [GUIDE]: buprenorphine never more than 32 mg on one day
    "methadone_first_dose_max_mg": 30,  # 42 CFR 8.12(h)(3)(ii): the initial dose at most 30 mg
    "methadone_first_day_max_mg": 40,  # 42 CFR 8.12(h)(3)(ii): at most 40 mg on the first day unless documented
    "diamorphine_session_max_mg": 400,  # Diaphin (Swiss) label: a single dose at most 400 mg
    "diamorphine_daily_max_mg": 1000,  # Diaphin (Swiss) label: at most 1000 mg a day
    # [GUIDE] DOMAIN §1: buprenorphine's first dose when withdrawal is at least moderate (COWS around 8–12 or
    # more). Off (null) in the presets: API.md v1.1 completes a first dose without an assessment; set 8 to use it.
    "buprenorphine_induction_cows_min": None,
    "naltrexone_opioid_free_days": 7,  # [GUIDE] DOMAIN §1: naltrexone after 7–10 opioid-free days (the shorter end)
    # [GUIDE] SAMHSA TIP 63: during induction raise methadone by 5–10 mg, no more often than every 3–5 days
    "methadone_induction_days": 14,
    "methadone_induction_step_max_mg": 10,
    "methadone_induction_step_min_days": 3,
    "drug_screens_per_year": 8,  # 42 CFR 8.12(f)(6) (2024): at least 8 random drug tests a year per patient
    # Issue #15, 42 CFR Part 2 / HIPAA (DOMAIN §5): the default English, Spanish, German and French lists.
    "privacy_vocabulary": {
        language: {"words": list(words.words), "capitals_only": list(words.capitals_only)}
        for language, words in DEFAULT_VOCABULARY.items()
    },
    # [PRACTICE] many programs test monthly in the first 90 days; off in the presets (the regulation asks 8/year).
    "drug_screens_first_90_days": 0,
    # [PRACTICE] DOMAIN §1 diversion control: random call-backs of take-home holders, more often for larger supplies
    # (1–6 doses: 2 a year, 7–13: 4, 14 or more: 6). No regulation gives a number; a clinic sets its own.
    "callback_rates": [
        {"from_supply": 1, "per_year": 2},
        {"from_supply": 7, "per_year": 4},
        {"from_supply": 14, "per_year": 6},
    ],
}

PRESETS: dict[str, dict[str, Any]] = {
    "US federal 2024": {
        **_COMMON,
        "name": "US federal 2024",
        "takehome_tiers": [
            {"from_day": 1, "max_supply": 7, "max_per_week": None},  # 42 CFR 8.12(i)(3)(i) (2024): days 1–14, 7 days
            {"from_day": 15, "max_supply": 14, "max_per_week": None},  # 42 CFR 8.12(i)(3)(ii) (2024): from day 15
            {"from_day": 31, "max_supply": 28, "max_per_week": None},  # 42 CFR 8.12(i)(3)(iii) (2024): from day 31
        ],
        # 42 CFR 8.12(i)(3) (2024, 89 FR 7528) caps "the take-home supply" without the 2001 text's
        # "beyond that of paragraph (i)(1)", so closure-day doses count toward the supply.
        "closure_doses_count": True,
    },
    "US federal 2001": {
        **_COMMON,
        "name": "US federal 2001",
        "takehome_tiers": [
            {"from_day": 1, "max_supply": 1, "max_per_week": 1},  # 42 CFR 8.12(i)(3)(i) (2001): days 1–90, 1/week
            {"from_day": 91, "max_supply": 2, "max_per_week": 2},  # 42 CFR 8.12(i)(3)(ii) (2001): days 91–180, 2/week
            {"from_day": 181, "max_supply": 3, "max_per_week": 3},  # 8.12(i)(3)(iii) (2001): days 181–270, 3/week
            {"from_day": 271, "max_supply": 6, "max_per_week": None},  # 8.12(i)(3)(iv) (2001): rest of year 1, 6 days
            {"from_day": 366, "max_supply": 14, "max_per_week": None},  # 8.12(i)(3)(v) (2001): after 1 year, 2 weeks
            {"from_day": 731, "max_supply": 31, "max_per_week": None},  # 8.12(i)(3)(vi) (2001): after 2 years, 1 month
        ],
        # 42 CFR 8.12(i)(3) (2001): each limit is "beyond that of paragraph (i)(1)", i.e. closure doses are extra.
        "closure_doses_count": False,
    },
}
DEFAULT_PRESET = "US federal 2024"


def preset_rules(name: str = DEFAULT_PRESET) -> Rules:
    """The preset rule set `name` as a Rules value (KeyError if there is no such preset)."""
    return Rules.from_dict(PRESETS[name])


# --- lookups ------------------------------------------------------------------------------------------


def treatment_day(treatment_start: date, on: date) -> int:
    """Day 1 is the treatment start date (42 CFR 8.12(i)(3) counts "days of treatment" from there)."""
    return (on - treatment_start).days + 1


@dataclass(frozen=True)
class TakeHomeLimit:
    max_supply: int | None
    max_per_week: int | None
    treatment_day: int
    rule: str


def _tier_for(tiers: tuple[TakeHomeTier, ...], day: int) -> tuple[TakeHomeTier, TakeHomeTier | None]:
    # Days before day 1 (a plan starting before its treatment start) get the first, strictest tier.
    current, following = tiers[0], None
    for i, tier in enumerate(tiers):
        if tier.from_day <= day:
            current, following = tier, tiers[i + 1] if i + 1 < len(tiers) else None
    return current, following


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def takehome_limit(rules: Rules, medication: str, treatment_day: int) -> TakeHomeLimit:
    if medication not in rules.takehome_medications:
        rule = f"{rules.name}: take-home supply of {medication} is not limited by the rule set"
        return TakeHomeLimit(None, None, treatment_day, rule)
    tier, following = _tier_for(rules.takehome_tiers, treatment_day)
    if following is None:
        days = f"from treatment day {tier.from_day}"
    else:
        days = f"on treatment days {tier.from_day}–{following.from_day - 1}"
    rule = f"{rules.name}: at most {_plural(tier.max_supply, 'take-home dose')} at once {days}"
    if tier.max_per_week is not None:
        closures = "" if rules.closure_doses_count else " beyond closure days"
        rule += f" and at most {_plural(tier.max_per_week, 'take-home day')} a week{closures}"
    return TakeHomeLimit(tier.max_supply, tier.max_per_week, treatment_day, rule)


def ladder_step(ladder: Ladder, consecutive_missed: int) -> str | None:
    """The highest step reached after `consecutive_missed` days without medication, or None."""
    reached: str | None = None
    for step in LADDER_STEPS:
        if consecutive_missed >= getattr(ladder, step):
            reached = step
    return reached
