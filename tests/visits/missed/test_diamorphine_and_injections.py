"""Diamorphine counts sessions and flags re-titration; injections escalate by their allowed window."""

from __future__ import annotations

from datetime import date

from tests.visits.missed.conftest import at, complete, generate, kinds, sweep, visit_on
from visits.models import Escalation

MON, TUE, WED, THU, FRI = (date(2026, 11, d) for d in range(2, 7))


def twice_daily(make_plan):
    # 6 hours apart: one session in the 08:00–10:00 window, one in the 14:00–16:00 window.
    plan = make_plan(medication="diamorphine", start_date=MON, doses_per_day=2, min_interval_minutes=360)
    generate(plan, MON, days=7)
    return plan


def test_a_missed_afternoon_session_after_an_attended_morning_is_one_missed_session(make_plan):
    plan = twice_daily(make_plan)
    complete(visit_on(plan, MON, 0))
    result = sweep(at(MON, 17, 30))
    assert visit_on(plan, MON, 1).status == "missed"
    assert [(d.kind, d.consecutive_missed) for d in result.decisions] == [("checkin_text", 1)]
    assert kinds(plan) == []


def test_two_consecutive_missed_sessions_call_for_outreach(make_plan):
    plan = twice_daily(make_plan)
    complete(visit_on(plan, MON, 0))
    sweep(at(MON, 17, 30))
    sweep(at(TUE, 11, 30))
    outreach = Escalation.objects.get(plan=plan)
    assert (outreach.kind, outreach.consecutive_missed, outreach.anchor_date) == ("outreach", 2, MON)
    assert "2 consecutive missed supervised sessions" in outreach.reason


def test_an_interruption_of_three_days_without_a_session_flags_retitration(make_plan):
    plan = twice_daily(make_plan)
    complete(visit_on(plan, MON, 0))
    complete(visit_on(plan, MON, 1))
    sweep(at(WED, 17, 30))  # Tuesday and Wednesday without a session
    assert kinds(plan) == ["outreach"]
    sweep(at(THU, 11, 30))  # Thursday's afternoon session is still ahead
    assert kinds(plan) == ["outreach"]
    sweep(at(THU, 17, 30))
    retitration = Escalation.objects.get(plan=plan, kind="retitration")
    assert retitration.consecutive_missed == 3
    assert "re-titrat" in retitration.reason
    assert retitration.anchor_date == MON


def test_a_missed_injection_is_overdue_inside_its_window_and_needs_a_clinician_past_it(make_plan):
    plan = make_plan(medication="naltrexone_xr", start_date=MON)  # window MON..MON+7 (Vivitrol, practice)
    generate(plan, MON, days=14)
    visit = visit_on(plan, MON)
    assert visit.latest == date(2026, 11, 9)

    sweep(at(MON, 14, 30))  # 11:00–13:00 window, an hour's grace
    overdue = Escalation.objects.get(plan=plan)
    assert (overdue.kind, overdue.anchor_date, overdue.visit_id) == ("overdue_injection", MON, visit.pk)

    sweep(at(date(2026, 11, 9), 20))  # the last allowed day
    assert kinds(plan) == ["overdue_injection"]

    sweep(at(date(2026, 11, 10), 6))
    review = Escalation.objects.get(plan=plan, kind="clinician_review")
    assert review.reason.startswith("past the allowed window: opioid-free check by a clinician before the injection")
    assert review.anchor_date == MON
    assert sweep(at(date(2026, 11, 10), 7)).escalations_created == 0


def test_an_injection_given_after_a_miss_ends_the_overdue_streak(make_plan):
    plan = make_plan(medication="naltrexone_xr", start_date=MON)
    generate(plan, MON, days=14)
    sweep(at(MON, 14, 30))
    later = visit_on(plan, MON)
    later.pk = None
    later.status, later.date, later.source, later.planned_date = "completed", WED, "manual", None
    later.save()
    sweep(at(date(2026, 11, 12), 6))
    assert kinds(plan) == ["overdue_injection"]
