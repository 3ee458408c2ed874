"""The words a text or a clinic's sender name may never carry (DOMAIN.md §5; 42 CFR Part 2 and HIPAA).

Pure values, no ORM. One matcher for the clinic's sms_name (scheduler.services), templates and the send path
(notifications.privacy). The vocabulary is rule-set data (`Rules.privacy_vocabulary`, issue #15): default lists
for English, Spanish, German and French ship in the presets (`DEFAULT_VOCABULARY`), a clinic may add words per
language and its own words (`Rules.privacy_words`); the default lists always apply, whatever a rule set holds,
so no clinic can let "methadone" through.

Matching (issue #15):
- on whole words, case-insensitive, with a trailing plural "s"/"es" ("doses", "opioides");
- after Unicode normalisation: accents dropped ("Méthadone"), compatibility forms folded (full-width letters),
  invisible characters removed (zero-width space, soft hyphen), look-alike letters from other scripts mapped to
  Latin ones (Cyrillic "а", Greek "ο"), and digits or signs inside a word read as letters ("m3thad0ne", "$ubutex");
- letters spelled apart are read together: "m e t h a d o n e", "M-E-T-H", "o.t.p", and a word split in two or
  three pieces ("metha done", "sub-oxone");
- abbreviations that are also everyday words (German "hat", French "Sud", "a yoga mat", "oat milk", German
  "Ost") are refused only in capitals, as the abbreviation is written.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache

# --- the default lists (rule-set data: the presets carry them, scheduler.rules) --------------------------------

# Words refused in any case. Brand names, abbreviations and related words (issue #15), per language. Words that
# are the same in several languages (naloxone, fentanyl) are listed once, under the first.
_EN: tuple[str, ...] = (
    # medications and brand names
    "methadone", "meth", "methadose", "dolophine", "diskets", "ketalgin", "levomethadone",
    "buprenorphine", "bupe", "subutex", "suboxone", "zubsolv", "bunavail", "sublocade", "brixadi", "buvidal",
    "probuphine", "espranor", "temgesic", "vivitrol", "naltrexone", "naloxone", "narcan", "kloxxado", "lofexidine",
    "lucemyra", "diamorphine", "diacetylmorphine", "diaphin", "heroin", "morphine", "substitol", "compensan",
    "fentanyl", "opioid", "opiate", "narcotic",
    # abbreviations (MMT, OTP, OUD, MOUD; the everyday-word ones are CAPITALS_ONLY below)
    "MMT", "OTP", "OUD", "MOUD", "OBOT",
    # related words
    "addiction", "addict", "detox", "rehab", "withdrawal", "relapse", "overdose", "dose", "dosing", "treatment",
    "substance", "drug", "recovery", "urine", "tox",
)
_ES: tuple[str, ...] = (
    "metadona", "buprenorfina", "naltrexona", "naloxona", "diamorfina", "heroina", "morfina", "fentanilo",
    "opioide", "opiaceo", "narcotico", "estupefaciente", "adiccion", "adicto", "adicta", "toxicomano",
    "toxicomana", "desintoxicacion", "abstinencia", "rehabilitacion", "recaida", "sobredosis", "dosis",
    "tratamiento", "sustancia", "droga", "recuperacion", "PMM",
)
_DE: tuple[str, ...] = (
    "methadon", "levomethadon", "polamidon", "buprenorphin", "naltrexon", "naloxon", "diamorphin", "morphin",
    "opioide", "opiat", "opiate", "betaubungsmittel", "btm", "substitution", "substitutionstherapie",
    "substitutionsbehandlung", "substitutionspraxis", "substitutionsambulanz", "substituiert", "drogen",
    "droge", "drogenhilfe", "drogenberatung", "suchtberatung", "suchthilfe", "suchtmedizin", "suchtambulanz",
    "suchtklinik", "suchtkrank", "suchterkrankung", "suchtig", "abhangigkeit", "entzug", "entgiftung",
    "uberdosis", "dosis", "dosierung", "ruckfall", "behandlung",
)
_FR: tuple[str, ...] = (
    "methadone", "buprenorphine", "naltrexone", "naloxone", "diamorphine", "heroine", "morphine", "orobupre",
    "opiace", "opioide", "stupefiant", "toxicomanie", "toxicomane", "drogue", "desintoxication", "sevrage",
    "rechute", "surdose", "posologie", "traitement", "substitution", "CSAPA", "CAARUD", "TSO", "TSAO",
)
# Abbreviations that are also everyday words: refused only in capitals.
_EN_CAPITALS: tuple[str, ...] = ("HAT", "MAT", "SUD", "OAT")
_DE_CAPITALS: tuple[str, ...] = ("OST",)


@dataclass(frozen=True)
class LanguageWords:
    """One language's list: `words` in any case, `capitals_only` only as written in capitals."""

    words: tuple[str, ...] = ()
    capitals_only: tuple[str, ...] = ()


