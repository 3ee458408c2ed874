"""Issue #14 (first part): clinicians order doses, completion records the amount, and the dosing guard checks
amount limits that are rule-set data with their sources."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from auditlog.models import LogEntry

from scheduler.models import DoseOrder
from scheduler.rules import preset_rules
from tests.factories import PatientFactory, PlanFactory
from tests.visits.conftest import MONDAY, make_visit
from visits import guard
from visits.guard import Attempt, DoseFacts, PlanFacts
from visits.models import Visit

pytestmark = pytest.mark.django_db


def order(api, plan, **body):
    return api.post(f"/api/v1/plans/{plan.pk}/orders/", body, format="json")


def complete(api, visit, **body):
    return api.post(f"/api/v1/visits/{visit.pk}/complete/", body, format="json")


def test_a_clinician_orders_and_everyone_reads_the_history_and_current_dose(api_as, plan, frozen):
    first = order(api_as("clinician"), plan, dose_mg="30", effective_date="2026-11-02", note="induction")
    assert first.status_code == 201, first.content
    assert order(api_as("clinician"), plan, dose_mg="40", effective_date="2026-11-05").status_code == 201
    history = api_as("front_desk").get(f"/api/v1/plans/{plan.pk}/orders/").json()
    assert [(o["dose_mg"], o["effective_date"]) for o in history] == [("30.00", "2026-11-02"), ("40.00", "2026-11-05")]
    assert api_as("nurse").get(f"/api/v1/plans/{plan.pk}/").json()["current_dose_mg"] == "30.00"
    assert LogEntry.objects.filter(content_type__model="doseorder", action=LogEntry.Action.CREATE).count() == 2


@pytest.mark.parametrize("role", ["front_desk", "nurse", "manager"])
def test_only_clinicians_and_admins_order(api_as, plan, frozen, role):
    assert order(api_as(role), plan, dose_mg="30", effective_date="2026-11-02").status_code == 403
    assert not DoseOrder.objects.exists()


def test_an_order_is_never_back_dated_and_respects_the_per_dose_limits(api_as, patient, plan, frozen):
    past = order(api_as("clinician"), plan, dose_mg="30", effective_date="2026-11-01")
    assert past.status_code == 400 and "effective_date" in past.json()
    bup = PlanFactory(patient=patient, medication="buprenorphine", start_date=MONDAY)
    too_much = order(api_as("clinician"), bup, dose_mg="40", effective_date="2026-11-02")
    assert too_much.status_code == 400
    assert "never more than 32 mg on one day (guideline)" in str(too_much.json()["dose_mg"])


def test_completion_records_the_order_by_default_refuses_more_and_needs_a_reason_for_less(api_as, plan, visit):
    order(api_as("clinician"), plan, dose_mg="30", effective_date="2026-11-02")
    more = complete(api_as("nurse"), visit, dose_mg="35")
    assert more.status_code == 409 and "more than the order in force (30 mg from Mon 2 Nov" in more.json()["detail"]
    less = complete(api_as("nurse"), visit, dose_mg="20")
    assert less.status_code == 400 and "dose_reason" in less.json()
    done = complete(api_as("nurse"), visit, dose_mg="20", dose_reason="patient declined part")
    assert done.status_code == 200, done.content
    assert (done.json()["dose_mg"], done.json()["dose_reason"]) == ("20.00", "patient declined part")


def test_a_later_order_never_rewrites_a_dose_already_given(api_as, plan, visit):
    order(api_as("clinician"), plan, dose_mg="30", effective_date="2026-11-02")
    assert complete(api_as("nurse"), visit).json()["dose_mg"] == "30.00"
    order(api_as("clinician"), plan, dose_mg="20", effective_date="2026-11-02", note="reduced after review")
    visit.refresh_from_db()
    assert str(visit.dose_mg) == "30.00"


def test_methadone_induction_limits_on_day_one(api_as, patient, oral_window, frozen):
    plan = PlanFactory(patient=patient, medication="methadone", start_date=MONDAY)  # treatment day 1 today
    first = make_visit(patient, window=oral_window, plan=plan)
    refused = complete(api_as("nurse"), first, dose_mg="35")
    assert refused.status_code == 409
    assert "the first dose is at most 30 mg (42 CFR 8.12(h)(3)(ii))" in refused.json()["detail"]
    assert complete(api_as("nurse"), first, dose_mg="30").status_code == 200
    # A second dose the same day (legacy second plan): at most 40 mg in total without a documented reason.
    second_plan = PlanFactory(patient=patient, medication="methadone", start_date=MONDAY)
    Visit.objects.filter(pk=first.pk).update(date=MONDAY)  # same date
    second = make_visit(patient, window=oral_window, plan=second_plan)
    attempt = Attempt(
        step=guard.COMPLETE,
        plan=PlanFacts(second_plan.pk, "methadone"),
        date=MONDAY,
        at=datetime(2026, 11, 2, 13, tzinfo=UTC),
        visit_id=second.pk,
        dose_mg=Decimal(15),
        treatment_day=1,
    )
    given = [DoseFacts(first.pk, None, "methadone", MONDAY - timedelta(days=1), None, None, 0, None)]
    assert guard._amounts(attempt, given, [], preset_rules(), "America/New_York") is None
    given_today = [DoseFacts(first.pk, plan.pk, "methadone", MONDAY, None, None, 0, Decimal(30))]
    refusal = guard._amounts(attempt, given_today, [], preset_rules(), "America/New_York")
    assert refusal is not None and "at most 40 mg in total on the first day" in refusal.message


def test_a_clinician_documents_a_larger_first_dose(api_as, patient, oral_window, frozen):
    plan = PlanFactory(patient=patient, medication="methadone", start_date=MONDAY)
    first = make_visit(patient, window=oral_window, plan=plan)
    response = complete(api_as("clinician"), first, dose_mg="40", dose_reason="transfer from another program at 80 mg")
    assert response.status_code == 200, response.content


def test_buprenorphine_daily_cap_summed_across_visits(api_as, patient, oral_window, frozen):
    plan = PlanFactory(patient=patient, medication="buprenorphine", start_date=MONDAY - timedelta(days=30))
    make_visit(
        patient,
        window=oral_window,
        plan=plan,
        status="completed",
        dose_mg=24,
        completed_at=datetime(2026, 11, 2, 12, tzinfo=UTC),
    )
    attempt = Attempt(
        step=guard.COMPLETE,
        plan=PlanFacts(plan.pk, "buprenorphine"),
        date=MONDAY,
        at=datetime(2026, 11, 2, 14, tzinfo=UTC),
        dose_mg=Decimal(16),
    )
    given = [DoseFacts(1, plan.pk, "buprenorphine", MONDAY, None, None, 0, Decimal(24))]
    refusal = guard._amounts(attempt, given, [], preset_rules(), "America/New_York")
    assert refusal is not None
    assert refusal.message.startswith("Buprenorphine: never more than 32 mg on one day (guideline); 24 mg given")
    assert (
        guard._amounts(
            Attempt(**{**attempt.__dict__, "dose_mg": Decimal(8)}), given, [], preset_rules(), "America/New_York"
        )
        is None
    )


def test_diamorphine_per_session_limit(api_as, patient, clinic, frozen):
    plan = PlanFactory(patient=patient, medication="diamorphine", doses_per_day=2)
    window = clinic.windows.filter(services__contains="diamorphine").order_by("start").first()
    session = make_visit(patient, window=window, plan=plan)
    with time_machine.travel(datetime(2026, 11, 2, 13, 30, tzinfo=UTC), tick=False):
        response = complete(api_as("nurse"), session, dose_mg="450")
    assert response.status_code == 409
    assert "at most 400 mg in one session (Diaphin label)" in response.json()["detail"]


# --- COWS, buprenorphine induction, withdrawal to naltrexone, restarting after a hold ----------------------

COWS_MODERATE = {
    "resting_pulse": 1,
    "sweating": 1,
    "restlessness": 1,
    "pupil_size": 1,
    "bone_joint_aches": 1,
    "runny_nose_tearing": 1,
    "gi_upset": 1,
    "tremor": 1,
    "yawning": 1,
    "anxiety_irritability": 1,
    "gooseflesh": 3,
}


def assess(api, visit, items):
    return api.post(f"/api/v1/visits/{visit.pk}/assessments/", {"scale": "cows", "items": items}, format="json")


def test_a_cows_is_validated_item_by_item_and_totalled(api_as, visit):
    bad = assess(api_as("nurse"), visit, {**COWS_MODERATE, "gooseflesh": 2})
    assert bad.status_code == 400 and "gooseflesh: scored 0, 3, 5 on the COWS, not 2" in str(bad.json())
    missing = assess(api_as("nurse"), visit, {k: v for k, v in COWS_MODERATE.items() if k != "tremor"})
    assert missing.status_code == 400 and "missing COWS item(s) tremor" in str(missing.json())
    assert assess(api_as("front_desk"), visit, COWS_MODERATE).status_code == 403
    done = assess(api_as("nurse"), visit, COWS_MODERATE)
    assert done.status_code == 201, done.content
    assert (done.json()["total"], done.json()["severity"]) == (13, "moderate")
    assert [a["total"] for a in api_as("manager").get(f"/api/v1/visits/{visit.pk}/assessments/").json()] == [13]
    assert LogEntry.objects.filter(content_type__model="assessment").count() == 1


@pytest.fixture
def inductions(clinic):
    """A clinic whose rule set asks for a COWS before buprenorphine's first dose (off in the presets)."""
    clinic.rule_set.rules = {**clinic.rule_set.rules, "buprenorphine_induction_cows_min": 8}
    clinic.rule_set.save()


