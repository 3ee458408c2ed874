"""Rendering a template into a text that is neutral and short enough (DOMAIN.md §5).

Placeholders: {first_name}, {initials}, {clinic} (the clinic's neutral sms_name), {date}, {time},
{phone} (the clinic's phone). The first name is shortened (down to an initial) before a text is
allowed to exceed the clinic's sms_max_chars; if it still does not fit, rendering refuses.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime

from notifications.privacy import ensure_clean

PLACEHOLDERS = frozenset({"first_name", "initials", "clinic", "date", "time", "phone"})
_FIELD = re.compile(r"\{(\w+)\}")
# GSM 03.38 basic character set: texts in it fit 160 characters per segment.
GSM7 = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_DAYS_EN = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


class MessageTooLong(ValueError):
    pass


def template_fields(body: str) -> set[str]:
    return set(_FIELD.findall(body))


def validate_template(body: str, extra_words: Iterable[str] = ()) -> None:
    unknown = template_fields(body) - PLACEHOLDERS
    if unknown:
        raise ValueError(f"unknown placeholder(s) {sorted(unknown)}; allowed: {sorted(PLACEHOLDERS)}")
    ensure_clean(body, "template", extra_words)


def format_date(d: date, language: str) -> str:
    if language == "es":
        return f"{d.day:02d}/{d.month:02d}"
    return f"{_DAYS_EN[d.weekday()]} {_MONTHS_EN[d.month - 1]} {d.day}"


def format_time(local: datetime | None, language: str) -> str:
    if local is None:
        return "la hora de su cita" if language == "es" else "your booked time"
    if language == "es":
        return f"{local.hour:02d}:{local.minute:02d}"
    hour = local.hour % 12 or 12
    return f"{hour}:{local.minute:02d} {'AM' if local.hour < 12 else 'PM'}"


def initials(first_name: str, last_name: str = "") -> str:
    return "".join(f"{part[0].upper()}." for part in (first_name, last_name) if part)


def _fill(body: str, values: Mapping[str, str]) -> str:
    return _FIELD.sub(lambda m: values.get(m.group(1), m.group(0)), body)


def render(body: str, values: Mapping[str, str], *, max_chars: int, extra_words: Iterable[str] = ()) -> str:
    """Fill `body`; shorten the first name if needed; refuse a forbidden word (the built-in list and the rule
    set's `extra_words`) or an over-long text."""
    extra_words = tuple(extra_words)
    validate_template(body, extra_words)
    ensure_clean(values.get("clinic", ""), "clinic sms_name", extra_words)
    text = _fill(body, values)
    first = values.get("first_name", "")
    if len(text) > max_chars and first and "{first_name}" in body:
        without = len(_fill(body, {**values, "first_name": ""}))
        uses = body.count("{first_name}")
        room = (max_chars - without) // uses
        short = first[: room - 1] + "." if room >= 2 else first[:1]
        text = _fill(body, {**values, "first_name": short})
    if len(text) > max_chars:
        raise MessageTooLong(f"text is {len(text)} characters, the limit is {max_chars}")
    ensure_clean(text, "text", extra_words)
    return text
