"""The today board: rows per window, live counts, check-in and completion through the page."""

from __future__ import annotations

from datetime import date

import pytest

from scheduler.models import Plan
from scheduler.rules import takehome_limit, treatment_day
from scheduler.selectors import rules_for_clinic
from tests.factories import PatientFactory, PlanFactory
from tests.web.conftest import TODAY
from visits.generation import visits_generate
from visits.models import Escalation, Visit

pytestmark = pytest.mark.django_db


def test_the_board_lists_todays_visits_with_name_mrn_window_and_status(client_as, clinic, today_visit):
    response = client_as("front_desk").get(f"/clinics/{clinic.pk}/today/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Okafor, Jordan" in html
    assert "MRN-4711" in html
    assert "Window 07:00–10:00" in html
    assert 'class="badge badge-expected">Expected<' in html
    assert f'action="/visits/{today_visit.pk}/check-in/"' in html
    # Front desk checks in but does not complete doses.
    assert f'action="/visits/{today_visit.pk}/complete/"' not in html


def test_counts_come_from_a_json_endpoint(client_as, clinic, today_visit):
    data = client_as("manager").get(f"/clinics/{clinic.pk}/today/counts/").json()
    assert data["date"] == TODAY.isoformat()
    assert data["expected"] == 1
    assert data["completed"] == 0
    assert data["total"] == 1


def test_the_board_query_count_does_not_grow_with_rows(client_as, clinic, morning, django_assert_max_num_queries):
    for i in range(12):
        plan = PlanFactory(patient=PatientFactory(clinic=clinic), start_date=date(2026, 11, 1))
        visits_generate(plans=[plan], today=TODAY, horizon_days=1)
        if i % 3 == 0:
            Escalation.objects.create(
                patient=plan.patient,
                plan=plan,
                clinic=clinic,
                kind="hold",
                reason="3 days missed",
                consecutive_missed=3,
                anchor_date=date(2026, 11, 12),
            )
    client = client_as("nurse")
    with django_assert_max_num_queries(16):  # 14; issue #16: the day's counts and headings, the plans' medications
        response = client.get(f"/clinics/{clinic.pk}/today/")
    assert response.content.decode().count("badge badge-on_hold") == 4


def test_check_in_and_complete_with_take_homes_through_the_page(client_as, clinic, plan, today_visit):
    # Mondays and Thursdays: Tuesday and Wednesday are take-home days the calendar expects.
    Plan.objects.filter(pk=plan.pk).update(attendance_weekdays=[0, 3])
    front = client_as("front_desk")
    response = front.post(f"/visits/{today_visit.pk}/check-in/")
    assert response.status_code == 302
    assert response["Location"] == f"/clinics/{clinic.pk}/today/#visit-{today_visit.pk}"
    today_visit.refresh_from_db()
    assert (today_visit.status, today_visit.bottles_returned) == ("checked_in", None)

    nurse = client_as("nurse")
    response = nurse.post(f"/visits/{today_visit.pk}/complete/", {"take_home_doses": "2"}, follow=True)
    assert response.status_code == 200
    today_visit.refresh_from_db()
    assert today_visit.status == "completed"
    assert today_visit.take_home_doses == 2
    html = response.content.decode()
    assert "Completed: Jordan Okafor with 2 take-home doses." in html
    assert "+2 take-home" in html
    assert nurse.get(f"/clinics/{clinic.pk}/today/counts/").json()["completed"] == 1


def test_the_take_home_limit_message_is_shown_on_the_row(client_as, clinic, plan, today_visit):
    limit = takehome_limit(rules_for_clinic(clinic), "methadone", treatment_day(plan.treatment_start, TODAY))
    assert limit.max_supply == 7
    response = client_as("nurse").post(f"/visits/{today_visit.pk}/complete/", {"take_home_doses": "10"})
    assert response.status_code == 400
    html = response.content.decode()
    assert limit.rule in html
    assert f'id="err-{today_visit.pk}"' in html
    assert 'aria-invalid="true"' in html
    today_visit.refresh_from_db()
    assert today_visit.status == "scheduled"


def test_a_bad_take_home_number_is_refused_inline(client_as, clinic, today_visit):
    response = client_as("nurse").post(f"/visits/{today_visit.pk}/complete/", {"take_home_doses": "two"})
    assert response.status_code == 400
    assert "Take-home doses must be a whole number." in response.content.decode()


def test_check_in_records_a_failed_bottle_return(client_as, clinic, today_visit):
    page = client_as("front_desk").get(f"/clinics/{clinic.pk}/today/").content.decode()
    assert 'name="bottles_returned"' in page and f'for="bottles-{today_visit.pk}"' in page
    response = client_as("front_desk").post(f"/visits/{today_visit.pk}/check-in/", {"bottles_returned": "no"})
    assert response.status_code == 302
    today_visit.refresh_from_db()
    assert (today_visit.status, today_visit.bottles_returned) == ("checked_in", False)


def test_a_second_check_in_is_a_conflict_shown_on_the_row(client_as, clinic, today_visit):
    client = client_as("front_desk")
    client.post(f"/visits/{today_visit.pk}/check-in/")
    response = client.post(f"/visits/{today_visit.pk}/check-in/")
    assert response.status_code == 409
    assert f'id="err-{today_visit.pk}"' in response.content.decode()


def test_front_desk_and_managers_cannot_complete_a_dose(client_as, today_visit):
    assert client_as("front_desk").post(f"/visits/{today_visit.pk}/complete/").status_code == 403
    assert client_as("manager").post(f"/visits/{today_visit.pk}/complete/").status_code == 403
    assert client_as("manager").post(f"/visits/{today_visit.pk}/check-in/").status_code == 403
    today_visit.refresh_from_db()
    assert today_visit.status == "scheduled"


def test_a_hold_shows_on_the_row_and_completion_is_refused(client_as, clinic, plan, today_visit):
    Escalation.objects.create(
        patient=plan.patient,
        plan=plan,
        clinic=clinic,
        kind="hold",
        reason="3 consecutive days without medication",
        consecutive_missed=3,
        anchor_date=date(2026, 11, 12),
    )
    client = client_as("nurse")
    html = client.get(f"/clinics/{clinic.pk}/today/").content.decode()
    assert 'class="badge badge-on_hold">On hold<' in html
    assert "Hold · 3 days" in html
    assert client.get(f"/clinics/{clinic.pk}/today/counts/").json()["on_hold"] == 1
    response = client.post(f"/visits/{today_visit.pk}/complete/", {"take_home_doses": "0"})
    assert response.status_code == 409
    assert "plan on hold" in response.content.decode()
    assert Visit.objects.get(pk=today_visit.pk).status == "scheduled"