def test_the_presets_do_not_ask_for_a_cows_before_buprenorphine(api_as, patient, oral_window, frozen):
    plan = PlanFactory(patient=patient, medication="buprenorphine", start_date=MONDAY)
    visit = make_visit(patient, window=oral_window, plan=plan)
    assert complete(api_as("nurse"), visit, dose_mg="4").status_code == 200


def test_buprenorphine_induction_needs_a_cows_at_the_threshold_or_a_clinicians_reason(
    api_as, patient, oral_window, frozen, inductions
):
    plan = PlanFactory(patient=patient, medication="buprenorphine", start_date=MONDAY)
    visit = make_visit(patient, window=oral_window, plan=plan)
    refused = complete(api_as("nurse"), visit, dose_mg="4")
    assert refused.status_code == 409
    assert "the first dose needs a COWS of at least 8" in refused.json()["detail"]
    assert "no COWS recorded today" in refused.json()["detail"]
    assess(api_as("nurse"), visit, {**dict.fromkeys(COWS_MODERATE, 0), "sweating": 2, "gooseflesh": 3})  # 5: mild
    assert "COWS 5 today" in complete(api_as("nurse"), visit, dose_mg="4").json()["detail"]
    assess(api_as("nurse"), visit, COWS_MODERATE)
    assert complete(api_as("nurse"), visit, dose_mg="4").status_code == 200


