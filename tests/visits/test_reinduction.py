"""Issue #14: resolving a hold (or re-induction) on a re-induction schedule — a series of dose orders from today,
within the rule set's methadone induction limits, made by the taper's code path."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from auditlog.models import LogEntry

from scheduler.errors import RuleViolation
from scheduler.models import DoseOrder
from scheduler.services import dose_reinduction_create
from tests.factories import PlanFactory
from tests.visits.conftest import MONDAY
from visits.models import Escalation

pytestmark = pytest.mark.django_db

SCHEDULE = {"start_mg": "20", "step_mg": "10", "every_days": 3, "target_mg": "45"}


def escalate(patient, plan, kind="hold"):
    return Escalation.objects.create(
        patient=patient, plan=plan, clinic=patient.clinic, kind=kind, reason="3 consecutive days without medication",
        consecutive_missed=3, anchor_date=MONDAY - timedelta(days=4),
    )


def resolve(api, escalation, **body):
    return api.post(f"/api/v1/escalations/{escalation.pk}/resolve/", {"note": "seen", **body}, format="json")


def test_a_hold_resolved_on_a_reinduction_schedule_creates_the_orders_and_the_next_dose_uses_the_first(
    api_as, patient, plan, visit
):
    held = escalate(patient, plan)
    done = resolve(api_as("clinician"), held, reinduction=SCHEDULE)
    assert done.status_code == 200, done.content
    orders = list(DoseOrder.objects.filter(plan=plan).order_by("effective_date"))
    assert [(str(o.dose_mg), (o.effective_date - MONDAY).days) for o in orders] == [
        ("20.00", 0), ("30.00", 3), ("40.00", 6), ("45.00", 9),
    ]
    assert orders[0].note == "re-induction step 1 of 4: after hold: seen"
    assert LogEntry.objects.filter(content_type__model="doseorder", action=LogEntry.Action.CREATE).count() == 4
    held.refresh_from_db()
    assert held.resolved_at is not None
    completed = api_as("nurse").post(f"/api/v1/visits/{visit.pk}/complete/", {}, format="json")
    assert completed.json()["dose_mg"] == "20.00"


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"start_mg": "35"}, "start_mg", "starts at most 30 mg (the first dose, 42 CFR 8.12(h)(3)(ii))"),
        ({"step_mg": "15"}, "step_mg", "raises by at most 10 mg a step (guideline, SAMHSA TIP 63)"),
        ({"every_days": 2}, "every_days", "no more often than every 3 days"),
        ({"target_mg": "10"}, "start_mg", "at most target_mg"),
    ],
)
def test_a_methadone_reinduction_keeps_to_the_induction_limits_and_leaves_the_hold_open(
    api_as, patient, plan, frozen, change, field, words
):
    held = escalate(patient, plan)
    refused = resolve(api_as("clinician"), held, reinduction={**SCHEDULE, **change})
    assert refused.status_code == 400
    assert words in str(refused.json()[field])
    held.refresh_from_db()
    assert held.resolved_at is None and not DoseOrder.objects.exists()


def test_one_restart_only_for_the_right_escalations_and_only_by_clinicians(api_as, patient, plan, frozen):
    held = escalate(patient, plan)
    both = resolve(api_as("clinician"), held, restart_dose_mg="20", reinduction=SCHEDULE)
    assert both.status_code == 400 and "reinduction" in both.json()
    assert resolve(api_as("nurse"), held, reinduction=SCHEDULE).status_code == 403
    outreach = escalate(patient, plan, kind="outreach")
    wrong = resolve(api_as("clinician"), outreach, reinduction=SCHEDULE)
    assert wrong.status_code == 400 and "follows a hold" in str(wrong.json())
    reinduction = escalate(patient, PlanFactory(patient=patient, medication="buprenorphine", start_date=MONDAY),
                           kind="reinduction")
    fine = resolve(api_as("clinician"), reinduction,
                   reinduction={"start_mg": "4", "step_mg": "4", "every_days": 1, "target_mg": "16"})
    assert fine.status_code == 200, fine.content
    assert DoseOrder.objects.filter(plan=reinduction.plan).count() == 4
    assert not DoseOrder.objects.filter(plan=plan).exists()


def test_the_service_refuses_a_past_start_and_a_too_long_schedule(staff, plan, frozen):
    with pytest.raises(RuleViolation) as past:
        dose_reinduction_create(plan=plan, start_mg=Decimal(10), step_mg=Decimal(5), every_days=3,
                                target_mg=Decimal(40), start_date=MONDAY - timedelta(days=1), by=staff["clinician"])
    assert past.value.field == "start_date"
    with pytest.raises(RuleViolation) as long:
        dose_reinduction_create(plan=plan, start_mg=Decimal(1), step_mg=Decimal("0.5"), every_days=3,
                                target_mg=Decimal(100), by=staff["clinician"])
    assert long.value.field == "step_mg" and "too long" in str(long.value)