DEFAULT_VOCABULARY: Mapping[str, LanguageWords] = {
    "en": LanguageWords(_EN, _EN_CAPITALS),
    "es": LanguageWords(_ES),
    "de": LanguageWords(_DE, _DE_CAPITALS),
    "fr": LanguageWords(_FR),
}

# --- normalisation ---------------------------------------------------------------------------------------------

# Letters from other scripts that look like Latin ones (Unicode confusables, the common ones), and the Latin
# letters NFKD leaves whole.
_LOOKALIKES = {
    # Cyrillic
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c", "т": "t",
    "у": "y", "х": "x", "і": "i", "ї": "i", "ј": "j", "ѕ": "s", "ԁ": "d", "ԛ": "q", "ԝ": "w", "һ": "h",
    "А": "A", "В": "B", "Е": "E", "Ё": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C",
    "Т": "T", "У": "Y", "Х": "X", "І": "I", "Ї": "I", "Ј": "J", "Ѕ": "S", "Ԁ": "D", "Ԛ": "Q", "Ԝ": "W",
    # Greek
    "α": "a", "β": "b", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t", "υ": "u", "χ": "x",
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N", "Ο": "O", "Ρ": "P",
    "Τ": "T", "Υ": "Y", "Χ": "X",
    # Latin letters without a decomposition
    "ß": "ss", "ẞ": "SS", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ø": "o", "Ø": "O", "đ": "d", "Đ": "D",
    "ł": "l", "Ł": "L", "ı": "i", "ŀ": "l",
    # separators written as word characters
    "_": " ",
}
_LOOKALIKE_TABLE = str.maketrans(_LOOKALIKES)
# Digits and signs read as letters inside a word that has letters ("m3thad0ne", "$ubutex", "fent@nyl").
_LEET = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i", "|": "l"}
_LEET_TABLE = str.maketrans(_LEET)
_LEET_ONE_AS_L = str.maketrans({**_LEET, "1": "l"})
_LEET_TOKEN = re.compile(r"[\w@$!|]*[^\W\d_][\w@$!|]*")


def _fold(text: str) -> str:
    """Compatibility forms folded, accents dropped, invisible characters removed, look-alikes mapped; case kept."""
    if text.isascii():
        return text.translate(_LOOKALIKE_TABLE)  # nothing to fold but "_"
    text = unicodedata.normalize("NFKC", text)
    decomposed = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in decomposed if not unicodedata.combining(ch) and unicodedata.category(ch) != "Cf")
    return text.translate(_LOOKALIKE_TABLE)


def _deleet(text: str, table: dict[int, str]) -> str:
    def swap(match: re.Match[str]) -> str:
        token = match.group(0)
        # Only a token mixing letters with digits or signs: "10am" stays as it is read, "d0se" becomes "dose".
        return token.translate(table) if any(ch in _LEET for ch in token) and not token.isdigit() else token

    return _LEET_TOKEN.sub(swap, text)


# A letter next to a digit or sign that may stand for one: only then are the digits read as letters.
_LEET_NEAR_LETTER = re.compile(r"[^\W\d_][0-9@$!|]|[0-9@$!|][^\W\d_]")


