"""Issue #15: the privacy filter against 200 forbidden spellings and 200 harmless sentences.

Both sets are generated here from a few lists, so each case names the word and the disguise it tests. The
forbidden ones go through every matcher the house uses (the text check and the sender-name check); the harmless
ones are street and place names that contain a forbidden word's letters, and everyday German, French and Spanish
words that are also abbreviations in capitals.
"""

from __future__ import annotations

import itertools

import pytest

from notifications.privacy import find_forbidden
from scheduler.errors import RuleViolation
from scheduler.privacy_words import find_all_forbidden_words
from scheduler.services import _check_sms_name

# (word as written, the word the filter names)
BASE_WORDS: tuple[tuple[str, str], ...] = (
    ("methadone", "methadone"),
    ("Methadon", "methadon"),
    ("metadona", "metadona"),
    ("Methadose", "methadose"),
    ("Ketalgin", "ketalgin"),
    ("buprenorphine", "buprenorphine"),
    ("Buprenorphin", "buprenorphin"),
    ("buprenorfina", "buprenorfina"),
    ("Subutex", "subutex"),
    ("Suboxone", "suboxone"),
    ("Zubsolv", "zubsolv"),
    ("Sublocade", "sublocade"),
    ("Brixadi", "brixadi"),
    ("Vivitrol", "vivitrol"),
    ("naltrexone", "naltrexone"),
    ("Diaphin", "diaphin"),
    ("diamorphine", "diamorphine"),
    ("heroin", "heroin"),
    ("naloxone", "naloxone"),
    ("Narcan", "narcan"),
    ("fentanyl", "fentanyl"),
    ("narcotic", "narcotic"),
    ("detox", "detox"),
    ("rehab", "rehab"),
    ("withdrawal", "withdrawal"),
    ("opioid", "opioid"),
    ("Entzug", "entzug"),
    ("Suchtberatung", "suchtberatung"),
    ("Substitutionstherapie", "substitutionstherapie"),
    ("toxicomanie", "toxicomanie"),
    ("sevrage", "sevrage"),
    ("stupefiant", "stupefiant"),
    ("desintoxicacion", "desintoxicacion"),
    ("sobredosis", "sobredosis"),
    ("MMT", "mmt"),
    ("OTP", "otp"),
    ("OUD", "oud"),
    ("MOUD", "moud"),
    ("SUD", "sud"),
    ("MAT", "mat"),
    ("HAT", "hat"),
    ("OAT", "oat"),
)

_CYRILLIC = str.maketrans({"a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "x": "х", "A": "А", "E": "Е",
                           "O": "О", "P": "Р", "C": "С", "T": "Т", "H": "Н", "M": "М"})
_GREEK = str.maketrans({"o": "ο", "i": "ι", "O": "Ο", "A": "Α", "T": "Τ", "M": "Μ", "H": "Η"})
_LEET = str.maketrans({"o": "0", "e": "3", "a": "4", "O": "0", "E": "3", "A": "4"})
_ACCENTS = str.maketrans({"e": "é", "o": "ö", "a": "à", "i": "ï", "u": "ü", "E": "É", "O": "Ö", "A": "Á"})


def _capitals(word: str) -> bool:
    return word.isupper()


# Disguises: each keeps an abbreviation in capitals (that is how "HAT" is refused and "hat" is not).
DISGUISES = {
    "as written": lambda w: w,
    "upper case": str.upper,
    "title case": lambda w: w if _capitals(w) else w.title(),
    "plural": lambda w: w + "s",
    "accents": lambda w: w.translate(_ACCENTS),
    "cyrillic look-alikes": lambda w: w.translate(_CYRILLIC),
    "greek look-alikes": lambda w: w.translate(_GREEK),
    "digits for letters": lambda w: w.translate(_LEET) if len(w) > 4 else w,
    "letters spaced": lambda w: " ".join(w),
    "letters hyphenated": lambda w: "-".join(w.upper()),
    "letters dotted": lambda w: ".".join(w) + ".",
    "split in two": lambda w: f"{w[: len(w) // 2]} {w[len(w) // 2 :]}" if len(w) > 3 else " ".join(w),
    "zero-width space inside": lambda w: w[:2] + "\u200b" + w[2:],
    "soft hyphen inside": lambda w: w[:3] + "\u00ad" + w[3:],
    "full-width letters": lambda w: "".join(chr(ord(c) + 0xFEE0) if c.isascii() and c.isalpha() else c for c in w),
}
SENTENCES = (
    "Hi Maria, your {w} visit is on Tue Nov 10.",
    "{w} appointment tomorrow at 9:00 AM",
    "Recordatorio: {w} el 10/11 a las 09:00",
    "Ihr Termin ({w}) ist am Dienstag.",
    "Votre rendez-vous {w} est mardi.",
)


