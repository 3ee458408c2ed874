"""The dose pathways through the staff pages (issue #14, "done means"): a methadone split dose on the plan form, a
re-induction schedule when an escalation is resolved, the take-home bottles' amounts on the board, the
buprenorphine induction's COWS threshold and its clinician override from the board, and a naltrexone plan's
first injection date. The services decide; these tests check that the pages pass what was typed to them, show
their answers and put their refusals (with their sources) beside the field, keeping what was typed."""

from __future__ import annotations

import re
from datetime import date, time, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from scheduler.models import DoseOrder, Plan
from tests.factories import PatientFactory, PlanFactory, WindowFactory
from tests.web.conftest import TODAY
from visits.generation import visits_generate
from visits.models import Escalation, Visit
from web import selectors

pytestmark = pytest.mark.django_db

COWS_12 = {  # a moderate-enough withdrawal: 12
    "resting_pulse": 1, "sweating": 1, "restlessness": 1, "pupil_size": 1, "bone_joint_aches": 1,
    "runny_nose_tearing": 1, "gi_upset": 1, "tremor": 1, "yawning": 1, "anxiety_irritability": 0,
    "gooseflesh": 3,
}


def _row(html: str, visit: Visit) -> str:
    match = re.search(rf'<tr id="visit-{visit.pk}".*?</tr>', html, re.S)
    assert match, f"no row for visit {visit.pk}"
    return match.group(0)


def _order(plan, mg: str, on: date, note: str = "") -> DoseOrder:
    """An order as it stands in the database (arranged directly: the service never back-dates)."""
    return DoseOrder.objects.create(plan=plan, dose_mg=Decimal(mg), effective_date=on, note=note)


def _given(plan, on: date, mg: str = "30") -> Visit:
    return Visit.objects.create(
        patient=plan.patient, clinic=plan.patient.clinic, plan=plan, kind="dose", date=on, status="completed",
        source="manual", dose_mg=Decimal(mg),
    )


# --- 1. a methadone split dose on the plan form ----------------------------------------------------------------

SPLIT = {
    "medication": "methadone",
    "start_date": "2026-11-18",
    "attendance_weekdays": ["0", "1", "2", "3", "4", "5"],
    "attendance_every_weeks": "1",
    "doses_per_day": "2",
    "split_first_share": "60",
}


@pytest.fixture
def afternoon_methadone(clinic):
    """A second methadone window, far enough from the morning's for a split dose."""
    return WindowFactory(clinic=clinic, weekdays=[0, 1, 2, 3, 4, 5], start=time(15, 0), end=time(17, 0),
                         services=["methadone"], capacity=20)


def test_the_plan_form_offers_the_split_dose_share(client_as, patient, morning):
    html = client_as("clinician").get(f"/patients/{patient.pk}/plans/new/").content.decode()
    assert "Sessions a day (diamorphine: 1 to 3; methadone: 2 for a split dose)" in html
    assert '<label for="id_split_first_share">First dose&#x27;s share of the day, percent' in html
    assert 'name="split_first_share" type="number"' in html


def test_a_split_dose_preview_shows_both_doses_and_their_shares(client_as, patient, morning, afternoon_methadone):
    response = client_as("clinician").post(f"/patients/{patient.pk}/plans/new/", {**SPLIT, "preview": "1"})
    assert response.status_code == 200
    html = response.content.decode()
    body = html.split('id="plan-preview"')[1]
    assert "Split dose: 60% of the daily order at the first dose, 40% at the second." in body
    assert re.search(r"Wed 2026-11-18</td><td>Visit</td><td>07:00, 15:00</td>", body)
    assert not Plan.objects.filter(patient=patient).exists()
    assert re.search(r'id="id_split_first_share"[^>]*value="60"', html)  # kept for the save


def test_a_split_dose_saves_with_its_share_through_the_service(client_as, patient, morning, afternoon_methadone):
    response = client_as("clinician").post(f"/patients/{patient.pk}/plans/new/", SPLIT)
    assert response.status_code == 302
    plan = Plan.objects.get(patient=patient)
    assert (plan.doses_per_day, plan.split_first_share) == (2, 60)
    assert Visit.objects.filter(plan=plan, date=date(2026, 11, 18), kind="dose").count() == 2
    # Changing it shows the share it has.
    html = client_as("clinician").get(f"/plans/{plan.pk}/change/").content.decode()
    assert re.search(r'id="id_split_first_share"[^>]*value="60"', html)


