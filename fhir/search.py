"""FHIR search parameters: parsing (strict: an unknown parameter answers 400 naming it), dates with prefixes,
references, tokens, and offset paging with Bundle links."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlencode

from django.db.models import Q, QuerySet
from django.http import QueryDict

from fhir.http import FhirError

DEFAULT_COUNT = 50
MAX_COUNT = 500  # as the API's page_size
# Control parameters every search takes.
CONTROL = frozenset({"_count", "_page", "_format", "_total"})
PREFIXES = ("eq", "ne", "ge", "le", "gt", "lt", "sa", "eb")


def check_params(params: QueryDict, allowed: frozenset[str], resource_type: str) -> None:
    """Strict handling: a parameter we do not support would silently widen the result if ignored."""
    for name in params:
        if name not in allowed and name not in CONTROL:
            supported = ", ".join(sorted(allowed | CONTROL))
            raise FhirError(
                f"{resource_type} search does not support the parameter {name!r}; supported: {supported}.",
                code="not-supported", expression=[name],
            )
    fmt = params.get("_format")
    if fmt is not None and fmt not in ("json", "application/json", "application/fhir+json"):
        raise FhirError("_format: only JSON is served (application/fhir+json).", code="not-supported")


def count_param(params: QueryDict) -> int:
    raw = params.get("_count")
    if raw is None:
        return DEFAULT_COUNT
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_COUNT:
        raise FhirError(f"_count must be a whole number from 1 to {MAX_COUNT}, not {raw[:20]!r}.",
                        expression=["_count"])
    return int(raw)


def page_param(params: QueryDict) -> int:
    raw = params.get("_page", "1")
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= 1_000_000:
        raise FhirError(f"_page must be a whole number from 1, not {raw[:20]!r}.", expression=["_page"])
    return int(raw)


def id_value(raw: str, resource_type: str, param: str) -> int | None:
    """`123` or `Type/123` → 123; None when the id cannot exist (so the search finds nothing)."""
    value = raw.strip()
    if "/" in value:
        kind, _, value = value.rpartition("/")
        if kind.rsplit("/", 1)[-1] != resource_type:
            raise FhirError(f"{param}: give {resource_type}/<id> or <id>, not {raw[:60]!r}.", expression=[param])
    if not (value.isascii() and value.isdigit()) or len(value) > 18:
        return None
    return int(value)


def ids_param(params: QueryDict, name: str, resource_type: str) -> list[int] | None:
    """A reference or _id parameter: comma-separated values are ORed; None when absent."""
    raws = params.getlist(name)
    if not raws:
        return None
    ids: list[int] = []
    for raw in raws:
        for part in raw.split(","):
            pk = id_value(part, resource_type, name)
            if pk is not None:
                ids.append(pk)
    if len(raws) > 1:
        # Repeating a parameter ANDs its values: two different ids match nothing.
        wanted = set(ids)
        return list(wanted) if len(wanted) <= 1 else []
    return ids


def tokens(params: QueryDict, name: str, allowed: dict[str, Any]) -> list[Any] | None:
    """A token parameter with a fixed value set (status codes): the values it stands for, or None."""
    raws = params.getlist(name)
    if not raws:
        return None
    found: list[Any] = []
    for raw in raws:
        for part in raw.split(","):
            code = part.rpartition("|")[2]
            if code not in allowed:
                raise FhirError(f"{name}: unknown code {code[:40]!r}; use one of {', '.join(allowed)}.",
                                expression=[name])
            value = allowed[code]
            found.extend(value if isinstance(value, list | tuple) else [value])
    return found


@dataclass(frozen=True)
class DateBound:
    prefix: str
    day: date | None
    moment: datetime | None


def date_bounds(params: QueryDict, name: str) -> list[DateBound]:
    bounds = []
    for raw in params.getlist(name):
        prefix, value = (raw[:2], raw[2:]) if raw[:2] in PREFIXES else ("eq", raw)
        if prefix not in ("eq", "ge", "le", "gt", "lt"):
            raise FhirError(f"{name}: the prefix {prefix!r} is not supported; use eq, ge, le, gt or lt.",
                            expression=[name])
        bounds.append(parse_bound(prefix, value, name))
    return bounds


def parse_bound(prefix: str, value: str, name: str) -> DateBound:
    try:
        if len(value) == 10:
            return DateBound(prefix, date.fromisoformat(value), None)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError("no offset")
        moment.astimezone(UTC)  # year 1 with an offset east of UTC overflows here, not later in the database
        return DateBound(prefix, None, moment)
    except (ValueError, OverflowError) as exc:
        raise FhirError(
            f"{name}: {value[:40]!r} is not a date (YYYY-MM-DD) or an instant with its offset "
            "(2026-11-02T07:00:00-05:00).", expression=[name],
        ) from exc


_LOOKUPS = {"eq": "", "ge": "__gte", "le": "__lte", "gt": "__gt", "lt": "__lt"}


def date_filter(bounds: list[DateBound], *, date_field: str, instant_field: str) -> Q:
    """A date value compares with the clinic-local date; an instant with the instant."""
    q = Q()
    for bound in bounds:
        if bound.day is not None:
            q &= Q(**{f"{date_field}{_LOOKUPS[bound.prefix]}": bound.day})
        else:
            q &= Q(**{f"{instant_field}{_LOOKUPS[bound.prefix]}": bound.moment})
    return q


@dataclass
class Page:
    rows: list[Any]
    total: int
    links: list[tuple[str, str]]


def paginate(queryset: QuerySet[Any] | list[Any], params: QueryDict, base_url: str) -> Page:
    """Offset paging: Bundle.link self/first/previous/next carry every search parameter and `_page`."""
    count, page = count_param(params), page_param(params)
    total = len(queryset) if isinstance(queryset, list) else queryset.count()
    offset = (page - 1) * count
    rows = list(queryset[offset : offset + count]) if offset < total else []
    links = [("self", _url(base_url, params, page)), ("first", _url(base_url, params, 1))]
    if page > 1:
        links.append(("previous", _url(base_url, params, page - 1)))
    if offset + count < total:
        links.append(("next", _url(base_url, params, page + 1)))
    return Page(rows, total, links)


def _url(base_url: str, params: QueryDict, page: int) -> str:
    items = [(k, v) for k, values in params.lists() if k != "_page" for v in values]
    if page > 1:
        items.append(("_page", str(page)))
    return f"{base_url}?{urlencode(items)}" if items else base_url
