"""What a text may never say (DOMAIN.md §5; 42 CFR Part 2 and HIPAA).

A message must not reveal that the person is in substance-use treatment: no medication, dose,
program or treatment words. The list is checked when a template is rendered (including the
clinic's sms_name) and again on the send path, so a body edited after planning is still refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# One list for templates, sender names and the send path (issue #15); it lives low in the house so the
# scheduler's sms_name check uses it too (imports go notifications → visits → scheduler).
from scheduler.privacy_words import CAPITALS_ONLY, FORBIDDEN_WORDS, find_forbidden_word

__all__ = ["CAPITALS_ONLY", "FORBIDDEN_WORDS", "ForbiddenContent", "ensure_clean", "find_forbidden"]


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


def find_forbidden(text: str, extra: Iterable[str] = ()) -> str | None:
    """The first forbidden word in `text` (lower-cased; the built-in list or the rule set's `extra` words),
    or an amount with its unit, or None."""
    word = find_forbidden_word(text, extra)
    if word is not None:
        return word
    amount = _AMOUNT.search(text or "")
    return amount.group(0).lower() if amount else None


def ensure_clean(text: str, where: str = "text", extra: Iterable[str] = ()) -> None:
    word = find_forbidden(text, extra)
    if word is not None:
        raise ForbiddenContent(word, where)
