"""What a text may never say (DOMAIN.md §5; 42 CFR Part 2 and HIPAA).

A message must not reveal that the person is in substance-use treatment: no medication, dose,
program or treatment words. The list is checked when a template is rendered (including the
clinic's sms_name) and again on the send path, so a body edited after planning is still refused.
"""

from __future__ import annotations

import re

# English words from DOMAIN.md §5 plus common brand names; Spanish equivalents because the
# shipped templates are bilingual. Matching is case-insensitive on whole words; a trailing
# plural "s"/"es" is matched too ("doses", "opioides").
FORBIDDEN_WORDS: tuple[str, ...] = (
    "methadone",
    "buprenorphine",
    "suboxone",
    "subutex",
    "sublocade",
    "brixadi",
    "vivitrol",
    "naltrexone",
    "diamorphine",
    "heroin",
    "opioid",
    "opiate",
    "addiction",
    "addict",
    "dose",
    "dosing",
    "OTP",
    "treatment",
    "rehab",
    "substance",
    "drug",
    "MAT",
    "recovery",
    "overdose",
    # Spanish
    "metadona",
    "buprenorfina",
    "naltrexona",
    "diamorfina",
    "heroína",
    "heroina",
    "opioide",
    "opiáceo",
    "opiaceo",
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

_PATTERN = re.compile(
    r"(?<!\w)(" + "|".join(re.escape(w) for w in sorted(FORBIDDEN_WORDS, key=len, reverse=True)) + r")(?:e?s)?(?!\w)",
    re.IGNORECASE,
)


class ForbiddenContent(ValueError):
    """A text (or a value put into one) contains a word that reveals treatment."""

    def __init__(self, word: str, where: str = "text") -> None:
        super().__init__(f"forbidden word: {word} (in {where})")
        self.word = word
        self.where = where


# Issue #14: an amount ("30 mg", "2.5ml", "8 milligrams") tells anyone reading the phone that a medicine is
# dosed: never in a text, whatever the word around it.
_AMOUNT = re.compile(
    r"(?<![\w.])\d+(?:[.,]\d+)?\s*(mg|mcg|µg|ml|cc|milligrams?|millilit(?:er|re)s?|miligramos?|mililitros?)(?!\w)",
    re.IGNORECASE,
)


def find_forbidden(text: str) -> str | None:
    """The first forbidden word in `text` (lower-cased), or an amount with its unit, or None."""
    match = _PATTERN.search(text or "")
    if match:
        return match.group(1).lower()
    amount = _AMOUNT.search(text or "")
    return amount.group(0).lower() if amount else None


def ensure_clean(text: str, where: str = "text") -> None:
    word = find_forbidden(text)
    if word is not None:
        raise ForbiddenContent(word, where)
