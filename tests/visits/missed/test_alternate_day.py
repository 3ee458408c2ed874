"""Issue #15: an alternate-day buprenorphine patient through generation, completion and the missed sweep.

A double dose every 48 hours covers the day between: an adherent patient raises nothing; a missed alternate-day
visit leaves 2 days without medication (the dose date and the day it would have covered)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import time_machine

from tests.visits.missed.conftest import at, generate, kinds, sweep
from visits.models import Escalation, Visit
from visits.services import visit_complete

pytestmark = pytest.mark.django_db
MON = date(2026, 11, 2)  # the clinic fixture doses methadone/buprenorphine Monday to Saturday


def _d(i: int) -> date:
    return MON + timedelta(days=i)


def _complete(visit: Visit, nurse) -> Visit:
    with time_machine.travel(at(visit.date, 8), tick=False):
        return visit_complete(visit=visit, by=nurse, take_home_doses=visit.expected_take_home_doses)


@pytest.fixture
def alternate(make_plan):
    plan = make_plan(medication="buprenorphine", interval_days=2, start_date=MON)
    generate(plan, MON, days=28)
    return plan


def _dose_visits(plan) -> list[Visit]:
    return list(Visit.objects.filter(plan=plan, kind="dose").order_by("date"))


def test_the_calendar_has_a_visit_every_other_day_and_a_closure_take_home_on_sunday(alternate):
    dates = [v.date for v in _dose_visits(alternate)]
    assert dates[:4] == [_d(0), _d(2), _d(4), _d(8)]  # Sunday 8 Nov is closed: Friday hands it out
    friday = Visit.objects.get(plan=alternate, date=_d(4))
    assert friday.expected_take_home_doses == 1


def test_an_adherent_alternate_day_patient_raises_nothing_in_four_weeks(alternate, staff):
    visits = {v.date: v for v in _dose_visits(alternate)}
    decisions = []
    for i in range(28):
        day = _d(i)
        if day in visits:
            done = _complete(visits[day], staff["nurse"])
            # The double dose covers the next day too, and each take-home (double) dose its next day.
            assert done.covered_through == day + timedelta(days=2 * (done.take_home_doses + 1) - 1)
        for hour in (6, 12, 23):
            result = sweep(at(day, hour))
            decisions += result.decisions
            assert result.missed == 0
    assert kinds(alternate) == []
    assert decisions == []


def test_a_missed_alternate_day_visit_is_two_days_without_medication(alternate, staff):
    _complete(Visit.objects.get(plan=alternate, date=_d(0)), staff["nurse"])  # covers Mon and Tue
    wednesday = sweep(at(_d(2), 11, 30))
    assert Visit.objects.get(plan=alternate, date=_d(2)).status == "missed"
    assert [d.consecutive_missed for d in wednesday.decisions] == [1]
    assert kinds(alternate) == []
    sweep(at(_d(3), 12))  # Thursday: the day the missed double dose would have covered is not over yet
    assert kinds(alternate) == []

    sweep(at(_d(4), 6))  # Friday morning: Wednesday and Thursday without medication
    outreach = Escalation.objects.get(plan=alternate)
    assert (outreach.kind, outreach.consecutive_missed, outreach.anchor_date) == ("outreach", 2, _d(1))


def test_two_missed_alternate_day_visits_hold_then_need_a_clinician(alternate, staff):
    _complete(Visit.objects.get(plan=alternate, date=_d(0)), staff["nurse"])
    sweep(at(_d(2), 11, 30))
    sweep(at(_d(4), 11, 30))  # Friday missed too: Wed, Thu, Fri
    assert kinds(alternate) == ["hold", "outreach"]
    assert Escalation.objects.get(plan=alternate, kind="hold").consecutive_missed == 3
    sweep(at(_d(6), 6))  # Sunday morning: Saturday, the day Friday's double dose would have covered
    assert kinds(alternate) == ["clinician_review", "hold", "outreach"]


def test_a_catch_up_dose_on_the_covered_day_is_refused(alternate, staff):
    from scheduler.errors import StateConflict
    from tests.visits.conftest import make_visit

    _complete(Visit.objects.get(plan=alternate, date=_d(0)), staff["nurse"])
    window = alternate.patient.clinic.windows.get(start__hour=7)
    extra = make_visit(alternate.patient, window=window, day=_d(1), plan=alternate)
    with pytest.raises(StateConflict, match="covered"):
        _complete(extra, staff["nurse"])