def _forms(text: str) -> list[str]:
    """The readings of `text` to search: folded, and with digits/signs as letters (1 as i, and as l)."""
    folded = _fold(text or "")
    forms = [folded]
    if not _LEET_NEAR_LETTER.search(folded):
        return forms
    for table in (_LEET_TABLE, _LEET_ONE_AS_L):
        form = _deleet(folded, table)
        if form not in forms:
            forms.append(form)
    return forms


def normalise_word(word: str) -> str:
    """A list word as it is matched: folded (accents, look-alikes), case kept."""
    return _fold(word.strip())


# --- matching --------------------------------------------------------------------------------------------------

_PLURAL = r"(?:e?s)?"
_TOKEN = re.compile(r"[^\W_]+")
# Letters spelled apart: single letters joined by spaces, dots, hyphens, stars, slashes ("m e t h", "O.T.P.").
_SPELLED = re.compile(r"(?<![^\W_])[^\W_](?:[\s.\-*/·•,'’]{1,3}[^\W_])+(?![^\W_])")
_MAX_PIECES = 3


def _phrase_pattern(phrases: Iterable[str], flags: int) -> re.Pattern[str] | None:
    """Entries of more than one word ("harbor lane"): matched as written, on word boundaries."""
    ordered = sorted(set(phrases), key=lambda w: (-len(w), w))
    if not ordered:
        return None
    alternation = "|".join(re.escape(w) for w in ordered)
    return re.compile(r"(?<![^\W_])(" + alternation + r")" + _PLURAL + r"(?![^\W_])", flags)


@dataclass(frozen=True)
class _Matcher:
    """Single words are looked up token by token (a set lookup each, so a long list costs nothing more);
    phrases of several words by a pattern."""

    any_case: frozenset[str]  # lower-cased single words
    capitals: frozenset[str]  # single words, as written in capitals
    any_case_phrases: re.Pattern[str] | None
    capitals_phrases: re.Pattern[str] | None
    prefixes: frozenset[str]  # every lower-cased start of a single word: pieces are joined only while one fits

    def first(self, text: str) -> str | None:
        found = self.all(text, stop_at_first=True)
        return found[0] if found else None

    def all(self, text: str, *, stop_at_first: bool = False) -> list[str]:
        found: list[str] = []
        for form in _forms(text):
            spelled = _SPELLED.sub(_join_letters, form)
            for reading in (form, spelled) if spelled != form else (form,):
                for word in self._words(reading):
                    if word not in found:
                        found.append(word)
                        if stop_at_first:
                            return found
        return found

    def _words(self, reading: str) -> Iterator[str]:
        tokens = _TOKEN.findall(reading)
        for i in range(len(tokens)):
            # The token itself, then words split in 2..3 pieces by spaces or signs ("metha done", "sub-oxone").
            joined = ""
            for j in range(i, min(i + _MAX_PIECES, len(tokens))):
                joined += tokens[j]
                word = self._word(joined)
                if word is not None:
                    yield word
                if joined.lower() not in self.prefixes:
                    break
        for pattern in (self.any_case_phrases, self.capitals_phrases):
            for match in pattern.finditer(reading) if pattern is not None else ():
                yield match.group(1).lower()

    def _word(self, token: str) -> str | None:
        lower = token.lower()
        if lower in self.any_case:
            return lower
        if token in self.capitals:
            return lower
        # A plural: "doses", "opioides", "OTPs", "HATs" (capitals-only words take a lower-case plural only).
        for suffix in ("s", "es"):  # the longer stem first: "methadones" is methadone, not methadon
            if len(lower) > len(suffix) + 1 and lower.endswith(suffix):
                stem = lower[: -len(suffix)]
                if stem in self.any_case:
                    return stem
                if token.endswith(suffix) and token[: -len(suffix)] in self.capitals:
                    return stem
        return None


def _join_letters(match: re.Match[str]) -> str:
    return "".join(ch for ch in match.group(0) if ch.isalnum())