def _forbidden_cases() -> list[tuple[str, str, str]]:
    cases: list[tuple[str, str, str]] = []
    disguises = itertools.cycle(DISGUISES.items())
    sentences = itertools.cycle(SENTENCES)
    for word, named in itertools.islice(itertools.cycle(BASE_WORDS), 200):
        disguise, make = next(disguises)
        cases.append((next(sentences).format(w=make(word)), named, disguise))
    return cases


FORBIDDEN = _forbidden_cases()

# Places and streets that contain a forbidden word's letters (or are one in another case).
PLACES = (
    "Methven Road", "Hatfield", "Sudbury", "Detroit", "Mattapan", "Hattiesburg", "Oudtshoorn", "Oudenaarde",
    "Matlock", "Oatlands Drive", "Ostend", "Sudan Street", "Subiaco", "Narcoossee Road", "Rehoboth Beach",
    "Dosewell Lane", "Drugstore Plaza", "Heroes Avenue", "Mathews Court", "Manhattan Avenue", "Otptown",
    "Southampton", "Methil Harbour", "Suboscia Way", "Detmold", "Rehabeam Street", "Tottenham Hale",
    "Withers Road", "Fentress County", "Opio Square", "Narcissus Lane", "Bupton Close", "Zubrowka Street",
    "Vivian Street", "Brixton Hill", "Diaphanous Row", "Sublette County", "Mmabatho", "Moudon", "Sudstadt",
)
HARMLESS_TEMPLATES = (
    "Hi Maria, see you at {p} on Tue Nov 10 at 11:00 AM.",
    "Reminder: {p}, Wed Nov 11, 9:30 AM. Questions: +12125550100.",
    "Hola Ana, su cita en {p} es el 10/11 a las 09:00.",
    "Hallo Jonas, Ihr Termin in {p} hat sich auf Montag verschoben.",
    "Bonjour Luc, rendez-vous {p}, rue du Sud, mardi a 10h.",
)
EVERYDAY = (
    "Bring a hat, it is cold today.",
    "Ihr Termin hat sich geandert.",
    "Clinique Sud, 12 rue du Sud.",
    "Mind the mat at the door.",
    "Oat milk is on the counter.",
    "Wir sind im Ost-Flugel, Eingang Ost.",
    "Nos vemos en la Calle del Sud.",
    "Der Bus fahrt nach Sudwesten.",
    "Bring your ID and a pen.",
    "Hi M.L., reply C to confirm Tue Nov 10, 9:00 AM.",
)


def _harmless_cases() -> list[str]:
    cases = [template.format(p=place) for place in PLACES for template in HARMLESS_TEMPLATES]
    cases = cases[: 200 - len(EVERYDAY)] + list(EVERYDAY)
    return cases


HARMLESS = _harmless_cases()


def test_the_sets_are_200_each_and_cover_every_disguise_and_word():
    assert len(FORBIDDEN) == 200 and len(set(FORBIDDEN)) == 200
    assert len(HARMLESS) == 200 and len(set(HARMLESS)) == 200
    assert {disguise for _, _, disguise in FORBIDDEN} == set(DISGUISES)
    assert {named for _, named, _ in FORBIDDEN} == {named for _, named in BASE_WORDS}


@pytest.mark.parametrize(("text", "named", "disguise"), FORBIDDEN, ids=[f"{n}-{d}" for _, n, d in FORBIDDEN])
def test_a_forbidden_spelling_is_refused_in_a_text_and_a_sender_name(text, named, disguise):
    assert named in find_all_forbidden_words(text), (text, disguise)
    assert find_forbidden(text) is not None
    with pytest.raises(RuleViolation):
        _check_sms_name(text)


@pytest.mark.parametrize("text", HARMLESS)
def test_a_harmless_sentence_passes(text):
    assert find_forbidden(text) is None
    _check_sms_name(text)
