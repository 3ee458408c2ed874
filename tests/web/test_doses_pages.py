"""Doses on the staff pages (issue #14): the amount due on the board and the dose given at completion, orders and
tapers on the patient page, COWS at a visit, the restart dose when an escalation is resolved. The services decide;
these tests check that the pages show their answers, keep what was typed and put refusals beside their field."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext

from scheduler.models import DoseOrder, Patient
from tests.factories import PatientFactory, PlanFactory
from tests.web.conftest import TODAY
from visits import cows
from visits.generation import visits_generate
from visits.models import Assessment, Escalation, Visit
from web import selectors
from web.views.doses import COWS_SCORE_WORDS

pytestmark = pytest.mark.django_db

YESTERDAY = TODAY - timedelta(days=1)
COWS_12 = {  # a moderate withdrawal: 12
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


def _given(plan, on: date, mg: str | None = "30") -> Visit:
    return Visit.objects.create(
        patient=plan.patient, clinic=plan.patient.clinic, plan=plan, kind="dose", date=on, status="completed",
        source="manual", dose_mg=Decimal(mg) if mg else None,
    )


# --- the today board -----------------------------------------------------------------------------------------


def test_the_board_shows_the_amount_due_and_prefills_the_dose_field(client_as, clinic, plan, today_visit):
    _order(plan, "30", date(2026, 11, 10))
    _given(plan, YESTERDAY)
    row = _row(client_as("nurse").get(f"/clinics/{clinic.pk}/today/").content.decode(), today_visit)
    assert "Due: <strong>30 mg</strong>" in row
    assert 'name="dose_mg" type="number" min="0" step="0.01" inputmode="decimal" value="30"' in row
    assert "Order changed since the last visit" not in row  # in force before yesterday's dose


def test_an_order_effective_after_the_last_dose_is_flagged(client_as, clinic, plan, today_visit):
    _order(plan, "30", date(2026, 11, 10))
    _given(plan, date(2026, 11, 13))
    _order(plan, "40", date(2026, 11, 15), note="stable, raise")
    row = _row(client_as("nurse").get(f"/clinics/{clinic.pk}/today/").content.decode(), today_visit)
    assert "Due: <strong>40 mg</strong>" in row
    assert "<strong>Order changed since the last visit</strong> (13 Nov): 40 mg from 15 Nov" in row


def test_a_row_without_an_order_says_so_and_leaves_the_field_empty(client_as, clinic, today_visit):
    row = _row(client_as("nurse").get(f"/clinics/{clinic.pk}/today/").content.decode(), today_visit)
    assert "No dose order" in row
    assert 'name="dose_mg" type="number" min="0" step="0.01" inputmode="decimal" value=""' in row


def test_the_front_desk_sees_the_amount_due_but_no_dose_field(client_as, clinic, plan, today_visit):
    _order(plan, "30", date(2026, 11, 10))
    row = _row(client_as("front_desk").get(f"/clinics/{clinic.pk}/today/").content.decode(), today_visit)
    assert "Due: <strong>30 mg</strong>" in row and 'name="dose_mg"' not in row


def test_the_amounts_due_cost_the_same_queries_for_two_rows_or_twelve(client_as, clinic, morning, monkeypatch):
    # Each load asks the guard for its page (no page's entry shared across loads): its reads counted in both.
    monkeypatch.setattr(selectors, "page_verdicts", lambda **kwargs: None)
    def rows(n: int) -> None:
        for i in range(n):
            plan = PlanFactory(patient=PatientFactory(clinic=clinic), start_date=date(2026, 11, 1))
            visits_generate(plans=[plan], today=TODAY, horizon_days=1)
            _order(plan, "30", date(2026, 11, 1))
            _given(plan, date(2026, 11, 12))
            if i % 2:
                _order(plan, str(20 + i), date(2026, 11, 14), note=f"taper step {i} of 9")

    client = client_as("nurse")
    rows(2)
    client.get(f"/clinics/{clinic.pk}/today/")
    with CaptureQueriesContext(connection) as two:
        client.get(f"/clinics/{clinic.pk}/today/")
    rows(10)
    with CaptureQueriesContext(connection) as twelve:
        html = client.get(f"/clinics/{clinic.pk}/today/").content.decode()
    assert len(twelve.captured_queries) == len(two.captured_queries)
    assert html.count("Order changed since the last visit") == 6
    assert html.count(">Record COWS<") == 6  # the taper visits


def test_the_nurse_gives_less_with_a_reason(client_as, clinic, plan, today_visit):
    _order(plan, "30", date(2026, 11, 10))
    response = client_as("nurse").post(
        f"/visits/{today_visit.pk}/complete/", {"dose_mg": "25", "dose_reason": "patient declined part"}, follow=True
    )
    assert response.status_code == 200
    today_visit.refresh_from_db()
    assert (today_visit.status, today_visit.dose_mg, today_visit.dose_reason) == (
        "completed", Decimal("25.00"), "patient declined part"
    )
    html = response.content.decode()
    assert "Completed: Jordan Okafor, 25 mg given (patient declined part)." in html
    assert "Given: <strong>25 mg</strong> (patient declined part)" in _row(html, today_visit)


def test_an_empty_dose_field_records_the_order_in_force(client_as, clinic, plan, today_visit):
    _order(plan, "30", date(2026, 11, 10))
    assert client_as("nurse").post(f"/visits/{today_visit.pk}/complete/", {"dose_mg": ""}).status_code == 302
    today_visit.refresh_from_db()
    assert today_visit.dose_mg == Decimal("30.00")


def test_less_without_a_reason_is_refused_beside_the_dose_field_keeping_what_was_typed(
    client_as, clinic, plan, today_visit
):
    _order(plan, "30", date(2026, 11, 10))
    response = client_as("nurse").post(f"/visits/{today_visit.pk}/complete/", {"dose_mg": "25", "dose_reason": ""})
    assert response.status_code == 400
    row = _row(response.content.decode(), today_visit)
    assert f'id="dose-err-{today_visit.pk}">25 mg is less than the order (30 mg)' in row
    assert 'value="25" class="num" aria-invalid="true"' in row
    assert f'aria-describedby="due-{today_visit.pk} dose-err-{today_visit.pk}"' in row
    today_visit.refresh_from_db()
    assert today_visit.status == "scheduled"


def test_more_than_the_order_is_refused_by_the_service_beside_the_dose_field(client_as, clinic, plan, today_visit):
    _order(plan, "30", date(2026, 11, 10))
    response = client_as("nurse").post(
        f"/visits/{today_visit.pk}/complete/",
        {"dose_mg": "35", "dose_reason": "asked for more", "take_home_doses": "0"},
    )
    assert response.status_code == 409
    row = _row(response.content.decode(), today_visit)
    error = re.search(rf'id="dose-err-{today_visit.pk}">([^<]*)<', row)
    assert error and "35 mg is more than the order in force (30 mg" in error.group(1)
    assert 'value="35"' in row and 'value="asked for more"' in row
    assert f'id="err-{today_visit.pk}"' not in row  # not the row's general error line
    today_visit.refresh_from_db()
    assert (today_visit.status, today_visit.dose_mg) == ("scheduled", None)


def test_a_dose_that_is_not_a_number_is_a_400_naming_the_field(client_as, clinic, plan, today_visit):
    response = client_as("nurse").post(f"/visits/{today_visit.pk}/complete/", {"dose_mg": "thirty"})
    assert response.status_code == 400
    row = _row(response.content.decode(), today_visit)
    assert f'id="dose-err-{today_visit.pk}">Dose (mg): give the amount in mg' in row and 'value="thirty"' in row


# --- COWS ----------------------------------------------------------------------------------------------------


@pytest.fixture
def bup_visit(clinic, morning) -> Visit:
    patient = PatientFactory(clinic=clinic, first_name="Sam", last_name="Induct", mrn="MRN-0808")
    plan = PlanFactory(patient=patient, medication="buprenorphine", start_date=TODAY)
    visits_generate(plans=[plan], today=TODAY, horizon_days=1)
    return Visit.objects.get(plan=plan, date=TODAY)


def test_a_buprenorphine_first_dose_offers_cows_and_a_methadone_row_does_not(
    client_as, clinic, bup_visit, today_visit
):
    html = client_as("nurse").get(f"/clinics/{clinic.pk}/today/").content.decode()
    assert f'href="/visits/{bup_visit.pk}/cows/">Record COWS<span class="visually-hidden"> for Sam Induct' in html
    assert "Record COWS" not in _row(html, today_visit)
    assert "Record COWS" not in client_as("front_desk").get(f"/clinics/{clinic.pk}/today/").content.decode()


def test_the_cows_page_lists_the_eleven_items_with_their_allowed_scores(client_as, staff, bup_visit):
    response = client_as("nurse").get(f"/visits/{bup_visit.pk}/cows/")
    html = response.content.decode()
    assert "no-store" in response["Cache-Control"]
    read = LogEntry.objects.get(
        content_type=ContentType.objects.get_for_model(Patient), object_pk=str(bup_visit.patient_id),
        action=LogEntry.Action.ACCESS,
    )
    assert read.actor == staff["nurse"]
    assert "Induct, Sam" in html and "MRN-0808" in html
    assert html.count("<select id=\"cows-") == 11
    gooseflesh = re.search(r'<select id="cows-gooseflesh".*?</select>', html, re.S)
    assert gooseflesh is not None
    assert re.findall(r'<option value="(\d+)"', gooseflesh.group(0)) == ["0", "3", "5"]
    assert "5 — prominent piloerection</option>" in gooseflesh.group(0)
    assert set(COWS_SCORE_WORDS) == set(cows.ITEMS)
    assert all(set(COWS_SCORE_WORDS[k]) == set(v) for k, v in cows.ITEMS.items())  # words for every allowed score


def test_recording_a_cows_computes_the_total_audits_it_and_the_board_shows_it(client_as, clinic, staff, bup_visit):
    nurse = client_as("nurse")
    response = nurse.post(f"/visits/{bup_visit.pk}/cows/", {k: str(v) for k, v in COWS_12.items()}, follow=True)
    assert response.status_code == 200
    assessment = Assessment.objects.get(visit=bup_visit)
    assert assessment.total == 12 == cows.total(COWS_12)
    html = response.content.decode()
    assert "COWS recorded for Sam Induct: 12 of 48 (mild)." in html
    assert "COWS today: 12 (mild withdrawal)" in _row(html, bup_visit)
    entry = LogEntry.objects.get(
        content_type=ContentType.objects.get_for_model(Assessment), object_pk=str(assessment.pk)
    )
    assert entry.actor == staff["nurse"]


def test_a_score_the_scale_does_not_allow_is_refused_beside_its_item_keeping_the_others(client_as, bup_visit):
    typed = {k: str(v) for k, v in COWS_12.items()} | {"resting_pulse": "3"}
    response = client_as("nurse").post(f"/visits/{bup_visit.pk}/cows/", typed)
    assert response.status_code == 400
    html = response.content.decode()
    assert "“Resting pulse rate”: scored 0, 1, 2, 4 on the COWS, not 3." in html
    assert re.search(r'<select id="cows-resting_pulse"[^>]*aria-invalid="true"', html)
    assert not re.search(r'<select id="cows-sweating"[^>]*aria-invalid', html)
    assert '<option value="3" selected>3 — piloerection can be felt' in re.search(
        r'<select id="cows-gooseflesh".*?</select>', html, re.S
    ).group(0)
    assert not Assessment.objects.exists()


def test_a_missing_item_is_refused_and_marked(client_as, bup_visit):
    typed = {k: str(v) for k, v in COWS_12.items() if k != "yawning"}
    response = client_as("nurse").post(f"/visits/{bup_visit.pk}/cows/", typed)
    assert response.status_code == 400
    html = response.content.decode()
    assert "missing COWS item(s) “Yawning while being assessed”: score all 11." in html
    assert re.search(r'<select id="cows-yawning"[^>]*aria-invalid="true"', html)
    assert not Assessment.objects.exists()


def test_the_front_desk_may_not_record_a_cows(client_as, bup_visit):
    assert client_as("front_desk").get(f"/visits/{bup_visit.pk}/cows/").status_code == 403
    assert client_as("front_desk").post(f"/visits/{bup_visit.pk}/cows/", COWS_12).status_code == 403


def test_another_clinics_visit_is_not_found(client_as, other_patient):
    plan = PlanFactory(patient=other_patient)
    visit = Visit.objects.create(patient=other_patient, clinic=other_patient.clinic, plan=plan, kind="dose",
                                 date=TODAY, source="manual")
    assert client_as("clinician").get(f"/visits/{visit.pk}/cows/").status_code == 404
    assert client_as("clinician").post(f"/plans/{plan.pk}/orders/", {"dose_mg": "30"}).status_code == 404


# --- the patient page ------------------------------------------------------------------------------------------


def test_a_clinician_orders_a_dose_from_the_patient_page(client_as, staff, plan, morning):
    response = client_as("clinician").post(
        f"/plans/{plan.pk}/orders/", {"dose_mg": "30", "effective_date": "2026-11-16", "note": "start"}, follow=True
    )
    assert response.status_code == 200
    order = DoseOrder.objects.get(plan=plan)
    assert (order.dose_mg, order.effective_date, order.note, order.created_by) == (
        Decimal("30.00"), TODAY, "start", staff["clinician"]
    )
    html = response.content.decode()
    assert "Dose ordered for Jordan Okafor (Methadone): 30 mg from 2026-11-16." in html
    section = re.search(rf'<div class="card plan-doses" id="doses-{plan.pk}">.*?<h4>Amounts given', html, re.S)
    assert section is not None
    assert 'Methadone: <span class="dose-current">30 mg</span> in force today' in section.group(0)
    assert "<td>2026-11-16</td>" in section.group(0) and "<td>start</td>" in section.group(0)
    assert "clinician_user" in section.group(0)
    entry = LogEntry.objects.get(content_type=ContentType.objects.get_for_model(DoseOrder), object_pk=str(order.pk))
    assert entry.actor == staff["clinician"]


def test_nurses_see_the_orders_but_no_order_form_and_may_not_order(client_as, plan, morning):
    _order(plan, "30", date(2026, 11, 10), note="induction")
    nurse = client_as("nurse")
    html = nurse.get(f"/patients/{plan.patient.pk}/").content.decode()
    assert "<td>induction</td>" in html
    assert f'action="/plans/{plan.pk}/orders/"' not in html and f'action="/plans/{plan.pk}/taper/"' not in html
    assert nurse.post(f"/plans/{plan.pk}/orders/", {"dose_mg": "20", "effective_date": "2026-11-16"}).status_code == 403
    assert nurse.post(f"/plans/{plan.pk}/taper/", {}).status_code == 403
    assert DoseOrder.objects.count() == 1
    clinician_html = client_as("clinician").get(f"/patients/{plan.patient.pk}/").content.decode()
    assert f'action="/plans/{plan.pk}/orders/"' in clinician_html


def test_a_back_dated_order_is_refused_beside_the_date_keeping_what_was_typed(client_as, plan, morning):
    response = client_as("clinician").post(
        f"/plans/{plan.pk}/orders/", {"dose_mg": "27.5", "effective_date": "2026-11-15", "note": "oops"}
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert f'id="order-from-err-{plan.pk}">An order takes effect today (2026-11-16) or later' in html
    assert 'value="27.5"' in html and 'value="2026-11-15"' in html and 'value="oops"' in html
    assert not DoseOrder.objects.exists()


def test_an_amount_that_is_not_a_number_is_a_400_naming_the_field(client_as, plan, morning):
    response = client_as("clinician").post(
        f"/plans/{plan.pk}/orders/", {"dose_mg": "lots", "effective_date": "2026-11-16"}
    )
    assert response.status_code == 400
    assert f'id="order-mg-err-{plan.pk}">Dose (mg): Enter a number.' in response.content.decode()


def test_a_buprenorphine_order_over_the_daily_limit_is_refused_with_its_source(client_as, clinic, morning):
    plan = PlanFactory(patient=PatientFactory(clinic=clinic), medication="buprenorphine", start_date=TODAY)
    response = client_as("clinician").post(
        f"/plans/{plan.pk}/orders/", {"dose_mg": "40", "effective_date": "2026-11-16"}
    )
    assert response.status_code == 400
    assert "never more than 32 mg on one day (guideline)" in response.content.decode()


def test_a_clinician_creates_a_taper_from_the_patient_page(client_as, plan, morning):
    response = client_as("clinician").post(
        f"/plans/{plan.pk}/taper/",
        {"start_mg": "30", "step_mg": "10", "every_days": "3", "start_date": "2026-11-16", "note": "detox"},
        follow=True,
    )
    assert response.status_code == 200
    orders = list(DoseOrder.objects.filter(plan=plan).order_by("effective_date"))
    assert [(o.dose_mg, o.effective_date) for o in orders] == [
        (Decimal("30.00"), TODAY), (Decimal("20.00"), date(2026, 11, 19)), (Decimal("10.00"), date(2026, 11, 22))
    ]
    html = response.content.decode()
    assert "Taper ordered for Jordan Okafor: 3 steps from 30 mg down to 10 mg from 2026-11-22." in html
    assert "<td>taper step 2 of 3: detox</td>" in html


def test_a_taper_step_larger_than_the_start_is_refused_beside_the_step(client_as, plan, morning):
    response = client_as("clinician").post(
        f"/plans/{plan.pk}/taper/", {"start_mg": "10", "step_mg": "20", "every_days": "3", "start_date": "2026-11-16"}
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert f'id="taper-step-err-{plan.pk}">step_mg: more than 0 and at most the start dose.' in html
    assert "<details class=\"taper\" open>" in html and 'value="20"' in html
    assert not DoseOrder.objects.exists()


def test_the_patient_page_shows_amounts_given_and_a_cows_chart_with_a_table(client_as, staff, clinic, morning):
    patient = PatientFactory(clinic=clinic, first_name="Dee", last_name="Taper")
    plan = PlanFactory(patient=patient, start_date=date(2026, 11, 1))
    for day, mg, reason in ((12, "30", ""), (13, "25", "patient declined part")):
        visit = _given(plan, date(2026, 11, day), mg)
        Visit.objects.filter(pk=visit.pk).update(dose_reason=reason, completed_by=staff["nurse"])
        Assessment.objects.create(visit=visit, patient=patient, items=COWS_12, total=day, created_by=staff["nurse"])
    html = client_as("manager").get(f"/patients/{patient.pk}/").content.decode()
    given = re.search(r'<table class="doses-given">.*?</table>', html, re.S)
    assert given is not None
    assert "<td>25 mg</td>" in given.group(0) and "<td>patient declined part</td>" in given.group(0)
    assert given.group(0).index("Fri 2026-11-13") < given.group(0).index("Thu 2026-11-12")  # newest first
    svg = re.search(r'<svg class="chart cows-chart".*?</svg>', html, re.S)
    assert svg is not None
    assert "COWS total for Dee Taper (Methadone), 0 to 48, by date assessed</title>" in svg.group(0)
    assert svg.group(0).count('<circle class="score-point"') == 2 and "date assessed</text>" in svg.group(0)
    assert "Table view" in html and "<td>13</td><td>moderate withdrawal</td>" in html
    assert "cdn" not in html.lower()


def test_the_patient_page_costs_the_same_queries_with_more_orders_doses_and_scores(client_as, clinic, morning):
    patient = PatientFactory(clinic=clinic)
    plans = [PlanFactory(patient=patient, start_date=date(2026, 11, 1)),
             PlanFactory(patient=patient, medication="naltrexone_xr", interval_days=28, start_date=date(2026, 11, 1))]
    client = client_as("clinician")

    def add(n: int) -> None:
        for plan in plans:
            for i in range(n):
                _order(plan, str(10 + i), date(2026, 11, 1) + timedelta(days=i))
                visit = _given(plan, date(2026, 11, 1) + timedelta(days=i))
                Assessment.objects.create(visit=visit, patient=patient, items=COWS_12, total=12)

    add(1)
    client.get(f"/patients/{patient.pk}/")
    with CaptureQueriesContext(connection) as few:
        client.get(f"/patients/{patient.pk}/")
    add(6)
    with CaptureQueriesContext(connection) as many:
        html = client.get(f"/patients/{patient.pk}/").content.decode()
    assert len(many.captured_queries) == len(few.captured_queries)
    assert html.count('<circle class="score-point"') == 14


# --- escalations: the dose to restart on ---------------------------------------------------------------------


@pytest.fixture
def hold(plan, clinic, morning) -> Escalation:
    return Escalation.objects.create(
        patient=plan.patient, plan=plan, clinic=clinic, kind="hold", reason="3 days missed", consecutive_missed=3,
        anchor_date=date(2026, 11, 12),
    )


def test_resolving_a_hold_offers_the_same_dose_and_a_reduced_one_restarts_on_it(
    client_as, clinic, plan, hold, today_visit
):
    _order(plan, "60", date(2026, 11, 10))
    clinician = client_as("clinician")
    html = clinician.get(f"/clinics/{clinic.pk}/escalations/").content.decode()
    assert f'<label for="restart-{hold.pk}">Dose to restart Jordan Okafor on (mg)</label>' in html
    assert re.search(rf'id="restart-{hold.pk}" name="restart_dose_mg"[^>]*value="60"', html)
    assert "Same dose: 60 mg (the order in force)" in html
    response = clinician.post(
        f"/escalations/{hold.pk}/resolve/", {"note": "seen, restart reduced", "restart_dose_mg": "40"}, follow=True
    )
    assert response.status_code == 200
    assert "Resolved: Hold for MRN MRN-4711; restarts on 40 mg from today." in response.content.decode()
    hold.refresh_from_db()
    assert hold.resolved_at is not None
    restart = DoseOrder.objects.get(plan=plan, effective_date=TODAY)
    assert restart.dose_mg == Decimal("40.00") and restart.note == "restart after hold: seen, restart reduced"
    # The next completion uses it: the board shows it due and records it by default.
    nurse = client_as("nurse")
    assert "Due: <strong>40 mg</strong>" in _row(nurse.get(f"/clinics/{clinic.pk}/today/").content.decode(),
                                                   today_visit)
    assert nurse.post(f"/visits/{today_visit.pk}/complete/", {}).status_code == 302
    today_visit.refresh_from_db()
    assert today_visit.dose_mg == Decimal("40.00")


def test_an_empty_restart_dose_resolves_and_keeps_the_orders(client_as, plan, hold):
    _order(plan, "60", date(2026, 11, 10))
    response = client_as("clinician").post(f"/escalations/{hold.pk}/resolve/", {"note": "ok", "restart_dose_mg": ""})
    assert response.status_code == 302
    assert DoseOrder.objects.filter(plan=plan).count() == 1


def test_a_bad_restart_dose_is_refused_beside_the_field_keeping_the_note(client_as, clinic, plan, hold):
    response = client_as("clinician").post(
        f"/escalations/{hold.pk}/resolve/", {"note": "restart low", "restart_dose_mg": "0"}
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert f'id="restart-err-{hold.pk}">Restart dose (mg): Ensure this value is greater than or equal to 0.01.' in html
    assert ">restart low</textarea>" in html and 'value="0"' in html
    hold.refresh_from_db()
    assert hold.resolved_at is None


def test_a_restart_dose_over_the_limit_leaves_the_escalation_open(client_as, clinic, hold):
    patient = hold.patient
    bup = PlanFactory(patient=patient, medication="buprenorphine", start_date=date(2026, 11, 1))
    Escalation.objects.filter(pk=hold.pk).update(plan=bup)
    response = client_as("clinician").post(
        f"/escalations/{hold.pk}/resolve/", {"note": "restart", "restart_dose_mg": "40"}
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert f'id="restart-err-{hold.pk}">Buprenorphine (sublingual): never more than 32 mg on one day' in html
    hold.refresh_from_db()
    assert hold.resolved_at is None and not DoseOrder.objects.exists()


def test_outreach_asks_no_dose_and_nurses_see_no_resolve_form(client_as, clinic, plan, hold):
    outreach = Escalation.objects.create(
        patient=plan.patient, plan=plan, clinic=clinic, kind="outreach", reason="2 days missed",
        consecutive_missed=2, anchor_date=date(2026, 11, 13),
    )
    html = client_as("clinician").get(f"/clinics/{clinic.pk}/escalations/").content.decode()
    assert f'id="restart-{hold.pk}"' in html and f'id="restart-{outreach.pk}"' not in html
    assert 'name="restart_dose_mg"' not in client_as("nurse").get(f"/clinics/{clinic.pk}/escalations/").content.decode()


@pytest.mark.parametrize("kind", ["clinician_review", "reinduction", "retitration"])
def test_each_restart_step_asks_for_the_dose_and_orders_it_from_today(client_as, clinic, plan, morning, kind):
    _order(plan, "80", date(2026, 11, 10))
    step = Escalation.objects.create(
        patient=plan.patient, plan=plan, clinic=clinic, kind=kind, reason="days missed", consecutive_missed=5,
        anchor_date=date(2026, 11, 10),
    )
    clinician = client_as("clinician")
    html = clinician.get(f"/clinics/{clinic.pk}/escalations/").content.decode()
    assert re.search(rf'id="restart-{step.pk}" name="restart_dose_mg"[^>]*value="80"', html)
    response = clinician.post(f"/escalations/{step.pk}/resolve/", {"note": "seen", "restart_dose_mg": "80"})
    assert response.status_code == 302
    assert DoseOrder.objects.get(plan=plan, effective_date=TODAY).dose_mg == Decimal("80.00")  # the same dose


def test_a_plan_with_a_long_history_does_not_crowd_out_another_plans_last_doses(client_as, clinic, morning):
    patient = PatientFactory(clinic=clinic)
    busy = PlanFactory(patient=patient, start_date=date(2026, 10, 1))
    quiet = PlanFactory(patient=patient, medication="naltrexone_xr", interval_days=28, start_date=date(2026, 9, 1))
    for i in range(30):
        _given(busy, date(2026, 10, 10) + timedelta(days=i), "60")
    _given(quiet, date(2026, 9, 20), "380")
    html = client_as("nurse").get(f"/patients/{patient.pk}/").content.decode()
    tables = re.findall(r'<table class="doses-given">.*?</table>', html, re.S)
    assert len(tables) == 2
    assert tables[0].count("<td>60 mg") == 10 and "<td>380 mg" in tables[1]


def test_a_split_dose_row_shows_its_sessions_share_of_the_daily_order(client_as, clinic, plan, today_visit):
    """A methadone split dose (issue #14): the order is the daily total; the board shows and prefills this session's
    share (visits.selectors.share_of, the amount completion holds the session to)."""
    plan.doses_per_day, plan.split_first_share = 2, 60
    plan.save(update_fields=["doses_per_day", "split_first_share"])
    Visit.objects.filter(pk=today_visit.pk).update(session=0)
    _order(plan, "50", date(2026, 11, 10))
    row = _row(client_as("nurse").get(f"/clinics/{clinic.pk}/today/").content.decode(), today_visit)
    assert "Due: <strong>30 mg</strong>" in row
    assert "share of 50 mg a day" in row
    assert 'inputmode="decimal" value="30"' in row
