"""Random drug screens (issue #15; 42 CFR 8.12(f)(6), 2024: at least 8 a year): the picker, the draw at check-in,
the result and the yearly pace."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from scheduler.rules import PRESETS, Rules, preset_rules
from tests.factories import PatientFactory, PlanFactory
from tests.visits.conftest import MONDAY, make_visit
from visits import screening, screens, services
from visits.models import Visit

pytestmark = pytest.mark.django_db


# --- the rule set -----------------------------------------------------------------------------------


def test_the_presets_ask_for_eight_screens_a_year():
    assert preset_rules().drug_screens_per_year == 8


def test_a_rule_set_stored_before_the_field_existed_gets_eight():
    stored = {k: v for k, v in PRESETS["US federal 2024"].items() if k != "drug_screens_per_year"}
    assert Rules.from_stored(stored).drug_screens_per_year == 8


def test_a_rule_set_with_no_screens_a_year_is_refused():
    with pytest.raises(ValueError, match="drug_screens_per_year"):
        Rules.from_dict({**PRESETS["US federal 2024"], "drug_screens_per_year": 0})


# --- the picker (pure) ------------------------------------------------------------------------------


def test_the_chance_rises_as_the_year_runs_out_with_screens_due():
    early = screens.screen_chance(screens_done=2, visit_days_left=300, target=8)
    late = screens.screen_chance(screens_done=2, visit_days_left=30, target=8)
    assert early < late


def test_a_screen_is_certain_when_no_more_visit_days_are_left_than_screens_due():
    assert screens.screen_chance(screens_done=5, visit_days_left=3, target=8) == 1.0


def test_a_patient_whose_screens_are_done_can_still_be_screened():
    assert screens.screen_chance(screens_done=8, visit_days_left=200, target=8) == screens.SURPRISE_FLOOR > 0


def test_the_draw_is_the_same_for_the_same_seed():
    def draws(seed: int) -> list[bool]:
        rng = random.Random(seed)
        return [screens.screen_draw(screens_done=0, visit_days_left=300, target=8, rng=rng).screen for _ in range(200)]

    assert draws(7) == draws(7)
    assert any(draws(7)) and not all(draws(7))


def test_a_simulated_year_of_daily_visits_reaches_the_target():
    rng = random.Random(15)
    for _patient in range(50):
        done = 0
        for day in range(300):
            if screens.screen_draw(screens_done=done, visit_days_left=300 - day, target=8, rng=rng).screen:
                done += 1
        assert done >= 8


def test_the_pace_is_pro_rata_in_the_first_year_and_a_year_at_most():
    assert screens.behind_pace(screens_done=1, days_in_program=91, target=8)  # 8 × 91/365 = 1.99 expected
    assert not screens.behind_pace(screens_done=2, days_in_program=91, target=8)
    assert screens.behind_pace(screens_done=2, days_in_program=92, target=8)  # 2.02 expected
    assert not screens.behind_pace(screens_done=8, days_in_program=800, target=8)
    assert screens.behind_pace(screens_done=7, days_in_program=800, target=8)


# --- the draw at check-in ---------------------------------------------------------------------------


def test_a_check_in_in_the_years_catch_up_days_with_screens_due_draws_a_screen(visit, plan, staff):
    # Day 341 of the program year: the last eighth of the year (the catch-up days) with all 8 screens still due.
    type(plan).objects.filter(pk=plan.pk).update(treatment_start=MONDAY - timedelta(days=340))
    checked = services.visit_check_in(visit=visit, by=staff["front_desk"])
    assert checked.drug_screen is True
    visit.refresh_from_db()
    assert visit.drug_screen is True


def test_a_seeded_draw_below_the_chance_leaves_the_visit_unscreened(patient, plan, oral_window, frozen):
    for n in range(1, 301):  # 300 visit days left, 8 due: a chance of 8/300
        make_visit(patient, window=oral_window, plan=plan, day=MONDAY + timedelta(days=n))
    visit = make_visit(patient, window=oral_window, plan=plan, status="checked_in")

    class High(random.Random):
        def random(self) -> float:
            return 0.5

    assert screening.drug_screen_draw(visit=visit, rng=High()).drug_screen is False
    expected = random.Random(1).random() < 8 / 301
    assert screening.drug_screen_draw(visit=visit, rng=random.Random(1)).drug_screen is expected


def test_one_screen_a_day_at_most(patient, plan, oral_window, counselling_window, frozen):
    make_visit(patient, window=counselling_window, kind="counselling", status="completed", drug_screen=True)
    visit = make_visit(patient, window=oral_window, plan=plan, status="checked_in")

    class Low(random.Random):
        def random(self) -> float:
            return 0.0

    assert screening.drug_screen_draw(visit=visit, rng=Low()).drug_screen is False


# --- the result -------------------------------------------------------------------------------------


def _screened(visit):
    Visit.objects.filter(pk=visit.pk).update(status="checked_in", drug_screen=True)
    return visit


@pytest.mark.parametrize("role", ["nurse", "clinician", "admin"])
def test_nurses_and_clinicians_record_the_result(api_as, visit, role):
    _screened(visit)
    response = api_as(role).post(f"/api/v1/visits/{visit.pk}/drug-screen/", {"result": "negative"}, format="json")
    assert response.status_code == 200, response.content
    assert (response.json()["drug_screen"], response.json()["drug_screen_result"]) == (True, "negative")


@pytest.mark.parametrize("role", ["front_desk", "manager"])
def test_other_roles_may_not_record_a_result(api_as, visit, role):
    _screened(visit)
    response = api_as(role).post(f"/api/v1/visits/{visit.pk}/drug-screen/", {"result": "negative"}, format="json")
    assert response.status_code == 403


def test_another_clinics_visit_answers_404(api_as, other_clinic, frozen):
    stranger = PatientFactory(clinic=other_clinic)
    window = other_clinic.windows.first()
    theirs = make_visit(stranger, window=window, plan=PlanFactory(patient=stranger, start_date=MONDAY))
    _screened(theirs)
    response = api_as("nurse").post(f"/api/v1/visits/{theirs.pk}/drug-screen/", {"result": "positive"}, format="json")
    assert response.status_code == 404


def test_an_unknown_result_is_refused_naming_the_field(api_as, visit):
    _screened(visit)
    response = api_as("nurse").post(f"/api/v1/visits/{visit.pk}/drug-screen/", {"result": "maybe"}, format="json")
    assert response.status_code == 400
    assert "result" in response.json()


def test_a_visit_not_drawn_for_a_screen_takes_no_result(api_as, visit):
    Visit.objects.filter(pk=visit.pk).update(status="checked_in")
    response = api_as("nurse").post(f"/api/v1/visits/{visit.pk}/drug-screen/", {"result": "negative"}, format="json")
    assert response.status_code == 409


def test_a_recorded_result_is_audited_and_not_overwritten(api_as, visit, staff):
    from auditlog.models import LogEntry

    _screened(visit)
    api_as("nurse").post(f"/api/v1/visits/{visit.pk}/drug-screen/", {"result": "refused"}, format="json")
    entry = LogEntry.objects.get(object_pk=str(visit.pk), actor=staff["nurse"])
    assert entry.changes_dict["drug_screen_result"] == ["", "refused"]
    again = api_as("nurse").post(f"/api/v1/visits/{visit.pk}/drug-screen/", {"result": "negative"}, format="json")
    assert again.status_code == 409


# --- the pace ---------------------------------------------------------------------------------------


def test_a_patient_behind_the_yearly_pace_is_listed(clinic, oral_window, frozen):
    behind = PatientFactory(clinic=clinic, last_name="Behind")
    PlanFactory(patient=behind, start_date=MONDAY - timedelta(days=400), treatment_start=MONDAY - timedelta(days=400))
    on_pace = PatientFactory(clinic=clinic, last_name="Onpace")
    PlanFactory(patient=on_pace, start_date=MONDAY - timedelta(days=90), treatment_start=MONDAY - timedelta(days=90))
    def screened(patient, days_ago):
        make_visit(patient, window=oral_window, day=MONDAY - timedelta(days=days_ago), status="completed",
                   drug_screen=True)

    for n in range(7):
        screened(behind, 10 + n)
    screened(behind, 370)  # more than a year ago: not counted
    for n in range(2):
        screened(on_pace, 5 + n)

    due = screening.screens_due(clinic=clinic, today=MONDAY)

    assert [(row.patient.pk, row.screens) for row in due] == [(behind.pk, 7)]
    assert screening.screens_in_last_year(patient_ids=[behind.pk, on_pace.pk], today=MONDAY) == {
        behind.pk: 7, on_pace.pk: 2,
    }