def _single(word: str) -> bool:
    return _TOKEN.fullmatch(word) is not None


@lru_cache(maxsize=64)
def _matcher(any_case: tuple[str, ...], capitals: tuple[str, ...]) -> _Matcher:
    lower = {normalise_word(w).lower() for w in any_case if w.strip()}
    caps = {normalise_word(w) for w in capitals if w.strip()}
    singles = [w for w in lower if _single(w)] + [w.lower() for w in caps if _single(w)]
    return _Matcher(
        frozenset(w for w in lower if _single(w)),
        frozenset(w for w in caps if _single(w)),
        _phrase_pattern((w for w in lower if not _single(w)), re.IGNORECASE),
        _phrase_pattern((w for w in caps if not _single(w)), 0),
        frozenset(w[:n] for w in singles for n in range(1, len(w))),
    )


def _default_lists() -> tuple[tuple[str, ...], tuple[str, ...]]:
    words: list[str] = []
    capitals: list[str] = []
    for language in DEFAULT_VOCABULARY.values():
        words += [normalise_word(w).lower() for w in language.words]
        capitals += [normalise_word(w) for w in language.capitals_only]
    return tuple(dict.fromkeys(words)), tuple(dict.fromkeys(capitals))


# The default lists, flattened: what no text, template or sender name may carry in any rule set.
FORBIDDEN_WORDS, CAPITALS_ONLY = _default_lists()


def vocabulary_words(vocabulary: Mapping[str, LanguageWords]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A rule set's vocabulary flattened: (words in any case, capitals-only words)."""
    words: list[str] = []
    capitals: list[str] = []
    for language in vocabulary.values():
        words += language.words
        capitals += language.capitals_only
    return tuple(words), tuple(capitals)


class Capitals(str):
    """A word in an `extra` list that is refused only in capitals (an abbreviation that is an everyday word)."""

    __slots__ = ()


def extra_words(vocabulary: Mapping[str, LanguageWords], own: Iterable[str] = ()) -> tuple[str, ...]:
    """A rule set's words for the matchers' `extra` argument: its vocabulary (capitals-only words marked as
    `Capitals`) and the clinic's own words (any case)."""
    words, capitals = vocabulary_words(vocabulary)
    return (*words, *own, *(Capitals(w) for w in capitals))


def _matcher_for(extra: Iterable[str], extra_capitals: Iterable[str]) -> _Matcher:
    # The key marks capitals-only words: Capitals("HAT") == "HAT" as strings.
    key = (tuple((str(w), isinstance(w, Capitals)) for w in extra), tuple(map(str, extra_capitals)))
    return _matcher_for_key(key)


@lru_cache(maxsize=128)
def _matcher_for_key(key: tuple[tuple[tuple[str, bool], ...], tuple[str, ...]]) -> _Matcher:
    marked, extra_capitals = key
    extra_capitals = (*extra_capitals, *(w for w, capitals in marked if capitals))
    extra = [w for w, capitals in marked if not capitals]
    any_case = {w for w in (normalise_word(w).lower() for w in extra) if w and w not in FORBIDDEN_WORDS}
    caps = {w for w in (normalise_word(w) for w in extra_capitals) if w and w not in CAPITALS_ONLY}
    return _matcher(FORBIDDEN_WORDS + tuple(sorted(any_case)), CAPITALS_ONLY + tuple(sorted(caps)))


def find_forbidden_word(text: str, extra: Iterable[str] = (), extra_capitals: Iterable[str] = ()) -> str | None:
    """The first forbidden word in `text` (lower-cased, as listed), from the default lists, `extra` (any case;
    `Capitals` items capitals only) or `extra_capitals` (capitals only); else None."""
    return _matcher_for(extra, extra_capitals).first(text or "")


def find_all_forbidden_words(text: str, extra: Iterable[str] = (), extra_capitals: Iterable[str] = ()) -> list[str]:
    """Every distinct forbidden word in `text` (lower-cased, as listed), in the order found."""
    return _matcher_for(extra, extra_capitals).all(text or "")
