"""Inbound texts: keywords (STOP, START, HELP, C, R, LATE), the reply they get and the staff task they make,
and closing a staff task."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from notifications.models import InboundMessage, Message
from notifications.optout import patients_opt_in, patients_opt_out
from notifications.outbox import TemplateMissing, render_message
from notifications.privacy import ForbiddenContent
from notifications.rendering import MessageTooLong
from notifications.selectors import TemplateBook
from scheduler.audit import log_closed
from scheduler.errors import StateConflict
from scheduler.models import Patient
from scheduler.selectors import rules_for_clinic
from visits.models import StaffTask, Visit

logger = logging.getLogger(__name__)


OPT_OUT_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT", "OPT OUT"})
OPT_IN_WORDS = frozenset({"START", "UNSTOP"})
HELP_WORDS = frozenset({"HELP", "INFO"})
TASK_WORDS = {"C": "confirm", "R": "reschedule_request", "LATE": "late"}


def keyword_of(body: str) -> str:
    word = " ".join((body or "").split()).upper()
    if word in OPT_OUT_WORDS:
        return "opt_out"
    if word in OPT_IN_WORDS:
        return "opt_in"
    if word == "YES":
        return "yes"
    if word in HELP_WORDS:
        return "help"
    return TASK_WORDS.get(word, "inbox")


def inbound_receive(*, provider_id: str, from_number: str, body: str) -> str | None:
    """Record an incoming text once and act on it. Returns the reply text (sent as TwiML) or None."""
    now = timezone.now()
    with transaction.atomic():
        inbound, created = InboundMessage.objects.get_or_create(
            provider_id=provider_id, defaults={"from_number": from_number[:20], "body": (body or "")[:1600]}
        )
        if not created:
            return None  # the provider retried: acted on already
        patients = list(Patient.objects.filter(phone=from_number).select_related("clinic__rule_set").order_by("id"))
        if not patients:
            InboundMessage.objects.filter(id=inbound.pk).update(handled_as="unknown_sender")
            return None
        handled, reply, task = _act_on_keyword(keyword_of(body), patients, body, now)
        InboundMessage.objects.filter(id=inbound.pk).update(
            handled_as=handled, patient=patients[0], clinic_id=patients[0].clinic_id, task=task
        )
        return reply


def _act_on_keyword(
    keyword: str, patients: list[Patient], body: str, now: datetime
) -> tuple[str, str | None, StaffTask | None]:
    ids = [p.pk for p in patients]
    if keyword == "yes":
        opted_out = [p for p in patients if p.sms_opted_out]
        keyword = "opt_in" if opted_out else "confirm"
        patients = opted_out or patients
        ids = [p.pk for p in patients]
    if keyword == "opt_out":
        # DOMAIN §5: one confirmation per opt-out. A STOP from a number already opted out is recorded (the
        # caller stores it as handled) but answered with nothing: a second confirmation is a second text the
        # patient asked not to get. The row lock makes two STOPs arriving together confirm once.
        newly = set(
            Patient.objects.select_for_update().filter(id__in=ids, sms_opted_out=False).values_list("id", flat=True)
        )
        patients_opt_out(patient_ids=newly, now=now)
        answered = [p for p in patients if p.pk in newly]
        return "opt_out", _reply(answered, "opt_out_confirmation", now) if answered else None, None
    if keyword == "opt_in":
        patients_opt_in(patient_ids=ids, now=now)
        return "opt_in", _reply(patients, "opt_in_confirmation", now), None
    if keyword == "help":
        return "help", _reply(patients, "help", now), None
    tasks = [_staff_task(p, keyword, body) for p in patients]
    return keyword, None, tasks[0]


def _reply(patients: list[Patient], purpose: str, now: datetime) -> str | None:
    """Render the reply in the first patient's clinic; record it as a sent Message per patient."""
    first = patients[0]
    rules = rules_for_clinic(first.clinic)
    try:
        text = render_message(
            patient=first,
            clinic=first.clinic,
            purpose=purpose,
            templates=TemplateBook.load([first.clinic_id], [purpose]),
            max_chars=rules.sms_max_chars,
            extra_words=rules.privacy_extra,
        )
    except (ForbiddenContent, MessageTooLong, TemplateMissing, ValueError) as exc:
        logger.warning("no %s reply for patient %s: %s", purpose, first.pk, exc)
        return None
    Message.objects.bulk_create(
        Message(
            patient=p,
            purpose=purpose,
            body=text,
            to_number=p.phone,
            scheduled_for=now,
            status="sent",
            sent_at=now,
            status_reason="replied by TwiML",
        )
        for p in patients
    )
    return text


def _staff_task(patient: Patient, kind: str, body: str) -> StaffTask:
    visit = (
        Visit.objects.filter(patient=patient, status="scheduled", date__gte=timezone.now().date() - timedelta(days=1))
        .order_by("date", "start", "id")
        .first()
    )
    return StaffTask.objects.create(
        clinic_id=patient.clinic_id,
        patient=patient,
        visit=visit,
        kind=kind,
        detail=f"Text from the patient: {body.strip()[:500]}",
    )


def staff_task_done(*, task: StaffTask, user: Any) -> StaffTask:
    now = timezone.now()
    if StaffTask.objects.filter(id=task.pk, done_at__isnull=True).update(done_at=now, done_by=user) != 1:
        raise StateConflict("This task is already done.")
    task.refresh_from_db()
    log_closed(task, when_field="done_at", by_field="done_by", when=now, by=user)
    return task
