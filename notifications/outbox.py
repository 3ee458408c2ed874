"""The outbox's shared rules: send attempts and back-off, when a claimed row counts as stuck, whether a
patient can be texted at all, and rendering a text from the clinic's template (DOMAIN.md: reminders)."""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings

from notifications.models import STATUS_RANK
from notifications.rendering import format_date, format_time, initials, render
from notifications.selectors import TemplateBook
from scheduler.models import Clinic, Patient
from scheduler.timeutil import zone
from visits.models import Visit

MAX_ATTEMPTS = 5
BACKOFF_BASE_SECONDS = 60
BACKOFF_MAX_SECONDS = 3600
CHUNK = 500
EARLY_STATUS_KEY = "dosewise:sms:early_status:{}"
EARLY_STATUS_TTL = 3600
BELOW_SENT = [s for s, r in STATUS_RANK.items() if r < STATUS_RANK["sent"]]


class TemplateMissing(ValueError):
    pass


def reclaim_after() -> timedelta:
    """How long a claimed row may sit in queued/sending before it is taken back.

    Always longer than a task may run (CELERY_TASK_TIME_LIMIT), so a slow but live send is never doubled.
    """
    configured = int(getattr(settings, "SMS_RECLAIM_AFTER_SECONDS", 900))
    return timedelta(seconds=max(configured, int(settings.CELERY_TASK_TIME_LIMIT) + 60))


def backoff_delay(attempt: int) -> timedelta:
    """Exponential backoff with jitter: ~1, 2, 4, 8 minutes … capped at an hour."""
    ceiling = min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(attempt - 1, 0))
    return timedelta(seconds=ceiling * random.uniform(0.5, 1.0))


def unreachable_reason(patient: Patient) -> str | None:
    # DOMAIN §5: texts only to patients who opted in, to the number they gave, never after STOP.
    if not patient.sms_consent:
        return "no SMS consent"
    if patient.sms_opted_out:
        return "patient opted out"
    if not patient.phone:
        return "no phone number"
    if patient.phone_invalid:
        return "phone number rejected by the provider"
    return None


# --- rendering -------------------------------------------------------------------------


def render_message(
    *,
    patient: Patient,
    clinic: Clinic,
    purpose: str,
    templates: TemplateBook,
    max_chars: int,
    visit: Visit | None = None,
    extra_words: Iterable[str] = (),
) -> str:
    found = templates.body(clinic.pk, purpose, patient.language or "en")
    if found is None:
        raise TemplateMissing(f"no {purpose} template")
    body, language = found
    values = {
        "first_name": patient.first_name.strip(),
        "initials": initials(patient.first_name.strip(), patient.last_name.strip()),
        "clinic": clinic.sms_name,
        "phone": clinic.phone,
        "date": "",
        "time": "",
    }
    if visit is not None:
        local = visit.start.astimezone(zone(clinic.timezone)) if visit.start else None
        values["date"] = format_date(visit.date, language)
        values["time"] = format_time(local, language)
    return render(body, values, max_chars=max_chars, extra_words=extra_words)
