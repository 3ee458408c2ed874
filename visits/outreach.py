"""Outreach calls (issue #13): the front desk logs what came of calling a patient on an outreach escalation.

A call is a record, not a decision: it never resolves the escalation (who resolves what is unchanged)."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from scheduler.errors import RuleViolation, StateConflict
from visits.models import Escalation, OutreachCall

OUTCOMES = [value for value, _ in OutreachCall.OUTCOME_CHOICES]
NOTE_MAX = 300


@transaction.atomic
def outreach_call_log(*, escalation: Escalation, outcome: str, note: str = "", by: Any) -> OutreachCall:
    """Record one call on an open outreach escalation, for its patient; audited (visits.audit)."""
    escalation = Escalation.objects.select_for_update().get(pk=escalation.pk)
    if escalation.kind != "outreach":
        raise RuleViolation("Calls are logged on outreach escalations only.", field="escalation")
    if escalation.resolved_at is not None:
        raise StateConflict("This outreach escalation is already resolved: the call was not logged.")
    if outcome not in OUTCOMES:
        labels = ", ".join(label.lower() for _, label in OutreachCall.OUTCOME_CHOICES)
        raise RuleViolation(f"Choose what came of the call: {labels}.", field="outcome")
    note = (note or "").strip()
    if len(note) > NOTE_MAX:
        raise RuleViolation(f"The note is at most {NOTE_MAX} characters.", field="note")
    return OutreachCall.objects.create(
        escalation=escalation,
        patient_id=escalation.patient_id,
        outcome=outcome,
        note=note,
        by=by if getattr(by, "is_authenticated", False) else None,
    )
