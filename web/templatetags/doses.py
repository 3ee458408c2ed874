"""Display helpers for amounts and COWS scores on the staff pages (issue #14)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django import template

from visits import cows

register = template.Library()


def mg_plain(value: object) -> str:
    """Decimal("30.00") → "30", Decimal("27.50") → "27.5" (what a number field is prefilled with); None → ""."""
    if value is None or value == "":
        return ""
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    text = f"{amount.normalize():f}"
    return text


@register.filter
def mg(value: object) -> str:
    """An amount for reading: "30 mg" ("—" when none was recorded)."""
    text = mg_plain(value)
    return f"{text} mg" if text else "—"


@register.filter
def cows_severity(total: object) -> str:
    """A COWS total in the scale's words: 12 → "mild withdrawal" (Wesson & Ling's bands, visits.cows)."""
    if not isinstance(total, int):
        return ""
    band = cows.severity(total)
    return band if band == "no withdrawal" else f"{band} withdrawal"


@register.filter
def mg_number(value: object) -> str:
    """An amount as a number field's value: Decimal("30.00") → "30" (empty when none)."""
    return mg_plain(value) if not isinstance(value, dict) else ""