def test_a_clinician_overrides_the_induction_threshold_with_a_reason(api_as, patient, oral_window, frozen, inductions):
    plan = PlanFactory(patient=patient, medication="buprenorphine", start_date=MONDAY)
    visit = make_visit(patient, window=oral_window, plan=plan)
    response = complete(api_as("clinician"), visit, dose_mg="2", dose_reason="micro-induction from fentanyl")
    assert response.status_code == 200, response.content


def test_a_taper_then_naltrexone_refused_before_seven_opioid_free_days_and_accepted_after(
    api_as, patient, plan, clinic, oral_window, frozen
):
    taper = api_as("clinician").post(
        f"/api/v1/plans/{plan.pk}/taper/",
        {"start_mg": "30", "step_mg": "10", "every_days": 2, "start_date": "2026-11-02"},
        format="json",
    )
    assert taper.status_code == 201, taper.content
    assert [(o["dose_mg"], o["effective_date"]) for o in taper.json()] == [
        ("30.00", "2026-11-02"),
        ("20.00", "2026-11-04"),
        ("10.00", "2026-11-06"),
    ]
    last = make_visit(patient, window=oral_window, plan=plan, day=MONDAY + timedelta(days=4))
    frozen.move_to(datetime(2026, 11, 6, 13, 0, tzinfo=UTC))
    assert complete(api_as("nurse"), last).json()["dose_mg"] == "10.00"

    naltrexone = PlanFactory(patient=patient, medication="naltrexone_xr", start_date=MONDAY + timedelta(days=5))
    window = clinic.windows.get(services__contains="naltrexone_xr")
    booked = api_as("front_desk").post(
        "/api/v1/visits/",
        {"patient": patient.pk, "kind": "injection", "date": "2026-11-10", "plan": naltrexone.pk},
        format="json",
    )
    assert booked.status_code == 409
    assert (
        "needs 7 opioid-free days (guideline); last opioid dose (Methadone) covered Fri 6 Nov"
        in (booked.json()["detail"])
    )
    assert "from Fri 13 Nov" in booked.json()["detail"]
    injection = make_visit(patient, window=window, plan=naltrexone, kind="injection", day=MONDAY + timedelta(days=11))
    frozen.move_to(datetime(2026, 11, 13, 16, 0, tzinfo=UTC))
    assert complete(api_as("clinician"), injection).status_code == 200


def test_resolving_a_hold_with_a_reduced_dose_is_what_the_next_completion_gives(api_as, patient, plan, visit):
    api_as("clinician").post(
        f"/api/v1/plans/{plan.pk}/orders/", {"dose_mg": "30", "effective_date": "2026-11-02"}, format="json"
    )
    from visits.models import Escalation

    held = Escalation.objects.create(
        patient=patient,
        plan=plan,
        clinic=patient.clinic,
        kind="hold",
        reason="3 consecutive days without medication",
        consecutive_missed=3,
        anchor_date=MONDAY - timedelta(days=4),
    )
    resolved = api_as("clinician").post(
        f"/api/v1/escalations/{held.pk}/resolve/", {"note": "seen; reduce", "restart_dose_mg": "20"}, format="json"
    )
    assert resolved.status_code == 200, resolved.content
    latest = DoseOrder.objects.filter(plan=plan).order_by("-id").first()
    assert (str(latest.dose_mg), latest.note) == ("20.00", "restart after hold: seen; reduce")
    assert complete(api_as("nurse"), visit).json()["dose_mg"] == "20.00"


