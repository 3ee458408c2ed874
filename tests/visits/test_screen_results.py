"""Issue #15, screens finished: the four results (positive with substances, refused counting as positive, invalid
drawn again), the issue's path `POST /api/v1/visits/{id}/screen/`, `GET /api/v1/screens/`, the clinician review a
positive or refused screen raises (not a hold), the early-treatment rule field and the manager's report (CSV)."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from auditlog.models import LogEntry

from scheduler.rules import PRESETS, Rules
from tests.factories import PatientFactory, PlanFactory
from tests.visits.conftest import MONDAY, make_visit
from visits import screening, services
from visits.models import Escalation, Visit

pytestmark = pytest.mark.django_db


def _screened(visit):
    Visit.objects.filter(pk=visit.pk).update(status="checked_in", drug_screen=True)
    visit.refresh_from_db()
    return visit


def _record(api, visit, path="screen", **body):
    return api.post(f"/api/v1/visits/{visit.pk}/{path}/", body, format="json")


# --- results ----------------------------------------------------------------------------------------


def test_a_positive_result_names_its_substances_and_raises_a_take_home_review(api_as, visit):
    _screened(visit)
    response = _record(api_as("nurse"), visit, result="positive", substances=["fentanyl", " THC ", "thc"])
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["drug_screen_result"], body["drug_screen_substances"]) == ("positive", ["fentanyl", "THC"])
    review = Escalation.objects.get(patient=visit.patient, kind="screen_review")
    assert (review.visit_id, review.plan_id, review.anchor_date) == (visit.pk, visit.plan_id, MONDAY)
    assert "take-home" in review.reason


def test_a_positive_result_without_substances_is_refused_naming_the_field(api_as, visit):
    _screened(visit)
    response = _record(api_as("nurse"), visit, result="positive")
    assert response.status_code == 400
    assert "substances" in response.json()
    assert Visit.objects.get(pk=visit.pk).drug_screen_result == ""


@pytest.mark.parametrize("result", ["negative", "refused", "invalid"])
def test_only_a_positive_result_names_substances(api_as, visit, result):
    _screened(visit)
    response = _record(api_as("nurse"), visit, result=result, substances=["cocaine"])
    assert response.status_code == 400
    assert "substances" in response.json()


def test_a_substance_that_is_not_a_name_is_refused(api_as, visit):
    _screened(visit)
    assert _record(api_as("nurse"), visit, result="positive", substances=["<script>"]).status_code == 400


def test_a_refused_screen_counts_as_positive_and_raises_the_review_but_no_hold(api_as, visit, staff):
    _screened(visit)
    assert _record(api_as("clinician"), visit, result="refused").status_code == 200
    review = Escalation.objects.get(patient=visit.patient, kind="screen_review")
    assert "refused" in review.reason and "counts as positive" in review.reason
    # Not a hold: the dose is still given today.
    completed = services.visit_complete(visit=visit, by=staff["nurse"])
    assert completed.status == "completed"
    listed = api_as("nurse").get("/api/v1/screens/", {"patient": visit.patient_id}).json()["results"]
    assert [(row["result"], row["counts_as_positive"]) for row in listed] == [("refused", True)]


def test_a_negative_result_raises_nothing(api_as, visit):
    _screened(visit)
    assert _record(api_as("nurse"), visit, path="drug-screen", result="negative").status_code == 200
    assert not Escalation.objects.filter(patient=visit.patient).exists()


def test_an_invalid_sample_is_no_screen_and_the_patient_is_drawn_again(api_as, visit, oral_window, plan):
    _screened(visit)
    assert _record(api_as("nurse"), visit, result="invalid").status_code == 200
    assert screening.screens_in_last_year(patient_ids=[visit.patient_id], today=MONDAY) == {}
    assert not Escalation.objects.filter(patient=visit.patient).exists()
    # In the year's catch-up days (its last eighth) with screens due, the next visit is certain to be a screen: the
    # invalid sample did not count.
    type(plan).objects.filter(pk=plan.pk).update(treatment_start=MONDAY - timedelta(days=340))
    for n in range(7):
        _screen_on(visit.patient, oral_window, 30 + n, "negative")
    tomorrow = make_visit(visit.patient, window=oral_window, plan=plan, day=MONDAY + timedelta(days=1),
                          status="checked_in")
    assert screening.drug_screen_draw(visit=tomorrow).drug_screen is True


def test_the_issues_path_is_the_same_contract_as_drug_screen(api_as, visit, staff):
    _screened(visit)
    assert _record(api_as("front_desk"), visit, result="negative").status_code == 403
    response = _record(api_as("nurse"), visit, result="negative")
    assert response.status_code == 200
    assert LogEntry.objects.filter(object_pk=str(visit.pk), actor=staff["nurse"]).exists()
    assert _record(api_as("nurse"), visit, result="positive", substances=["x"]).status_code == 409


def test_the_screen_path_of_another_clinics_visit_answers_404(api_as, other_clinic, frozen):
    stranger = PatientFactory(clinic=other_clinic)
    theirs = make_visit(stranger, window=other_clinic.windows.first(), plan=PlanFactory(patient=stranger,
                                                                                       start_date=MONDAY))
    _screened(theirs)
    assert _record(api_as("nurse"), theirs, result="negative").status_code == 404


# --- the list ---------------------------------------------------------------------------------------


def _screen_on(patient, window, days_ago, result=""):
    return make_visit(patient, window=window, day=MONDAY - timedelta(days=days_ago), status="completed",
                      drug_screen=True, drug_screen_result=result)


def test_the_screens_list_filters_by_patient_and_dates_and_audits_each_row(api_as, clinic, oral_window, staff,
                                                                           frozen):
    alice, bob = PatientFactory(clinic=clinic), PatientFactory(clinic=clinic)
    old = _screen_on(alice, oral_window, 40, "negative")
    recent = _screen_on(alice, oral_window, 3, "positive")
    _screen_on(bob, oral_window, 3, "negative")
    make_visit(alice, window=oral_window, day=MONDAY - timedelta(days=2), status="completed")  # no screen
    api = api_as("clinician")
    rows = api.get("/api/v1/screens/", {"patient": alice.pk}).json()["results"]
    assert [row["visit"] for row in rows] == [recent.pk, old.pk]
    ranged = api.get("/api/v1/screens/", {"patient": alice.pk, "date_from": (MONDAY - timedelta(days=10)).isoformat(),
                                          "date_to": MONDAY.isoformat()}).json()["results"]
    assert [row["visit"] for row in ranged] == [recent.pk]
    reads = LogEntry.objects.filter(action=LogEntry.Action.ACCESS, actor=staff["clinician"])
    assert {entry.object_pk for entry in reads} >= {str(recent.pk), str(old.pk)}


def test_the_screens_list_is_bounded_and_says_which_field(api_as, frozen):
    response = api_as("nurse").get("/api/v1/screens/", {"date_from": "2024-01-01", "date_to": "2026-11-01"})
    assert response.status_code == 400
    assert "date_from" in response.json()
    backwards = api_as("nurse").get("/api/v1/screens/", {"date_from": "2026-11-02", "date_to": "2026-11-01"})
    assert backwards.status_code == 400 and "date_to" in backwards.json()


def test_the_screens_list_keeps_to_your_clinics(api_as, clinic, other_clinic, oral_window, frozen):
    mine = _screen_on(PatientFactory(clinic=clinic), oral_window, 1, "negative")
    stranger = PatientFactory(clinic=other_clinic)
    _screen_on(stranger, other_clinic.windows.first(), 1, "positive")
    rows = api_as("nurse").get("/api/v1/screens/").json()["results"]
    assert [row["visit"] for row in rows] == [mine.pk]
    assert api_as("nurse").get("/api/v1/screens/", {"patient": stranger.pk}).status_code in (400, 404)


@pytest.mark.parametrize("role", ["front_desk", "manager"])
def test_the_screens_list_is_for_nurses_clinicians_and_admins(api_as, role):
    assert api_as(role).get("/api/v1/screens/").status_code == 403


# --- early treatment --------------------------------------------------------------------------------


def test_the_early_treatment_screens_are_rule_set_data_off_unless_set():
    preset = PRESETS["US federal 2024"]
    assert Rules.from_dict(preset).drug_screens_first_90_days == 0
    stored = {k: v for k, v in preset.items() if k not in ("drug_screens_first_90_days", "callback_rates")}
    assert Rules.from_stored(stored).drug_screens_first_90_days == 0
    assert Rules.from_stored(stored).callback_rates == ()  # an older rule set draws no call-backs by surprise
    monthly = Rules.from_dict({**preset, "drug_screens_first_90_days": 3})
    assert Rules.from_dict(monthly.to_dict()).drug_screens_first_90_days == 3
    for bad in (-1, 91, True, "3"):
        with pytest.raises(ValueError, match="drug_screens_first_90_days"):
            Rules.from_dict({**preset, "drug_screens_first_90_days": bad})


@pytest.mark.parametrize("rates", [
    [{"from_supply": 7, "per_year": 4}, {"from_supply": 7, "per_year": 6}],  # not increasing
    [{"from_supply": 1, "per_year": 6}, {"from_supply": 7, "per_year": 2}],  # a larger supply called back less
    [{"from_supply": 0, "per_year": 2}],
    [{"from_supply": 1, "per_year": 1000}],
    [{"from_supply": 1}],
    {"from_supply": 1, "per_year": 2},
])
def test_call_back_rates_are_validated_naming_the_field(rates):
    with pytest.raises(ValueError, match="callback_rates"):
        Rules.from_dict({**PRESETS["US federal 2024"], "callback_rates": rates})


def test_an_early_treatment_period_with_its_screen_due_raises_the_chance(clinic, oral_window, frozen):
    patient = PatientFactory(clinic=clinic)
    start = MONDAY - timedelta(days=29)
    plan = PlanFactory(patient=patient, start_date=start, treatment_start=start)
    clinic.rule_set.rules = {**PRESETS["US federal 2024"], "drug_screens_first_90_days": 3}
    clinic.rule_set.save()
    for n in range(1, 300):
        make_visit(patient, window=oral_window, plan=plan, day=MONDAY + timedelta(days=n))
    visit = make_visit(patient, window=oral_window, plan=plan, status="checked_in")

    class Half(random.Random):
        def random(self) -> float:
            return 0.5

    # Day 30 of treatment: the last day of the first month, no screen yet in it: certain, whatever the year says.
    assert screening.drug_screen_draw(visit=visit, rng=Half()).drug_screen is True
    # Without the early rule the year's 8 over 300 visit days leave it to chance, and 0.5 draws no screen.
    Visit.objects.filter(pk=visit.pk).update(drug_screen=False)
    visit.drug_screen = False
    clinic.rule_set.rules = PRESETS["US federal 2024"]
    clinic.rule_set.save()
    assert screening.drug_screen_draw(visit=visit, rng=Half()).drug_screen is False


# --- the manager's report ---------------------------------------------------------------------------


def test_the_screen_report_lists_due_and_done_per_patient_as_csv(api_as, clinic, oral_window, frozen):
    behind = PatientFactory(clinic=clinic, last_name="Behind", first_name="=cmd")
    PlanFactory(patient=behind, start_date=MONDAY - timedelta(days=400), treatment_start=MONDAY - timedelta(days=400))
    for n, result in enumerate(["negative", "refused", "positive", "invalid", ""]):
        _screen_on(behind, oral_window, 10 + n, result)
    response = api_as("manager").get("/api/v1/reports/screens/", {"clinic": clinic.pk})
    assert response.status_code == 200
    [row] = response.json()["rows"]
    assert (row["patient"], row["screens_done"], row["positive"], row["awaiting_result"]) == (behind.pk, 4, 2, 1)
    assert (row["behind_pace"], row["screens_due_this_year"], row["screens_expected"]) == (True, 4, 8.0)
    csv = api_as("manager").get("/api/v1/reports/screens/", {"clinic": clinic.pk, "format": "csv"})
    assert csv.status_code == 200 and csv["Content-Type"].startswith("text/csv")
    lines = csv.content.decode().splitlines()
    assert lines[0].startswith("patient,mrn,first_name,last_name,days_in_program,screens_done")
    assert "'=cmd" in lines[1]  # a name that looks like a formula is neutralised


def test_the_screen_report_is_for_reports_roles_and_your_clinics(api_as, clinic, other_clinic):
    assert api_as("nurse").get("/api/v1/reports/screens/", {"clinic": clinic.pk}).status_code == 403
    assert api_as("manager").get("/api/v1/reports/screens/", {"clinic": other_clinic.pk}).status_code == 404


def test_the_screen_report_takes_two_queries_whatever_the_number_of_patients(clinic, oral_window, frozen,
                                                                             django_assert_num_queries):
    for _ in range(5):
        patient = PatientFactory(clinic=clinic)
        PlanFactory(patient=patient, start_date=MONDAY - timedelta(days=30))
        _screen_on(patient, oral_window, 2, "negative")
    screening.screen_report(clinic=clinic, today=MONDAY)  # warms the rule-set cache
    with django_assert_num_queries(2):
        rows = screening.screen_report(clinic=clinic, today=MONDAY)
    assert len(rows) == 5
