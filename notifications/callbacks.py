"""Provider delivery callbacks: a status report moves a row forward, never back (STATUS_RANK)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.cache import cache
from django.utils import timezone

from notifications.models import STATUS_RANK, Message
from notifications.optout import patients_opt_out
from notifications.outbox import EARLY_STATUS_KEY, EARLY_STATUS_TTL
from notifications.transports import UNSUBSCRIBED

PROVIDER_STATUS = {
    "sending": "sending",
    "sent": "sent",
    "delivered": "delivered",
    "read": "delivered",
    "undelivered": "undelivered",
    "failed": "failed",
    "canceled": "failed",
}


def message_status_update(*, provider_id: str, status: str, error_code: str = "", now: datetime | None = None) -> int:
    """Apply a delivery status callback: forward only along STATUS_RANK; duplicates change nothing."""
    now = now or timezone.now()
    new = PROVIDER_STATUS.get((status or "").lower())
    if not provider_id or new is None:
        return 0
    rows = Message.objects.filter(provider_id=provider_id)
    if not rows.exists():
        # The callback beat our own write of the provider id; message_record_sent replays it.
        cache.set(EARLY_STATUS_KEY.format(provider_id), {"status": status, "error_code": error_code}, EARLY_STATUS_TTL)
        return 0
    lower = [s for s, r in STATUS_RANK.items() if r < STATUS_RANK[new]]
    fields: dict[str, Any] = {"status": new, "updated": now}
    if new == "delivered":
        fields["delivered_at"] = now
    n = rows.filter(status__in=lower).update(**fields)
    if error_code:
        rows.filter(error_code="").update(error_code=error_code)
        if error_code == UNSUBSCRIBED:
            patients_opt_out(patient_ids=rows.values_list("patient_id", flat=True), now=now)
    return n