@pytest.mark.parametrize("preview", ["1", ""])
def test_a_split_dose_without_two_windows_is_refused_beside_the_sessions_field(client_as, patient, morning, preview):
    data = {**SPLIT, **({"preview": preview} if preview else {})}
    response = client_as("clinician").post(f"/patients/{patient.pk}/plans/new/", data)
    assert response.status_code == 400
    html = response.content.decode()
    error = re.search(r'<p class="error" id="id_doses_per_day-error">(.*?)</p>', html, re.S)
    assert error, "the refusal is not beside the sessions field"
    assert "split dose needs two windows at least" in error.group(1)
    assert re.search(r'id="id_doses_per_day"[^>]*value="2"[^>]*aria-invalid="true"', html)
    assert re.search(r'id="id_split_first_share"[^>]*value="60"', html)
    assert not Plan.objects.filter(patient=patient).exists()


def test_a_share_for_a_plan_that_is_not_split_is_refused_beside_the_share(client_as, patient, morning):
    response = client_as("clinician").post(
        f"/patients/{patient.pk}/plans/new/", {**SPLIT, "doses_per_day": "1"}
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="id_split_first_share-error">split_first_share applies to a methadone split dose' in html
    assert not Plan.objects.filter(patient=patient).exists()


def test_a_share_out_of_range_is_a_400_naming_the_field(client_as, patient, morning, afternoon_methadone):
    response = client_as("clinician").post(
        f"/patients/{patient.pk}/plans/new/", {**SPLIT, "split_first_share": "100"}
    )
    assert response.status_code == 400
    assert 'id="id_split_first_share-error"' in response.content.decode()
    assert not Plan.objects.filter(patient=patient).exists()


# --- 2. a re-induction schedule when an escalation is resolved ------------------------------------------------

SCHEDULE = {"restart_mode": "reinduction", "start_mg": "20", "step_mg": "5", "every_days": "3", "target_mg": "40"}


@pytest.fixture
def hold(plan, clinic, morning) -> Escalation:
    _order(plan, "60", date(2026, 11, 1))
    return Escalation.objects.create(
        patient=plan.patient, plan=plan, clinic=clinic, kind="hold", reason="5 days missed", consecutive_missed=5,
        anchor_date=date(2026, 11, 10),
    )


def test_resolving_offers_a_dose_or_a_reinduction_schedule(client_as, clinic, hold):
    html = client_as("clinician").get(f"/clinics/{clinic.pk}/escalations/").content.decode()
    assert "<legend>Restart Jordan Okafor on</legend>" in html
    assert re.search(rf'name="restart_mode" value="dose" id="mode-dose-{hold.pk}" checked', html)
    assert re.search(rf'name="restart_mode" value="reinduction" id="mode-reinduction-{hold.pk}">', html)
    for name, label in (("start_mg", "Start on (mg)"), ("step_mg", "Raise by (mg)"), ("every_days", "Every N days"),
                        ("target_mg", "Up to (mg)")):
        assert f'<label for="reind-{name}-{hold.pk}">{label}</label>' in html
    assert "Re-induction schedule for Jordan Okafor" in html
    assert ("Methadone: start at most 30 mg (42 CFR 8.12(h)(3)(ii)), raise at most 10 mg a step, no more often "
            "than every 3 days (SAMHSA TIP 63).") in html  # the rule set's limits, as data
    assert 'name="start_mg"' not in client_as("nurse").get(f"/clinics/{clinic.pk}/escalations/").content.decode()


def test_the_inbox_costs_the_same_queries_for_two_restart_cards_or_eight(client_as, clinic, morning):
    def holds(n: int) -> None:
        for _ in range(n):
            plan = PlanFactory(patient=PatientFactory(clinic=clinic), start_date=date(2026, 11, 1))
            _order(plan, "40", date(2026, 11, 1))
            Escalation.objects.create(patient=plan.patient, plan=plan, clinic=clinic, kind="hold", reason="missed",
                                      consecutive_missed=3, anchor_date=date(2026, 11, 12))

    client = client_as("clinician")
    holds(2)
    client.get(f"/clinics/{clinic.pk}/escalations/")
    with CaptureQueriesContext(connection) as two:
        client.get(f"/clinics/{clinic.pk}/escalations/")
    holds(6)
    with CaptureQueriesContext(connection) as eight:
        html = client.get(f"/clinics/{clinic.pk}/escalations/").content.decode()
    assert len(eight.captured_queries) == len(two.captured_queries)
    assert html.count('name="restart_mode" value="reinduction"') == 8


def test_a_reinduction_schedule_resolves_and_orders_the_series_from_today(client_as, clinic, plan, hold, today_visit):
    response = client_as("clinician").post(
        f"/escalations/{hold.pk}/resolve/", {"note": "seen, re-induce", "restart_dose_mg": "60", **SCHEDULE},
        follow=True,
    )
    assert response.status_code == 200
    assert (
        "Resolved: Hold for MRN MRN-4711; re-induction from today: 20 mg, 5 mg more every 3 days up to 40 mg."
        in response.content.decode()
    )
    hold.refresh_from_db()
    assert hold.resolved_at is not None
    series = list(DoseOrder.objects.filter(plan=plan, effective_date__gte=TODAY).order_by("effective_date"))
    assert [(o.effective_date, o.dose_mg) for o in series] == [
        (TODAY + timedelta(days=3 * n), Decimal(mg)) for n, mg in enumerate(("20", "25", "30", "35", "40"))
    ]
    # The next completion uses it: 20 mg due today, recorded by default.
    nurse = client_as("nurse")
    assert "Due: <strong>20 mg</strong>" in _row(nurse.get(f"/clinics/{clinic.pk}/today/").content.decode(),
                                                   today_visit)
    assert nurse.post(f"/visits/{today_visit.pk}/complete/", {}).status_code == 302
    today_visit.refresh_from_db()
    assert today_visit.dose_mg == Decimal("20.00")


@pytest.mark.parametrize(
    "changes,field,words",
    [
        ({"start_mg": "40", "target_mg": "60"}, "start_mg",
         "Methadone re-induction starts at most 30 mg (the first dose, 42 CFR 8.12(h)(3)(ii))"),
        ({"step_mg": "25"}, "step_mg", "(guideline, SAMHSA TIP 63)"),
        ({"every_days": "1"}, "every_days", "(guideline, SAMHSA TIP 63)"),
        ({"target_mg": "10"}, "start_mg", "start_mg: more than 0 and at most target_mg."),
    ],
)
def test_an_induction_limit_is_refused_beside_its_field_with_its_source_and_the_escalation_stays_open(
    client_as, clinic, plan, hold, changes, field, words
):
    typed = {"note": "re-induce", **SCHEDULE, **changes}
    response = client_as("clinician").post(f"/escalations/{hold.pk}/resolve/", typed)
    assert response.status_code == 400
    html = response.content.decode()
    error = re.search(rf'<span class="error" role="alert" id="reind-{field}-err-{hold.pk}">(.*?)</span>', html, re.S)
    assert error, f"no refusal beside {field}"
    assert words in error.group(1)
    assert re.search(rf'id="reind-{field}-{hold.pk}"[^>]*aria-invalid="true"', html)
    # What was typed is kept: the note, the mode and every field of the schedule.
    assert ">re-induce</textarea>" in html
    assert re.search(rf'value="reinduction" id="mode-reinduction-{hold.pk}" checked', html)
    for name, value in typed.items():
        if name in ("start_mg", "step_mg", "every_days", "target_mg"):
            assert re.search(rf'id="reind-{name}-{hold.pk}"[^>]*value="{value}"', html)
    hold.refresh_from_db()
    assert hold.resolved_at is None
    assert not DoseOrder.objects.filter(plan=plan, effective_date__gte=TODAY).exists()


def test_a_buprenorphine_schedule_above_the_daily_limit_is_refused_with_its_source(client_as, clinic, hold):
    bup = PlanFactory(patient=hold.patient, medication="buprenorphine", start_date=date(2026, 11, 1))
    Escalation.objects.filter(pk=hold.pk).update(plan=bup)
    response = client_as("clinician").post(
        f"/escalations/{hold.pk}/resolve/",
        {"note": "re-induce", "restart_mode": "reinduction", "start_mg": "8", "step_mg": "8", "every_days": "1",
         "target_mg": "40"},
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert re.search(rf'id="reind-target_mg-err-{hold.pk}">Buprenorphine \(sublingual\): never more than 32 mg', html)
    hold.refresh_from_db()
    assert hold.resolved_at is None and not DoseOrder.objects.filter(plan=bup).exists()


def test_a_schedule_missing_a_field_is_a_400_naming_it(client_as, clinic, hold):
    response = client_as("clinician").post(
        f"/escalations/{hold.pk}/resolve/", {"note": "re-induce", **SCHEDULE, "every_days": ""}
    )
    assert response.status_code == 400
    assert f'id="reind-every_days-err-{hold.pk}">Every N days: This field is required.' in response.content.decode()
    hold.refresh_from_db()
    assert hold.resolved_at is None


def test_the_dose_mode_ignores_the_schedule_fields(client_as, plan, hold):
    response = client_as("clinician").post(
        f"/escalations/{hold.pk}/resolve/",
        {"note": "same dose", "restart_mode": "dose", "restart_dose_mg": "45", "start_mg": "20"},
    )
    assert response.status_code == 302
    assert DoseOrder.objects.get(plan=plan, effective_date=TODAY).dose_mg == Decimal("45.00")


def test_nurses_may_not_resolve_with_a_schedule(client_as, plan, hold):
    response = client_as("nurse").post(f"/escalations/{hold.pk}/resolve/", {"note": "x", **SCHEDULE})
    assert response.status_code == 403
    hold.refresh_from_db()
    assert hold.resolved_at is None and not DoseOrder.objects.filter(plan=plan, effective_date__gte=TODAY).exists()


# --- 3. take-home bottles on the board ------------------------------------------------------------------------


@pytest.fixture
def mon_thu_visit(morning, plan) -> Visit:
    """Monday's visit of a Monday/Thursday plan: the calendar expects 2 take-homes (Tuesday, Wednesday)."""
    Plan.objects.filter(pk=plan.pk).update(attendance_weekdays=[0, 3])
    plan.refresh_from_db()
    visits_generate(plans=[plan], today=TODAY, horizon_days=7)
    _order(plan, "60", date(2026, 11, 10))
    _order(plan, "50", date(2026, 11, 18), note="taper step")  # in force for Wednesday's bottle
    return Visit.objects.get(plan=plan, date=TODAY)


def test_the_row_shows_each_bottles_amount_from_the_order_in_force_that_day(client_as, clinic, mon_thu_visit):
    row = _row(client_as("nurse").get(f"/clinics/{clinic.pk}/today/").content.decode(), mon_thu_visit)
    assert "Take-home bottles for Jordan Okafor" in row
    pk = mon_thu_visit.pk
    assert f'<label for="bottle-{pk}-1" class="small">Bottle 1 for Tue 17 Nov: <strong>60 mg</strong>' in row
    assert f'<label for="bottle-{pk}-2" class="small">Bottle 2 for Wed 18 Nov: <strong>50 mg</strong>' in row
    assert 'name="take_home_mg_3"' not in row
    assert 'name="take_home_mg_1"' not in client_as("front_desk").get(f"/clinics/{clinic.pk}/today/").content.decode()


def test_completing_with_empty_bottles_records_the_orders(client_as, clinic, mon_thu_visit):
    response = client_as("nurse").post(
        f"/visits/{mon_thu_visit.pk}/complete/",
        {"take_home_doses": "2", "take_home_mg_1": "", "take_home_mg_2": ""}, follow=True,
    )
    assert response.status_code == 200
    mon_thu_visit.refresh_from_db()
    assert (mon_thu_visit.status, mon_thu_visit.take_home_mg) == ("completed", ["60.00", "50.00"])
    html = response.content.decode()
    assert "Completed: Jordan Okafor with 2 take-home doses, 60 mg given; bottles 60 mg, 50 mg." in html
    assert f'id="bottles-given-{mon_thu_visit.pk}">: 60 mg for 17 Nov, 50 mg for 18 Nov</span>' in html


def test_lower_bottle_amounts_with_the_reason_are_recorded(client_as, clinic, mon_thu_visit):
    response = client_as("nurse").post(
        f"/visits/{mon_thu_visit.pk}/complete/",
        {"take_home_doses": "2", "take_home_mg_1": "40", "take_home_mg_2": "40", "dose_reason": "patient asked"},
    )
    assert response.status_code == 302
    mon_thu_visit.refresh_from_db()
    assert mon_thu_visit.take_home_mg == ["40.00", "40.00"] and mon_thu_visit.dose_mg == Decimal("60.00")


@pytest.mark.parametrize(
    "bottles,status,words",
    [
        ({"take_home_mg_1": "70", "take_home_mg_2": "50"}, 409,
         "holds 70 mg, more than the order in force that day (60 mg"),
        ({"take_home_mg_1": "40", "take_home_mg_2": "40"}, 400,
         "less than the order (60 mg): give the reason in “Reason” beside the dose."),
        ({"take_home_mg_1": "40", "take_home_mg_2": ""}, 400,
         "Bottle 2 (mg): type an amount for every bottle, or leave them all empty"),
        ({"take_home_mg_1": "forty", "take_home_mg_2": "40"}, 400, "Bottle 1 (mg): give the amount in mg"),
    ],
)
def test_a_refused_bottle_is_said_beside_the_bottles_keeping_what_was_typed(
    client_as, clinic, mon_thu_visit, bottles, status, words
):
    response = client_as("nurse").post(
        f"/visits/{mon_thu_visit.pk}/complete/", {"take_home_doses": "2", **bottles}
    )
    assert response.status_code == status
    row = _row(response.content.decode(), mon_thu_visit)
    error = re.search(rf'id="bottle-err-{mon_thu_visit.pk}">(.*?)</span>', row, re.S)
    assert error and words in error.group(1)
    assert "take_home_mg" not in error.group(1) and "dose_reason" not in error.group(1)
    for n, value in enumerate(bottles.values(), start=1):
        assert re.search(rf'name="take_home_mg_{n}"[^>]*value="{value}"', row)
    mon_thu_visit.refresh_from_db()
    assert mon_thu_visit.status == "scheduled"


def test_the_bottles_cost_the_same_queries_for_two_rows_or_twelve(client_as, clinic, morning, monkeypatch):
    # Each load asks the guard for its page (no page's entry shared across loads): its reads counted in both.
    monkeypatch.setattr(selectors, "page_verdicts", lambda **kwargs: None)
    def rows(n: int) -> None:
        for _ in range(n):
            plan = PlanFactory(patient=PatientFactory(clinic=clinic), start_date=date(2026, 11, 1),
                               attendance_weekdays=[0, 3])
            visits_generate(plans=[plan], today=TODAY, horizon_days=1)
            _order(plan, "30", date(2026, 11, 1))
            _order(plan, "25", date(2026, 11, 18))

    client = client_as("nurse")
    rows(2)
    client.get(f"/clinics/{clinic.pk}/today/")
    with CaptureQueriesContext(connection) as two:
        client.get(f"/clinics/{clinic.pk}/today/")
    rows(10)
    with CaptureQueriesContext(connection) as twelve:
        html = client.get(f"/clinics/{clinic.pk}/today/").content.decode()
    assert len(twelve.captured_queries) == len(two.captured_queries)
    assert html.count("Bottle 2 for Wed 18 Nov: <strong>25 mg</strong>") == 12


# --- 4. buprenorphine induction from the board ----------------------------------------------------------------


@pytest.fixture
def induction(clinic, morning) -> Visit:
    """A clinic that asks for a COWS of 8 before buprenorphine's first dose, and a new buprenorphine patient."""
    clinic.rule_set.rules = {**clinic.rule_set.rules, "buprenorphine_induction_cows_min": 8}
    clinic.rule_set.save()
    patient = PatientFactory(clinic=clinic, first_name="Sam", last_name="Induct", mrn="MRN-0808")
    plan = PlanFactory(patient=patient, medication="buprenorphine", start_date=TODAY, treatment_start=TODAY)
    visits_generate(plans=[plan], today=TODAY, horizon_days=1)
    _order(plan, "4", TODAY)
    return Visit.objects.get(plan=plan, date=TODAY)


def test_a_first_dose_below_the_cows_threshold_is_refused_in_nurse_words_beside_the_dose(client_as, induction):
    response = client_as("nurse").post(f"/visits/{induction.pk}/complete/", {"dose_mg": "4"})
    assert response.status_code == 409
    row = _row(response.content.decode(), induction)
    error = re.search(rf'id="dose-err-{induction.pk}">(.*?)</span>', row, re.S)
    assert error, "the refusal is not beside the dose"
    assert "the first dose needs a COWS of at least 8" in error.group(1) and "no COWS recorded today" in error.group(1)
    assert "Record a COWS (“Record COWS” on this row), or a clinician may give it anyway by writing why" in row
    assert "POST" not in error.group(1) and "dose_reason" not in error.group(1)
    assert f'href="/visits/{induction.pk}/cows/">Record COWS' in row
    induction.refresh_from_db()
    assert induction.status == "scheduled"


def test_a_nurse_gives_the_first_dose_after_recording_a_cows_at_the_threshold(client_as, induction):
    nurse = client_as("nurse")
    assert nurse.post(f"/visits/{induction.pk}/cows/", {k: str(v) for k, v in COWS_12.items()}).status_code == 302
    assert nurse.post(f"/visits/{induction.pk}/complete/", {"dose_mg": "4"}).status_code == 302
    induction.refresh_from_db()
    assert (induction.status, induction.dose_mg) == ("completed", Decimal("4.00"))


def test_a_nurses_reason_does_not_override_but_a_clinicians_does(client_as, induction):
    refused = client_as("nurse").post(
        f"/visits/{induction.pk}/complete/", {"dose_mg": "4", "dose_reason": "patient insists"}
    )
    assert refused.status_code == 409
    response = client_as("clinician").post(
        f"/visits/{induction.pk}/complete/", {"dose_mg": "4", "dose_reason": "micro-induction from fentanyl"},
        follow=True,
    )
    assert response.status_code == 200
    induction.refresh_from_db()
    assert (induction.status, induction.dose_reason) == ("completed", "micro-induction from fentanyl")
    assert "Completed: Sam Induct, 4 mg given (micro-induction from fentanyl)." in response.content.decode()


# --- 5. naltrexone: first injection from <date> ---------------------------------------------------------------


@pytest.fixture
def after_taper(patient, morning) -> Plan:
    """The methadone taper's last dose on 14 November; the rule set's 7 opioid-free days run to the 21st."""
    methadone = PlanFactory(patient=patient, start_date=date(2026, 10, 1), status="ended",
                            end_date=date(2026, 11, 14))
    _given(methadone, date(2026, 11, 14), "5")
    return methadone


NALTREXONE = {"medication": "naltrexone_xr", "start_date": "2026-11-16", "interval_days": "28"}


def test_the_naltrexone_preview_says_from_when_the_first_injection_may_be_given(client_as, patient, after_taper):
    response = client_as("clinician").post(f"/patients/{patient.pk}/plans/new/", {**NALTREXONE, "preview": "1"})
    assert response.status_code == 200
    body = response.content.decode().split('id="plan-preview"')[1]
    assert "First injection from Sat 2026-11-21" in body
    visits = re.findall(r"<td>\w{3} (\d{4}-\d\d-\d\d)</td><td>Visit", body)
    assert visits and min(visits) >= "2026-11-21"  # the engine never places the first injection before it


def test_the_patient_page_says_first_injection_from_for_a_naltrexone_plan(client_as, patient, after_taper):
    plan = PlanFactory(patient=patient, medication="naltrexone_xr", interval_days=28, start_date=TODAY)
    html = client_as("nurse").get(f"/patients/{patient.pk}/").content.decode()
    assert (f'id="first-injection-{plan.pk}"><strong>First injection from Sat 2026-11-21</strong> for Jordan Okafor'
            in html)


def test_no_first_injection_line_once_an_injection_was_given_or_without_opioid_doses(client_as, patient, morning):
    plan = PlanFactory(patient=patient, medication="naltrexone_xr", interval_days=28, start_date=TODAY)
    assert "First injection from" not in client_as("nurse").get(f"/patients/{patient.pk}/").content.decode()
    methadone = PlanFactory(patient=patient, start_date=date(2026, 10, 1), status="ended",
                            end_date=date(2026, 11, 1))
    _given(methadone, date(2026, 11, 1))
    Visit.objects.create(patient=patient, clinic=patient.clinic, plan=plan, kind="injection", date=TODAY,
                         status="completed", source="manual")
    assert "First injection from" not in client_as("nurse").get(f"/patients/{patient.pk}/").content.decode()
