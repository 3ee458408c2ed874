"""Days without medication for oral daily plans (DOMAIN.md §4), end to end through the sweep."""

from __future__ import annotations

from datetime import date

from tests.factories import ClosureFactory, PauseFactory
from tests.visits.missed.conftest import at, complete, generate, kinds, sweep, visit_on
from visits.models import Escalation

MON, TUE, WED, THU, FRI, SAT, SUN = (date(2026, 11, d) for d in range(2, 9))


def test_a_mon_wed_fri_patient_missing_monday_has_two_days_without_medication_by_wednesday_morning(make_plan):
    plan = make_plan(start_date=date(2026, 10, 26), attendance_weekdays=[0, 2, 4])
    generate(plan, date(2026, 10, 26))
    for d in (date(2026, 10, 26), date(2026, 10, 28), date(2026, 10, 30)):
        complete(visit_on(plan, d))  # Friday's visit hands out Saturday and Sunday

    monday = sweep(at(MON, 11, 30))
    assert visit_on(plan, MON).status == "missed"
    assert [d.kind for d in monday.decisions] == ["checkin_text"]
    assert kinds(plan) == []

    assert sweep(at(TUE, 12)).escalations_created == 0

    sweep(at(WED, 6))
    outreach = Escalation.objects.get(plan=plan)
    assert outreach.kind == "outreach"
    assert outreach.consecutive_missed == 2
    assert outreach.anchor_date == date(2026, 11, 1)  # Sunday, the last date Friday's take-homes covered
    assert outreach.visit == visit_on(plan, MON)


def test_three_missed_daily_doses_hold_four_need_a_clinician_and_five_need_reinduction(make_plan):
    plan = make_plan(start_date=MON)
    generate(plan, MON)
    complete(visit_on(plan, MON))

    tuesday = sweep(at(TUE, 11, 30))
    assert [d.kind for d in tuesday.decisions] == ["checkin_text"]
    sweep(at(WED, 11, 30))
    assert kinds(plan) == ["outreach"]
    wednesday_again = sweep(at(WED, 18))
    assert wednesday_again.decisions == []

    sweep(at(THU, 11, 30))
    hold = Escalation.objects.get(plan=plan, kind="hold")
    assert hold.consecutive_missed == 3
    assert hold.reason.startswith("3 consecutive days without medication (hold at 3: no dose until a clinician")
    assert hold.anchor_date == MON

    sweep(at(FRI, 11, 30))
    assert Escalation.objects.get(plan=plan, kind="clinician_review").consecutive_missed == 4
    sweep(at(SAT, 11, 30))
    assert Escalation.objects.get(plan=plan, kind="reinduction").consecutive_missed == 5
    assert kinds(plan) == ["clinician_review", "hold", "outreach", "reinduction"]


def test_a_sweep_that_catches_up_after_five_days_raises_every_step_at_once(make_plan):
    plan = make_plan(start_date=MON)
    generate(plan, MON)
    complete(visit_on(plan, MON))
    result = sweep(at(SAT, 11, 30))
    assert result.missed == 5
    assert kinds(plan) == ["clinician_review", "hold", "outreach", "reinduction"]
    assert result.decisions == []  # past the first step: staff act, no check-in text


def test_take_home_days_covered_by_a_completed_visit_are_never_counted(make_plan):
    plan = make_plan(start_date=date(2026, 10, 26), attendance_weekdays=[0, 2, 4])
    generate(plan, date(2026, 10, 26))
    for d in (date(2026, 10, 26), date(2026, 10, 28), date(2026, 10, 30), MON, WED, FRI):
        complete(visit_on(plan, d))
    for d in (date(2026, 10, 27), date(2026, 10, 31), TUE, THU, SAT, SUN):
        sweep(at(d, 23))
    assert Escalation.objects.count() == 0


def test_take_homes_never_handed_out_count_as_days_without_medication(make_plan):
    plan = make_plan(start_date=date(2026, 10, 26), attendance_weekdays=[0, 2, 4])
    generate(plan, date(2026, 10, 26))
    complete(visit_on(plan, date(2026, 10, 26)))
    complete(visit_on(plan, date(2026, 10, 28)))
    complete(visit_on(plan, date(2026, 10, 30)), take_home_doses=0)  # Saturday and Sunday not handed out
    sweep(at(date(2026, 10, 31), 12))  # a take-home day, not over yet
    assert kinds(plan) == []
    sweep(at(MON, 6))  # Saturday and Sunday are over: 2 days, although no visit was missed
    assert kinds(plan) == ["outreach"]


def test_a_closure_covered_by_take_homes_is_not_counted(make_plan, clinic):
    ClosureFactory(clinic=clinic, date=THU, reason="Staff training")
    plan = make_plan(start_date=MON)
    generate(plan, MON)
    assert visit_on(plan, WED).expected_take_home_doses == 1
    for d in (MON, TUE, WED):
        complete(visit_on(plan, d))  # Wednesday hands out Thursday's dose
    friday = sweep(at(FRI, 11, 30))
    assert [(d.kind, d.consecutive_missed) for d in friday.decisions] == [("checkin_text", 1)]
    assert kinds(plan) == []


def test_guest_dosing_days_are_neither_attended_nor_missed(make_plan):
    plan = make_plan(start_date=MON)
    PauseFactory(plan=plan, start=TUE, end=THU, reason="guest_dosing")
    generate(plan, MON)
    complete(visit_on(plan, MON))
    for d in (TUE, WED, THU):
        sweep(at(d, 23))
    assert kinds(plan) == []
    friday = sweep(at(FRI, 11, 30))
    assert [(d.kind, d.consecutive_missed) for d in friday.decisions] == [("checkin_text", 1)]
    sweep(at(SAT, 11, 30))
    assert kinds(plan) == ["outreach"]
    assert Escalation.objects.get(plan=plan).consecutive_missed == 2


def test_a_new_patient_who_never_comes_is_counted_from_the_plan_start(make_plan):
    plan = make_plan(start_date=MON)
    generate(plan, MON)
    sweep(at(WED, 11, 30))
    outreach = Escalation.objects.get(plan=plan, kind="outreach")
    assert outreach.anchor_date == date(2026, 11, 1)
    assert sorted(Escalation.objects.values_list("kind", flat=True)) == ["hold", "outreach"]


def test_an_excused_visit_neither_counts_nor_ends_the_streak(make_plan):
    plan = make_plan(start_date=MON)
    generate(plan, MON)
    complete(visit_on(plan, MON))
    visit = visit_on(plan, WED)
    visit.status = "excused"
    visit.save(update_fields=["status"])
    sweep(at(THU, 11, 30))  # Tuesday and Thursday missed, Wednesday excused
    assert kinds(plan) == ["outreach"]