def test_the_controlled_drug_report_sums_amounts_given_and_handed_out(
    api_as, patient, plan, clinic, oral_window, frozen
):
    make_visit(
        patient,
        window=oral_window,
        plan=plan,
        status="completed",
        dose_mg=Decimal(60),
        take_home_doses=2,
        covered_through=MONDAY + timedelta(days=2),
    )
    other = PlanFactory(patient=PatientFactory(clinic=clinic), medication="methadone", start_date=MONDAY)
    make_visit(other.patient, window=oral_window, plan=other, status="completed", dose_mg=Decimal(40))
    make_visit(other.patient, window=oral_window, plan=other, day=MONDAY - timedelta(days=1), status="completed")
    url = f"/api/v1/reports/controlled-drugs/?clinic={clinic.pk}&date_from=2026-11-01&date_to=2026-11-02"
    assert api_as("nurse").get(url).status_code == 403
    rows = api_as("manager").get(url).json()["rows"]
    assert rows == [
        {
            "date": "2026-11-01",
            "medication": "methadone",
            "doses_given": 1,
            "mg_given": "0.00",
            "doses_without_amount": 1,
            "take_home_doses": 0,
            "take_home_mg": "0.00",
        },
        {
            "date": "2026-11-02",
            "medication": "methadone",
            "doses_given": 2,
            "mg_given": "100.00",
            "doses_without_amount": 0,
            "take_home_doses": 2,
            "take_home_mg": "120.00",
        },
    ]
    csv = api_as("manager").get(url + "&format=csv")
    assert csv.status_code == 200
    assert csv.content.decode().splitlines()[2] == "2026-11-02,methadone,2,100.00,0,2,120.00"


def test_methadone_induction_steps_up_slowly_unless_the_clinician_says_why(api_as, plan, frozen):
    clinician = api_as("clinician")
    assert order(clinician, plan, dose_mg="20", effective_date="2026-11-02").status_code == 201
    too_big = order(clinician, plan, dose_mg="35", effective_date="2026-11-05")
    assert too_big.status_code == 400
    assert "raise by at most 10 mg, no more often than every 3 days (guideline, SAMHSA TIP 63)" in str(
        too_big.json()["dose_mg"]
    )
    too_soon = order(clinician, plan, dose_mg="25", effective_date="2026-11-03")
    assert too_soon.status_code == 400
    assert order(clinician, plan, dose_mg="30", effective_date="2026-11-05").status_code == 201
    assert order(clinician, plan, dose_mg="15", effective_date="2026-11-06").status_code == 201  # down: always
    said_why = order(clinician, plan, dose_mg="40", effective_date="2026-11-07", note="tolerance from prior program")
    assert said_why.status_code == 201


def test_amount_refusals_name_dose_mg_for_pages_and_others_name_no_field(patient, oral_window, frozen):
    """guard.check gives the amount limits (and the induction threshold) the field dose_mg, so a page puts them
    beside the amount given without reading their words (StateConflict.field); other refusals name no field."""
    plan = PlanFactory(patient=patient, medication="buprenorphine", start_date=MONDAY - timedelta(days=30))
    at = datetime(2026, 11, 2, 14, tzinfo=UTC)
    first_day = Attempt(
        step=guard.COMPLETE, plan=PlanFacts(plan.pk, "methadone"), date=MONDAY, at=at, dose_mg=Decimal(40),
        treatment_day=1,
    )
    over = guard.check(first_day, doses=[], escalations=[], rules=preset_rules(), tz="America/New_York")
    assert over is not None and over.rule == "methadone first dose" and over.field == "dose_mg"
    earlier = DoseFacts(1, plan.pk, "buprenorphine", MONDAY, None, None, 0, Decimal(24))
    twice = guard.check(
        Attempt(step=guard.COMPLETE, plan=PlanFacts(plan.pk, "buprenorphine"), date=MONDAY, at=at, dose_mg=Decimal(4)),
        doses=[earlier], escalations=[], rules=preset_rules(), tz="America/New_York",
    )
    assert twice is not None and twice.rule == "one dose a day" and twice.field is None


def test_the_api_answer_to_an_amount_refusal_is_unchanged_by_its_field(
    api_as, patient, oral_window, frozen, inductions
):
    plan = PlanFactory(patient=patient, medication="buprenorphine", start_date=MONDAY)
    refused = complete(api_as("nurse"), make_visit(patient, window=oral_window, plan=plan), dose_mg="4")
    assert refused.status_code == 409 and set(refused.json()) == {"detail"}
