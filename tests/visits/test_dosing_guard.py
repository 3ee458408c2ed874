"""The dosing guard through the API (API.md v1.1): every case of issue #11 is refused with a reason naming its rule."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine

from scheduler.models import Plan
from tests.factories import PlanFactory
from tests.visits.conftest import MONDAY, make_visit
from visits.models import Escalation, Visit

pytestmark = pytest.mark.django_db


def complete(api, visit, **body):
    return api.post(f"/api/v1/visits/{visit.pk}/complete/", body, format="json")


def hold(patient, plan, kind="hold", days_ago=1):
    return Escalation.objects.create(
        patient=patient, plan=plan, clinic=patient.clinic, kind=kind, reason="3 consecutive days without medication",
        consecutive_missed=3, anchor_date=MONDAY - timedelta(days=days_ago + 3),
    )


@pytest.fixture
def mwf_plan(patient):
    """Methadone Monday, Wednesday, Friday: Tuesday and Thursday are take-home days (earned)."""
    return PlanFactory(
        patient=patient, medication="methadone", start_date=MONDAY - timedelta(days=60),
        treatment_start=MONDAY - timedelta(days=60), attendance_weekdays=[0, 2, 4],
    )


# --- one dose a day, covered dates ------------------------------------------------------------------------


def test_a_dose_on_a_date_covered_by_take_homes_is_refused_and_the_covered_visit_is_excused(
    api_as, patient, mwf_plan, oral_window, frozen
):
    monday = make_visit(patient, window=oral_window, plan=mwf_plan, source="plan", planned_date=MONDAY)
    tuesday = make_visit(patient, window=oral_window, plan=mwf_plan, day=MONDAY + timedelta(days=1))
    response = complete(api_as("nurse"), monday, take_home_doses=1)
    assert response.status_code == 200, response.content
    tuesday.refresh_from_db()
    assert (tuesday.status, tuesday.status_reason) == ("excused", "covered by take-homes from 2026-11-02")

    frozen.move_to(datetime(2026, 11, 3, 13, 0, tzinfo=UTC))
    booked = api_as("front_desk").post(
        "/api/v1/visits/", {"patient": patient.pk, "kind": "dose", "date": "2026-11-03"}, format="json"
    )
    assert booked.status_code == 409
    assert "covered by take-homes until Tue 3 Nov" in booked.json()["detail"]


def test_two_methadone_plans_never_dose_twice_on_one_date(api_as, patient, plan, oral_window, frozen):
    second = PlanFactory(patient=patient, medication="methadone", start_date=MONDAY)  # legacy data
    first = make_visit(patient, window=oral_window, plan=plan)
    other = make_visit(patient, window=oral_window, plan=second)
    assert complete(api_as("nurse"), first).status_code == 200
    response = complete(api_as("nurse"), other)
    assert response.status_code == 409
    assert "already given on Mon 2 Nov" in response.json()["detail"]
    assert "One observed dose per medication per day" in response.json()["detail"]


def test_a_second_active_plan_for_one_medication_is_refused_naming_the_first(api_as, patient, plan, frozen):
    response = api_as("clinician").post(
        "/api/v1/plans/",
        {"patient": patient.pk, "medication": "methadone", "start_date": "2026-11-09"},
        format="json",
    )
    assert response.status_code == 400
    assert f"plan #{plan.pk}" in str(response.json())
    assert Plan.objects.filter(patient=patient).count() == 1


# --- injections ------------------------------------------------------------------------------------------


def test_sublocade_ten_days_after_the_last_injection_is_refused(api_as, patient, clinic, frozen):
    sublocade = PlanFactory(patient=patient, medication="buprenorphine_xr_monthly", start_date=MONDAY - timedelta(30))
    window = clinic.windows.get(services__contains="buprenorphine_xr_monthly")
    make_visit(patient, window=window, plan=sublocade, kind="injection", day=MONDAY - timedelta(days=10),
               status="completed", completed_at=datetime(2026, 10, 23, 16, 0, tzinfo=UTC))
    today = make_visit(patient, window=window, plan=sublocade, kind="injection")
    response = complete(api_as("clinician"), today)
    assert response.status_code == 409
    detail = response.json()["detail"]
    assert "Sublocade: at least 26 days between injections (label)" in detail
    assert "last injection Fri 23 Oct, 10 days ago; next from Wed 18 Nov" in detail


def test_a_sublocade_plan_every_20_days_is_refused(api_as, patient, frozen):
    response = api_as("clinician").post(
        "/api/v1/plans/",
        {"patient": patient.pk, "medication": "buprenorphine_xr_monthly", "start_date": "2026-11-09",
         "interval_days": 20},
        format="json",
    )
    assert response.status_code == 400
    assert "at least 26 days apart" in str(response.json()["interval_days"])


# --- diamorphine -----------------------------------------------------------------------------------------


@pytest.fixture
def diamorphine(patient):
    return PlanFactory(patient=patient, medication="diamorphine", doses_per_day=2, min_interval_minutes=360)


def test_two_diamorphine_sessions_two_minutes_apart_are_refused(api_as, patient, clinic, diamorphine):
    morning, afternoon = clinic.windows.filter(services__contains="diamorphine").order_by("start")
    first = make_visit(patient, window=morning, plan=diamorphine, session=0)
    second = make_visit(patient, window=afternoon, plan=diamorphine, session=1)
    with time_machine.travel(datetime(2026, 11, 2, 13, 5, tzinfo=UTC), tick=False) as t:
        assert complete(api_as("nurse"), first).status_code == 200
        t.shift(timedelta(minutes=2))
        response = complete(api_as("nurse"), second)
    assert response.status_code == 409
    assert "at least 6 h 00 min between sessions" in response.json()["detail"]
    assert "last session at 08:05 on Mon 2 Nov, 2 minutes ago; next from 14:05" in response.json()["detail"]


def test_the_diamorphine_interval_counts_across_midnight(api_as, patient, clinic, diamorphine):
    morning = clinic.windows.filter(services__contains="diamorphine").order_by("start").first()
    late = make_visit(patient, window=morning, plan=diamorphine, day=MONDAY, status="completed",
                      completed_at=datetime(2026, 11, 3, 4, 30, tzinfo=UTC))  # 23:30 Monday in New York
    assert late.pk
    tuesday = make_visit(patient, window=morning, plan=diamorphine, day=MONDAY + timedelta(days=1))
    with time_machine.travel(datetime(2026, 11, 3, 7, 0, tzinfo=UTC), tick=False):  # 02:00 Tuesday
        response = complete(api_as("nurse"), tuesday)
    assert response.status_code == 409
    assert "2 h 30 min ago" in response.json()["detail"]


def test_a_retitration_flag_blocks_diamorphine_but_not_methadone(api_as, patient, clinic, diamorphine, plan, frozen):
    hold(patient, diamorphine, kind="retitration")
    morning = clinic.windows.filter(services__contains="diamorphine").order_by("start").first()
    session = make_visit(patient, window=morning, plan=diamorphine)
    response = complete(api_as("nurse"), session)
    assert response.status_code == 409
    assert "re-titration" in response.json()["detail"]


# --- holds across plans ------------------------------------------------------------------------------------


def test_a_hold_on_one_plan_blocks_the_dose_of_another(api_as, patient, plan, clinic, oral_window, frozen):
    sublocade = PlanFactory(patient=patient, medication="buprenorphine_xr_monthly", start_date=MONDAY)
    hold(patient, sublocade, kind="clinician_review")
    visit = make_visit(patient, window=oral_window, plan=plan)
    response = complete(api_as("nurse"), visit)
    assert response.status_code == 409
    assert response.json()["detail"].startswith("plan on hold: clinician review since")
    assert "No dose or injection for this patient until a clinician resolves it" in response.json()["detail"]


# --- take-homes and the calendar ---------------------------------------------------------------------------


def test_a_nurse_cannot_hand_out_take_homes_the_daily_plan_does_not_expect(api_as, plan, visit):
    response = complete(api_as("nurse"), visit, take_home_doses=7)
    assert response.status_code == 409
    detail = response.json()["detail"]
    assert "calendar expects 0 take-home doses at this visit on Mon 2 Nov, not 7" in detail
    assert "only a clinician can hand out more" in detail


def test_a_clinician_may_exceed_the_calendar_with_a_reason_within_the_limit(api_as, plan, visit):
    assert complete(api_as("clinician"), visit, take_home_doses=7).status_code == 409  # no reason
    too_many = complete(api_as("clinician"), visit, take_home_doses=8, take_home_reason="family emergency")
    assert too_many.status_code == 400
    assert "at most 7 take-home doses at once on treatment days 1–14" in str(too_many.json())
    response = complete(api_as("clinician"), visit, take_home_doses=7, take_home_reason="family emergency")
    assert response.status_code == 200, response.content
    visit.refresh_from_db()
    assert visit.status_reason == "take-homes: family emergency"


def test_a_hold_suspends_earned_take_homes_until_a_clinician_approves(api_as, patient, mwf_plan, oral_window, frozen):
    from visits.missed import escalations_evaluate

    for n in range(1, 5):  # missed Tue..Fri of the week before: a hold
        make_visit(patient, window=oral_window, plan=mwf_plan, day=MONDAY - timedelta(days=n), status="missed")
    make_visit(patient, window=oral_window, plan=mwf_plan, day=MONDAY - timedelta(days=5), status="completed",
               completed_at=datetime(2026, 10, 28, 12, 0, tzinfo=UTC))
    escalations_evaluate(plan_ids=[mwf_plan.pk])
    mwf_plan.refresh_from_db()
    assert mwf_plan.takehome_approved is False
    resolve = Escalation.objects.filter(plan=mwf_plan, resolved_at=None)
    for e in resolve:
        assert api_as("clinician").post(f"/api/v1/escalations/{e.pk}/resolve/", {"note": "seen"}).status_code == 200

    calendar = api_as("nurse").get(f"/api/v1/plans/{mwf_plan.pk}/calendar/?date_from=2026-11-03&date_to=2026-11-03")
    assert calendar.json()[0]["expected"] == "visit"  # Tuesday is no longer a take-home day
    monday = make_visit(patient, window=oral_window, plan=mwf_plan)
    refused = complete(api_as("nurse"), monday, take_home_doses=1)
    assert refused.status_code == 409
    assert "expects 0 take-home doses" in refused.json()["detail"]

    review = api_as("clinician").post(
        f"/api/v1/plans/{mwf_plan.pk}/takehome-review/", {"approved": True, "note": "stable again"}, format="json"
    )
    assert review.status_code == 200 and review.json()["takehome_approved"] is True
    calendar = api_as("nurse").get(f"/api/v1/plans/{mwf_plan.pk}/calendar/?date_from=2026-11-03&date_to=2026-11-03")
    assert calendar.json()[0]["expected"] == "take_home"
    assert complete(api_as("nurse"), monday, take_home_doses=1).status_code == 200


def test_a_clinician_can_suspend_take_homes_without_a_hold(api_as, mwf_plan, frozen):
    response = api_as("clinician").post(
        f"/api/v1/plans/{mwf_plan.pk}/takehome-review/", {"approved": False, "note": "diversion concern"},
        format="json",
    )
    assert response.status_code == 200
    assert (response.json()["takehome_approved"], response.json()["takehome_suspended_on"]) == (False, "2026-11-02")
    assert api_as("nurse").post(f"/api/v1/plans/{mwf_plan.pk}/takehome-review/", {}).status_code == 403


def test_readmission_after_245_days_restarts_treatment_day_1(api_as, patient, oral_window, frozen):
    long_ago = MONDAY - timedelta(days=245)
    plan = PlanFactory(patient=patient, start_date=long_ago - timedelta(days=400),
                       treatment_start=long_ago - timedelta(days=400), attendance_weekdays=[0])
    make_visit(patient, window=oral_window, plan=plan, day=long_ago, status="completed",
               completed_at=datetime(2026, 3, 2, 13, 0, tzinfo=UTC))
    visit = make_visit(patient, window=oral_window, plan=plan)
    response = complete(api_as("clinician"), visit, take_home_doses=28, take_home_reason="weekly pattern")
    assert response.status_code == 400
    assert "at most 7 take-home doses at once on treatment days 1–14 (treatment day 1)" in str(response.json())
    assert complete(api_as("nurse"), visit, take_home_doses=6).status_code == 200
    plan.refresh_from_db()
    assert plan.treatment_start == MONDAY


def test_take_homes_for_a_monday_to_friday_patient_excuse_every_covered_visit(api_as, patient, oral_window, frozen):
    plan = PlanFactory(patient=patient, start_date=MONDAY - timedelta(days=90),
                       treatment_start=MONDAY - timedelta(days=90), attendance_weekdays=[0, 1, 2, 3, 4])
    visits = [make_visit(patient, window=oral_window, plan=plan, day=MONDAY + timedelta(days=n)) for n in range(9)]
    response = complete(api_as("clinician"), visits[0], take_home_doses=8, take_home_reason="travel")
    assert response.status_code == 200, response.content
    statuses = list(Visit.objects.filter(pk__in=[v.pk for v in visits[1:]]).order_by("date").values_list(
        "status", flat=True))
    assert statuses == ["excused"] * 8


# --- guest dosing notice -----------------------------------------------------------------------------------


def test_guest_dosing_starting_within_the_notice_is_refused_for_the_front_desk(api_as, plan):
    # 23:59 on Monday in New York: tomorrow starts in one minute.
    with time_machine.travel(datetime(2026, 11, 3, 4, 59, tzinfo=UTC), tick=False):
        body = {"start": "2026-11-03", "end": "2026-11-05", "reason": "guest_dosing"}
        response = api_as("front_desk").post(f"/api/v1/plans/{plan.pk}/pauses/", body, format="json")
        assert response.status_code == 400
        assert "at least 24 hours' notice" in str(response.json()["start"])
        assert "2026-11-04 at the earliest" in str(response.json()["start"])
        assert api_as("clinician").post(f"/api/v1/plans/{plan.pk}/pauses/", body, format="json").status_code == 201


# --- naltrexone re-start -----------------------------------------------------------------------------------


def test_naltrexone_fourteen_days_late_raises_a_restart_distinct_from_the_clinician_review(patient, clinic):
    from visits.missed import escalations_evaluate

    plan = PlanFactory(patient=patient, medication="naltrexone_xr", start_date=date(2026, 10, 1))
    window = clinic.windows.get(services__contains="naltrexone_xr")
    make_visit(patient, window=window, plan=plan, kind="injection", day=date(2026, 10, 15), status="missed",
               target_date=date(2026, 10, 15), latest=date(2026, 10, 22))
    with time_machine.travel(datetime(2026, 10, 24, 15, 0, tzinfo=UTC), tick=False):  # 9 days late
        escalations_evaluate(plan_ids=[plan.pk])
    assert set(Escalation.objects.filter(plan=plan).values_list("kind", flat=True)) == {
        "overdue_injection", "clinician_review"}
    with time_machine.travel(datetime(2026, 10, 29, 15, 0, tzinfo=UTC), tick=False):  # 14 days late
        escalations_evaluate(plan_ids=[plan.pk])
    restart = Escalation.objects.get(plan=plan, kind="restart")
    assert "14 days past the injection due 2026-10-15 (re-start at 14 days late" in restart.reason


# --- what the pages show before anyone clicks --------------------------------------------------------------


def test_dose_blockers_give_the_guards_reason_for_each_visit_in_three_queries(
    patient, plan, clinic, oral_window, frozen, django_assert_max_num_queries
):
    from django.utils import timezone

    from tests.factories import PatientFactory
    from visits.selectors import dose_blockers

    held = make_visit(patient, window=oral_window, plan=plan)
    hold(patient, plan)
    others = []
    for _ in range(5):
        other = PatientFactory(clinic=clinic)
        other_plan = PlanFactory(patient=other, start_date=MONDAY - timedelta(days=30), attendance_weekdays=[0, 3])
        make_visit(other, window=oral_window, plan=other_plan, day=MONDAY - timedelta(days=1), status="completed",
                   take_home_doses=2, covered_through=MONDAY + timedelta(days=1))
        others.append(make_visit(other, window=oral_window, plan=other_plan))
    free = make_visit(PatientFactory(clinic=clinic), window=oral_window,
                      plan=PlanFactory(patient=PatientFactory(clinic=clinic), start_date=MONDAY))
    visits = list(Visit.objects.filter(pk__in=[held.pk, free.pk, *[o.pk for o in others]])
                  .select_related("plan", "clinic__rule_set"))
    from unittest import mock

    from scheduler import selectors as scheduler_selectors

    parse = mock.Mock(wraps=scheduler_selectors.rules_for_clinic)
    with django_assert_max_num_queries(3), mock.patch.object(scheduler_selectors, "rules_for_clinic", parse):
        blockers = dose_blockers(visits=visits, now=timezone.now())
    assert parse.call_count == 1  # the clinic's rules are parsed once for the board, not once per row
    assert blockers[held.pk].startswith("plan on hold: hold since")
    assert all("covered by take-homes until Tue 3 Nov" in blockers[o.pk] for o in others)
    assert free.pk not in blockers


def test_the_sweep_that_opens_a_hold_turns_take_home_days_into_visits_at_once(patient, mwf_plan, oral_window):
    from jobs.tasks import run_mark_missed
    from visits.generation import visits_generate

    with time_machine.travel(datetime(2026, 10, 26, 10, 0, tzinfo=UTC), tick=False):  # Monday 26 Oct
        visits_generate(clinic_ids=[patient.clinic_id], horizon_days=28)
    make_visit(patient, window=oral_window, plan=mwf_plan, day=MONDAY - timedelta(days=7), status="completed",
               take_home_doses=1, covered_through=MONDAY - timedelta(days=6),
               completed_at=datetime(2026, 10, 26, 13, 0, tzinfo=UTC))
    tuesday = MONDAY + timedelta(days=1)
    assert not Visit.objects.filter(plan=mwf_plan, date=tuesday).exists()  # a take-home day
    with time_machine.travel(datetime(2026, 11, 2, 11, 0, tzinfo=UTC), tick=False):
        result, _ = run_mark_missed(notify=False)
    assert result.suspended_plan_ids == [mwf_plan.pk]
    assert Escalation.objects.filter(plan=mwf_plan, kind="hold", resolved_at=None).exists()
    assert Visit.objects.get(plan=mwf_plan, date=tuesday).status == "scheduled"
