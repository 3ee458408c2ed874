"""The words a text or a clinic's sender name may never carry (DOMAIN.md §5; 42 CFR Part 2 and HIPAA).

Pure values, no ORM. One list for the clinic's sms_name (scheduler.services), templates and the send path
(notifications.privacy); a rule set adds its own words (`Rules.privacy_words`). Matching is on whole words,
case-insensitive, with a trailing plural "s"/"es" ("doses", "opioides").
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

# English words from DOMAIN.md §5 plus brand names, abbreviations and related words (issue #15); Spanish because
# the shipped templates are bilingual; German spellings of the names clinics there use (Methadon, Diaphin).
FORBIDDEN_WORDS: tuple[str, ...] = (
    "methadone",
    "methadon",
    "methadose",
    "buprenorphine",
    "bupe",
    "suboxone",
    "subutex",
    "zubsolv",
    "sublocade",
    "brixadi",
    "vivitrol",
    "naltrexone",
    "naloxone",
    "narcan",
    "diamorphine",
    "diaphin",
    "heroin",
    "fentanyl",
    "opioid",
    "opiate",
    "narcotic",
    "addiction",
    "addict",
    "detox",
    "dose",
    "dosing",
    "OTP",
    "MMT",
    "OUD",
    "MOUD",
    "treatment",
    "rehab",
    "substance",
    "drug",
    "recovery",
    "overdose",
    # Spanish
    "metadona",
    "buprenorfina",
    "naltrexona",
    "naloxona",
    "diamorfina",
    "fentanilo",
    "heroína",
    "heroina",
    "opioide",
    "opiáceo",
    "opiaceo",
    "narcótico",
    "narcotico",
    "adicción",
    "adiccion",
    "adicto",
    "adicta",
    "dosis",
    "tratamiento",
    "rehabilitación",
    "rehabilitacion",
    "sustancia",
    "droga",
    "recuperación",
    "recuperacion",
    "sobredosis",
)

# Abbreviations that are also everyday words ("a hat", German "hat", "a yoga mat", French "Sud" in a street or
# clinic name): refused only when written in capitals, as the abbreviation is.
CAPITALS_ONLY: tuple[str, ...] = ("HAT", "MAT", "SUD")


def _alternation(words: Iterable[str]) -> str:
    return "|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True))


def _whole_words(words: Iterable[str], flags: int) -> re.Pattern[str] | None:
    alternation = _alternation(w for w in words if w)
    if not alternation:
        return None
    return re.compile(r"(?<!\w)(" + alternation + r")(?:e?s)?(?!\w)", flags)


_BUILT_IN = _whole_words(FORBIDDEN_WORDS, re.IGNORECASE)
_CAPITALS = _whole_words(CAPITALS_ONLY, 0)


@lru_cache(maxsize=64)
def _extra_pattern(extra: tuple[str, ...]) -> re.Pattern[str] | None:
    return _whole_words((w.strip() for w in extra), re.IGNORECASE)


def find_forbidden_word(text: str, extra: Iterable[str] = ()) -> str | None:
    """The first forbidden word in `text` (lower-cased), from the built-in list or `extra`; else None."""
    text = text or ""
    for pattern in (_BUILT_IN, _CAPITALS, _extra_pattern(tuple(extra))):
        match = pattern.search(text) if pattern is not None else None
        if match:
            return match.group(1).lower()
    return None


def find_all_forbidden_words(text: str, extra: Iterable[str] = ()) -> list[str]:
    """Every distinct forbidden word in `text` (lower-cased), in the order found."""
    found: list[str] = []
    for pattern in (_BUILT_IN, _CAPITALS, _extra_pattern(tuple(extra))):
        for match in pattern.finditer(text or "") if pattern is not None else ():
            word = match.group(1).lower()
            if word not in found:
                found.append(word)
    return found
