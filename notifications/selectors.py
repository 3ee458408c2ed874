"""Reads for notifications: policies, templates and cap ledgers for a batch, in a few queries."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q, QuerySet
from django.db.models.functions import Coalesce

from notifications.models import Message, MessageTemplate, ReminderPolicy

# Texts the patient did not ask for count against the FCC caps; replies to their own
# STOP/START/HELP are exempt.
CAPPED_PURPOSES = ("reminder", "missed_checkin")
# Planned or on their way: they will (or did) reach the patient.
LIVE_STATUSES = ("pending", "queued", "sending", "sent", "delivered")
SENT_STATUSES = ("sending", "sent", "delivered")


@dataclass
class PolicyBook:
    by_key: dict[tuple[int | None, str], ReminderPolicy]

    @classmethod
    def load(cls, clinic_ids: Iterable[int]) -> PolicyBook:
        rows = ReminderPolicy.objects.filter(Q(clinic_id__in=list(clinic_ids)) | Q(clinic__isnull=True))
        return cls({(p.clinic_id, p.medication): p for p in rows})

    def resolve(self, clinic_id: int, medication: str | None) -> ReminderPolicy | None:
        """The clinic's own row wins (even a disabled one); else the shipped default."""
        if not medication:
            return None
        policy = self.by_key.get((clinic_id, medication)) or self.by_key.get((None, medication))
        return policy if policy is not None and policy.enabled else None


@dataclass
class TemplateBook:
    by_key: dict[tuple[int | None, str, str], str]

    @classmethod
    def load(cls, clinic_ids: Iterable[int], purposes: Iterable[str] | None = None) -> TemplateBook:
        rows = MessageTemplate.objects.filter(Q(clinic_id__in=list(clinic_ids)) | Q(clinic__isnull=True))
        if purposes is not None:
            rows = rows.filter(purpose__in=list(purposes))
        return cls({(t.clinic_id, t.purpose, t.language): t.body for t in rows})

    def body(self, clinic_id: int, purpose: str, language: str) -> tuple[str, str] | None:
        """(body, language): the clinic's template in the patient's language, the default in it,
        then the same in English."""
        for lang in dict.fromkeys([language or "en", "en"]):
            for owner in (clinic_id, None):
                found = self.by_key.get((owner, purpose, lang))
                if found:
                    return found, lang
        return None


def capped_instants(patient_ids: Iterable[int], *, since: datetime) -> dict[int, list[tuple[int, datetime]]]:
    """(message id, instant) of each patient's live capped texts from `since` on, one query."""
    rows = (
        Message.objects.filter(patient_id__in=list(patient_ids), purpose__in=CAPPED_PURPOSES, status__in=LIVE_STATUSES)
        .annotate(at=Coalesce("sent_at", "scheduled_for"))
        .filter(at__gte=since)
        .values_list("patient_id", "id", "at")
    )
    grouped: dict[int, list[tuple[int, datetime]]] = defaultdict(list)
    for patient_id, message_id, at in rows:
        grouped[patient_id].append((message_id, at))
    return grouped


def sent_capped_instants(
    patient_ids: Iterable[int], *, since: datetime, exclude_ids: Iterable[int] = ()
) -> dict[int, list[datetime]]:
    """Instants of each patient's capped texts that left (or are leaving) from `since` on, one query."""
    rows = (
        Message.objects.filter(patient_id__in=list(patient_ids), purpose__in=CAPPED_PURPOSES, status__in=SENT_STATUSES)
        .exclude(id__in=list(exclude_ids))
        .annotate(at=Coalesce("sent_at", "claimed_at", "scheduled_for"))
        .filter(at__gte=since)
        .values_list("patient_id", "at")
    )
    grouped: dict[int, list[datetime]] = defaultdict(list)
    for patient_id, at in rows:
        grouped[patient_id].append(at)
    return grouped


def messages_for_api() -> QuerySet[Message]:
    return Message.objects.order_by("-scheduled_for", "-id")
