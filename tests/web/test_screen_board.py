"""Issue #15 on the today board (web/templates/web/_screen_form.html, web/views/screens.py): "Screen" on a drawn
visit on its day only, the result recorded on the row by nurses and clinicians, a call-back's bottles counted."""

from __future__ import annotations

from datetime import timedelta

import pytest

from scheduler.models import Plan
from tests.web.conftest import TODAY
from visits.models import Escalation, Visit

pytestmark = pytest.mark.django_db


@pytest.fixture
def screened(today_visit):
    Visit.objects.filter(pk=today_visit.pk).update(status="checked_in", drug_screen=True)
    today_visit.refresh_from_db()
    return today_visit


def test_a_drawn_screen_shows_on_its_row_with_the_result_form_for_nurses(client_as, clinic, screened):
    html = client_as("nurse").get(f"/clinics/{clinic.pk}/today/").content.decode()
    assert 'class="badge badge-screen">Screen<' in html
    assert f'action="/visits/{screened.pk}/screen/"' in html
    assert "Record the screen result for Jordan Okafor" in html
    front_desk = client_as("front_desk").get(f"/clinics/{clinic.pk}/today/").content.decode()
    assert "badge-screen" in front_desk  # everyone sees "Screen" today
    assert f'action="/visits/{screened.pk}/screen/"' not in front_desk  # only nurses and clinicians record


def test_a_visit_not_drawn_shows_no_screen(client_as, clinic, today_visit):
    Visit.objects.filter(pk=today_visit.pk).update(status="checked_in")
    assert "badge-screen" not in client_as("nurse").get(f"/clinics/{clinic.pk}/today/").content.decode()


def test_the_result_is_recorded_on_the_board_and_a_positive_one_raises_a_review(client_as, clinic, screened):
    response = client_as("nurse").post(f"/visits/{screened.pk}/screen/",
                                       {"result": "positive", "substances": "fentanyl, cocaine"})
    assert response.status_code == 302
    screened.refresh_from_db()
    assert (screened.drug_screen_result, screened.drug_screen_substances) == ("positive", ["fentanyl", "cocaine"])
    assert Escalation.objects.filter(patient=screened.patient, kind="screen_review").exists()
    html = client_as("nurse").get(f"/clinics/{clinic.pk}/today/").content.decode()
    assert "Positive: fentanyl, cocaine" in html
    assert f'action="/visits/{screened.pk}/screen/"' not in html  # recorded once


def test_a_refused_result_form_error_stays_on_the_row(client_as, clinic, screened):
    response = client_as("nurse").post(f"/visits/{screened.pk}/screen/", {"result": "positive", "substances": ""})
    assert response.status_code == 400
    assert "substances" in response.content.decode()
    assert Visit.objects.get(pk=screened.pk).drug_screen_result == ""


def test_the_front_desk_may_not_record_a_result(client_as, screened):
    assert client_as("front_desk").post(f"/visits/{screened.pk}/screen/", {"result": "negative"}).status_code == 403


def test_a_call_back_row_counts_the_bottles(client_as, clinic, plan, today_visit, morning):
    from tests.visits.conftest import make_visit

    Plan.objects.filter(pk=plan.pk).update(takehome_approved=True)
    window = clinic.windows.get(start=today_visit.window.start)
    make_visit(plan.patient, window=window, plan=plan, day=TODAY - timedelta(days=2), status="completed",
               take_home_doses=2, covered_through=TODAY + timedelta(days=1))
    callback = make_visit(plan.patient, window=window, day=TODAY, kind="callback", status="checked_in")
    html = client_as("front_desk").get(f"/clinics/{clinic.pk}/today/").content.decode()
    assert f'action="/visits/{callback.pk}/callback-bottles/"' in html
    assert "Record the bottles brought by Jordan Okafor" in html
    bad = client_as("front_desk").post(f"/visits/{callback.pk}/callback-bottles/", {"bottles_brought": "two"})
    assert bad.status_code == 400
    response = client_as("front_desk").post(f"/visits/{callback.pk}/callback-bottles/", {"bottles_brought": "1"})
    assert response.status_code == 302
    callback.refresh_from_db()
    assert (callback.callback_bottles_brought, callback.callback_bottles_handed_out) == (1, 2)
    assert Escalation.objects.filter(patient=plan.patient, kind="callback").exists()
    assert Plan.objects.get(pk=plan.pk).takehome_approved is False
    html = client_as("front_desk").get(f"/clinics/{clinic.pk}/today/").content.decode()
    assert "Bottles: 1 of 2 brought" in html
