"""Small display helpers for the staff pages."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django import template
from django.utils.html import escape
from django.utils.safestring import mark_safe

register = template.Library()

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@register.filter
def weekday_names(days: Iterable[int] | None) -> str:
    """[0, 2, 4] → "Mon, Wed, Fri"; every day → "every day"."""
    values = sorted({int(d) for d in days or () if 0 <= int(d) <= 6})
    if len(values) == 7:
        return "every day"
    return ", ".join(_DAYS[d] for d in values)


@register.filter(expects_localtime=True)
def ymd(value: Any, with_time: bool = False) -> str:
    """What `date:"Y-m-d"` (with_time: `date:"Y-m-d H:i"`) prints, without Django's format machinery (looked up
    per call: the patient page printed ≈ 100 dates, issue #16); numbers only, nothing to translate. An aware
    datetime arrives in the page's zone (expects_localtime), as it does for `date`; None or "" print ""."""
    if value in (None, ""):
        return ""
    text = f"{value.year:04d}-{value.month:02d}-{value.day:02d}"
    return f"{text} {value.hour:02d}:{value.minute:02d}" if with_time else text


@register.filter(expects_localtime=True)
def dymd(value: Any) -> str:
    """What `date:"D Y-m-d"` prints ("Mon 2026-11-16"), as `ymd` does (issue #16: the next visits and the doses
    given print one a row): the weekday in English, as the pages are."""
    if value in (None, ""):
        return ""
    return f"{_DAYS[value.weekday()]} {ymd(value)}"


@register.filter
def strip_cells(cells: Iterable[Any], today: Any) -> str:
    """The patient page's attendance strip row: one <li> a cell, as the loop it replaces printed it (issue #16: 28
    cells a plan, five lookups and an escape each), `today` marked."""
    return mark_safe(  # noqa: S308 - every value below is escaped or a number
        "".join(
            f'<li class="cell cell-{escape(c.state)}{" is-today" if c.date == today else ""}" '
            f'title="{escape(c.label)}"><span class="visually-hidden">{escape(c.label)}</span>'
            f'<span aria-hidden="true" class="cell-day">{int(c.date.day)}</span></li>'
            for c in cells
        )
    )


@register.filter
def get_item(mapping: Mapping[Any, Any] | None, key: Any) -> Any:
    """`mapping[key]`, or an empty dict when there is none (a refused form's typed values, by id)."""
    return (mapping or {}).get(key, {})


@register.filter
def language_name(code: str | None) -> str:
    """ "es" → "Spanish": the patient's language by its name on pages (clinic words, never codes)."""
    from web.forms import LANGUAGE_CHOICES

    return dict(LANGUAGE_CHOICES).get(code or "", f"Other ({code})" if code else "—")


@register.filter
def minutes_text(value: object) -> str:
    """timedelta(minutes=15) → "15 minutes" (the login lockout's cool-off on the 429 page)."""
    from datetime import timedelta

    if not isinstance(value, timedelta):
        return ""
    n = max(1, round(value.total_seconds() / 60))
    return f"{n} minute{'s' if n != 1 else ''}"
