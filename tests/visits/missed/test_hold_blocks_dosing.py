"""An open hold stops dosing until a clinician resolves it (DOMAIN §4; visits.services.visit_complete)."""

from __future__ import annotations

from datetime import date

import pytest
import time_machine

from scheduler.errors import StateConflict
from tests.visits.missed.conftest import at, complete, generate, sweep, visit_on
from visits.missed import escalation_resolve
from visits.models import Escalation
from visits.services import visit_complete

MON, THU, FRI = date(2026, 11, 2), date(2026, 11, 5), date(2026, 11, 6)


def test_a_hold_after_three_missed_days_refuses_completion_until_resolved(make_plan, staff):
    plan = make_plan(start_date=MON)
    generate(plan, MON)
    complete(visit_on(plan, MON))
    sweep(at(THU, 11, 30))
    hold = Escalation.objects.get(plan=plan, kind="hold")
    friday = visit_on(plan, FRI)
    with time_machine.travel(at(FRI, 8), tick=False):
        with pytest.raises(StateConflict):
            visit_complete(visit=friday, by=staff["nurse"])
        escalation_resolve(escalation=hold, by=staff["clinician"], note="Seen; dose reduced to 30 mg")
        visit_complete(visit=visit_on(plan, FRI), by=staff["nurse"])
    assert visit_on(plan, FRI).status == "completed"
    assert sweep(at(FRI, 12)).escalations_created == 0


def test_the_service_refuses_a_nurse_and_a_blank_note(staff, make_plan):
    from django.core.exceptions import PermissionDenied

    from scheduler.errors import RuleViolation

    plan = make_plan(start_date=MON)
    generate(plan, MON)
    sweep(at(THU, 11, 30))
    hold = Escalation.objects.get(plan=plan, kind="hold")
    with pytest.raises(PermissionDenied):
        escalation_resolve(escalation=hold, by=staff["nurse"], note="ok")
    with pytest.raises(RuleViolation) as excinfo:
        escalation_resolve(escalation=hold, by=staff["clinician"], note="  ")
    assert excinfo.value.field == "note"
