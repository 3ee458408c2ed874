"""Issue #14: methadone split doses — the order is the daily total, each of the two sessions gives its share."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest
from auditlog.models import LogEntry

from scheduler.models import DoseOrder, Plan
from tests.factories import PlanFactory, WindowFactory
from tests.visits.conftest import MONDAY, make_visit
from visits.generation import visits_generate
from visits.models import Visit
from visits.selectors import dose_due_mg, doses_due_mg

pytestmark = pytest.mark.django_db


@pytest.fixture
def split_plan(patient):
    return PlanFactory(patient=patient, medication="methadone", start_date=MONDAY - timedelta(days=60),
                       treatment_start=MONDAY - timedelta(days=60), doses_per_day=2, split_first_share=60)


def test_dose_due_is_the_order_in_force_times_the_sessions_share(patient, split_plan, oral_window, frozen):
    first = make_visit(patient, window=oral_window, plan=split_plan, source="plan", planned_date=MONDAY, session=0)
    second = make_visit(patient, window=oral_window, plan=split_plan, source="plan", planned_date=MONDAY, session=1)
    assert dose_due_mg(first) is None  # no order yet
    DoseOrder.objects.create(plan=split_plan, dose_mg=Decimal(90), effective_date=MONDAY - timedelta(days=3))
    DoseOrder.objects.create(plan=split_plan, dose_mg=Decimal(100), effective_date=MONDAY + timedelta(days=1))
    assert (dose_due_mg(first), dose_due_mg(second)) == (Decimal("54.00"), Decimal("36.00"))
    assert doses_due_mg([first, second]) == {first.pk: Decimal("54.00"), second.pk: Decimal("36.00")}


def test_an_even_split_by_default_and_a_whole_dose_when_not_split(patient, split_plan, oral_window, frozen):
    split_plan.split_first_share = None
    split_plan.save()
    DoseOrder.objects.create(plan=split_plan, dose_mg=Decimal("85"), effective_date=MONDAY)
    second = make_visit(patient, window=oral_window, plan=split_plan, source="plan", planned_date=MONDAY, session=1)
    assert dose_due_mg(second) == Decimal("42.50")
    other = PlanFactory(patient=patient, medication="buprenorphine", start_date=MONDAY)
    DoseOrder.objects.create(plan=other, dose_mg=Decimal(16), effective_date=MONDAY)
    assert dose_due_mg(make_visit(patient, window=oral_window, plan=other)) == Decimal("16.00")
    counselling = make_visit(patient, window=oral_window, kind="counselling")
    assert dose_due_mg(counselling) is None


def test_a_hand_booked_visit_of_a_split_plan_is_the_next_session_of_the_day(patient, split_plan, clinic, frozen):
    window = clinic.windows.get(start=time(7, 0))
    DoseOrder.objects.create(plan=split_plan, dose_mg=Decimal(100), effective_date=MONDAY)
    morning = make_visit(patient, window=window, plan=split_plan, source="manual")
    assert dose_due_mg(morning) == Decimal("60.00")
    morning.status, morning.dose_mg = "completed", Decimal(60)
    morning.save()
    evening = make_visit(patient, window=window, plan=split_plan, source="manual")
    assert dose_due_mg(evening) == Decimal("40.00")


# --- through the API: a split methadone plan, its calendar, its visits and completions -----------------------


@pytest.fixture
def evening_window(clinic):
    return WindowFactory(clinic=clinic, weekdays=[0, 1, 2, 3, 4, 5], start=time(15, 0), end=time(17, 0),
                         services=["methadone"], capacity=20)


def create_plan(api, patient, **body):
    return api.post("/api/v1/plans/", {"patient": patient.pk, "medication": "methadone",
                                       "start_date": MONDAY.isoformat(), **body}, format="json")


def test_a_split_plan_needs_two_windows_and_a_share_only_for_methadone(api_as, patient, frozen, clinic):
    one_window = create_plan(api_as("clinician"), patient, doses_per_day=2)
    assert one_window.status_code == 400
    assert "split dose needs two windows at least 30 minutes apart" in str(one_window.json()["doses_per_day"])
    WindowFactory(clinic=clinic, weekdays=[0, 1, 2, 3, 4, 5], start=time(15, 0), end=time(17, 0),
                  services=["methadone", "buprenorphine"], capacity=20)
    bup = api_as("clinician").post("/api/v1/plans/", {"patient": patient.pk, "medication": "buprenorphine",
                                                      "start_date": MONDAY.isoformat(), "doses_per_day": 2},
                                   format="json")
    assert bup.status_code == 400 and "doses_per_day" in bup.json()
    unsplit = create_plan(api_as("clinician"), patient, split_first_share=60)
    assert unsplit.status_code == 400 and "split_first_share" in unsplit.json()
    assert create_plan(api_as("nurse"), patient, doses_per_day=2).status_code == 403
    made = create_plan(api_as("clinician"), patient, doses_per_day=2, split_first_share=60)
    assert made.status_code == 201, made.content
    assert (made.json()["doses_per_day"], made.json()["split_first_share"]) == (2, 60)
    assert LogEntry.objects.get_for_object(Plan.objects.get(pk=made.json()["id"])).exists()


def test_the_calendar_and_generation_give_two_sessions_and_take_homes_at_the_last(
    api_as, patient, evening_window, frozen
):
    made = create_plan(api_as("clinician"), patient, doses_per_day=2, attendance_weekdays=[0, 1, 2, 3, 4, 5])
    plan = Plan.objects.get(pk=made.json()["id"])
    rows = api_as("nurse").get(f"/api/v1/plans/{plan.pk}/calendar/?date_from=2026-11-07&date_to=2026-11-08").json()
    saturday, sunday = rows
    assert [s["start"][11:16] for s in saturday["sessions"]] == ["07:00", "15:00"]
    assert (saturday["take_home_doses"], sunday["expected"]) == (1, "closure_take_home")
    visits_generate(horizon_days=7, plans=[plan], today=MONDAY)
    saturday_visits = Visit.objects.filter(plan=plan, date=MONDAY + timedelta(days=5)).order_by("session")
    assert [(v.session, v.window_id, v.expected_take_home_doses) for v in saturday_visits] == [
        (0, plan.patient.clinic.windows.get(start=time(7, 0)).pk, 0),
        (1, evening_window.pk, 1),
    ]


def test_each_session_is_held_to_its_share_and_a_third_is_refused(api_as, patient, split_plan, evening_window,
                                                                   oral_window, frozen):
    api_as("clinician").post(f"/api/v1/plans/{split_plan.pk}/orders/",
                             {"dose_mg": "100", "effective_date": MONDAY.isoformat()}, format="json")
    first = make_visit(patient, window=oral_window, plan=split_plan, source="plan", planned_date=MONDAY, session=0)
    second = make_visit(patient, window=evening_window, plan=split_plan, source="plan", planned_date=MONDAY,
                        session=1)
    more = complete(api_as("nurse"), first, dose_mg="70")
    assert more.status_code == 409
    assert "session 1 of the split dose: 60% of the daily 100 mg, 60 mg" in more.json()["detail"]
    assert complete(api_as("nurse"), first).json()["dose_mg"] == "60.00"
    frozen.move_to(datetime(2026, 11, 2, 20, 30, tzinfo=UTC))
    assert complete(api_as("nurse"), second, dose_mg="41").status_code == 409
    assert complete(api_as("nurse"), second).json()["dose_mg"] == "40.00"
    extra = make_visit(patient, window=evening_window, plan=split_plan)
    refused = complete(api_as("nurse"), extra, dose_mg="10", dose_reason="top-up")
    assert refused.status_code == 409
    assert "2 of 2 split-dose sessions already given on Mon 2 Nov" in refused.json()["detail"]
    # Orders never rewrite what was given.
    api_as("clinician").post(f"/api/v1/plans/{split_plan.pk}/orders/",
                             {"dose_mg": "80", "effective_date": MONDAY.isoformat()}, format="json")
    assert sorted(Visit.objects.filter(plan=split_plan, status="completed").values_list("dose_mg", flat=True)) == [
        Decimal(40), Decimal(60)]


def test_the_first_day_limit_sums_both_sessions(api_as, patient, evening_window, oral_window, frozen):
    plan = PlanFactory(patient=patient, medication="methadone", start_date=MONDAY, doses_per_day=2)
    api_as("clinician").post(f"/api/v1/plans/{plan.pk}/orders/",
                             {"dose_mg": "60", "effective_date": MONDAY.isoformat()}, format="json")
    first = make_visit(patient, window=oral_window, plan=plan, source="plan", planned_date=MONDAY, session=0)
    second = make_visit(patient, window=evening_window, plan=plan, source="plan", planned_date=MONDAY, session=1)
    assert complete(api_as("nurse"), first).json()["dose_mg"] == "30.00"
    frozen.move_to(datetime(2026, 11, 2, 20, 30, tzinfo=UTC))
    refused = complete(api_as("nurse"), second)
    assert refused.status_code == 409
    assert "at most 40 mg in total on the first day (42 CFR 8.12(h)(3)(ii)); 30 mg given" in refused.json()["detail"]
    assert complete(api_as("nurse"), second, dose_mg="10", dose_reason="first-day limit").status_code == 200


def complete(api, visit, **body):
    return api.post(f"/api/v1/visits/{visit.pk}/complete/", body, format="json")
