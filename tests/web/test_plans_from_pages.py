"""Starting, changing and ending a plan from the patient page, with the engine's four-week preview (issue #13)."""

from __future__ import annotations

from datetime import date

import pytest

from scheduler.models import Plan
from visits.models import Visit

pytestmark = pytest.mark.django_db

START = {
    "medication": "methadone",
    "start_date": "2026-11-18",
    "attendance_weekdays": ["0", "2", "4"],
    "attendance_every_weeks": "1",
}


def _start(client, patient, **changes):
    return client.post(f"/patients/{patient.pk}/plans/new/", {**START, **changes})


def test_a_clinician_sees_start_a_plan_with_the_patients_name(client_as, patient, morning):
    html = client_as("clinician").get(f"/patients/{patient.pk}/").content.decode()
    assert f'href="/patients/{patient.pk}/plans/new/">Start a plan for Jordan Okafor<' in html


@pytest.mark.parametrize("role", ["front_desk", "nurse", "manager"])
def test_other_roles_see_no_start_link_and_may_not_start_a_plan(client_as, patient, morning, role):
    client = client_as(role)
    assert "Start a plan" not in client.get(f"/patients/{patient.pk}/").content.decode()
    assert client.get(f"/patients/{patient.pk}/plans/new/").status_code == 403
    assert _start(client, patient).status_code == 403
    assert not Plan.objects.filter(patient=patient).exists()


def test_the_form_names_the_patient_and_medications_in_clinic_words(client_as, patient, morning):
    html = client_as("clinician").get(f"/patients/{patient.pk}/plans/new/").content.decode()
    assert "Start a plan for Okafor, Jordan" in html
    assert ">Buprenorphine XR weekly</option>" in html
    assert ">buprenorphine_xr_weekly<" not in html
    assert 'value="2026-11-16"' in html  # today, in the clinic's zone


def test_the_preview_shows_four_weeks_from_the_engine_and_saves_nothing(client_as, patient, morning):
    response = _start(client_as("clinician"), patient, preview="1")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Preview: the next four weeks (not saved yet)" in html
    body = html.split('id="plan-preview"')[1]
    assert body.count("<tr class=\"preview-") == 28
    assert "Wed 2026-11-18</td><td>Visit" in body
    assert "Thu 2026-11-19</td><td>Take-home" in body
    assert "Tue 2026-12-15</td>" in body
    assert "Wed 2026-12-16</td>" not in body
    assert not Plan.objects.filter(patient=patient).exists()
    # What was typed stays in the form for the save.
    assert 'name="attendance_weekdays" value="2" checked' in html
    assert 'name="attendance_weekdays" value="1" checked' not in html


def test_saving_starts_the_plan_and_its_visits(client_as, patient, morning):
    client = client_as("clinician")
    response = _start(client, patient)
    plan = Plan.objects.get(patient=patient)
    assert response.status_code == 302 and response["Location"] == f"/patients/{patient.pk}/"
    assert (plan.medication, plan.start_date) == ("methadone", date(2026, 11, 18))
    assert plan.treatment_start == date(2026, 11, 18)
    assert plan.attendance_weekdays == [0, 2, 4]
    assert Visit.objects.filter(plan=plan, date=date(2026, 11, 18)).exists()
    assert not Visit.objects.filter(plan=plan, date=date(2026, 11, 19)).exists()
    page = client.get(f"/patients/{patient.pk}/").content.decode()
    assert "Methadone plan started for Jordan Okafor (MRN MRN-4711)." in page


def test_a_second_active_plan_for_the_medication_is_refused_beside_the_form_with_the_values_kept(
    client_as, plan, morning
):
    response = _start(client_as("clinician"), plan.patient, start_date="2026-11-20")
    html = response.content.decode()
    assert response.status_code == 400
    assert "one active plan per medication" in html.split('id="id_medication-error"')[1]
    assert 'value="2026-11-20"' in html
    assert Plan.objects.filter(patient=plan.patient).count() == 1


def test_an_injection_interval_under_the_minimum_is_refused_at_its_field(client_as, patient, morning):
    response = _start(
        client_as("clinician"), patient, medication="buprenorphine_xr_monthly", interval_days="20",
        attendance_weekdays=[],
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert "is too short" in html.split('id="id_interval_days-error"')[1]
    assert 'value="20"' in html
    assert not Plan.objects.filter(patient=patient).exists()


def test_a_plan_the_windows_cannot_hold_is_refused_with_the_reason(client_as, patient, morning):
    # Methadone on Sundays only: no window offers methadone on Sundays.
    response = _start(client_as("clinician"), patient, attendance_weekdays=["6"], preview="1")
    html = response.content.decode()
    assert response.status_code == 400
    assert "cannot be scheduled" in html.split('id="plan-error"')[1]
    assert 'value="6" checked' in html


def test_bad_input_is_a_400_at_its_field_never_a_500(client_as, patient, morning):
    response = _start(client_as("clinician"), patient, start_date="not a date", doses_per_day="٣")
    html = response.content.decode()
    assert response.status_code == 400
    assert 'id="id_start_date-error"' in html and 'id="id_doses_per_day-error"' in html


def test_changing_a_plan_previews_then_saves_the_new_days(client_as, plan, morning):
    client = client_as("clinician")
    form = client.get(f"/plans/{plan.pk}/change/").content.decode()
    assert "Change the Methadone plan for Okafor, Jordan" in form
    assert 'value="6" checked' in form
    values = {"start_date": "2026-11-10", "attendance_weekdays": ["0", "1", "2", "3", "4", "5"]}
    preview = client.post(f"/plans/{plan.pk}/change/", {**values, "preview": "1"}).content.decode()
    assert "Preview: the next four weeks" in preview
    assert "Mon 2026-11-16</td><td>Visit" in preview
    plan.refresh_from_db()
    assert plan.attendance_weekdays == [0, 1, 2, 3, 4, 5, 6]
    response = client.post(f"/plans/{plan.pk}/change/", values)
    plan.refresh_from_db()
    assert response.status_code == 302
    assert plan.attendance_weekdays == [0, 1, 2, 3, 4, 5]


def test_a_nurse_may_not_change_or_end_a_plan(client_as, plan, morning):
    client = client_as("nurse")
    assert client.get(f"/plans/{plan.pk}/change/").status_code == 403
    assert client.post(f"/plans/{plan.pk}/end/", {"end_date": "2026-11-20"}).status_code == 403
    plan.refresh_from_db()
    assert plan.status == "active"


def test_ending_a_plan_sets_its_last_day_and_removes_later_visits(client_as, plan, morning):
    client = client_as("clinician")
    from visits.generation import visits_generate

    visits_generate(plans=[plan], today=date(2026, 11, 16), horizon_days=14)
    assert Visit.objects.filter(plan=plan, date=date(2026, 11, 25)).exists()
    response = client.post(f"/plans/{plan.pk}/end/", {"end_date": "2026-11-20"})
    plan.refresh_from_db()
    assert response.status_code == 302
    assert (plan.status, plan.end_date) == ("ended", date(2026, 11, 20))
    assert not Visit.objects.filter(plan=plan, date=date(2026, 11, 25), status="scheduled").exists()
    page = client.get(f"/patients/{plan.patient_id}/").content.decode()
    assert "plan for Jordan Okafor (MRN MRN-4711) ends on 2026-11-20." in page
    assert f"/plans/{plan.pk}/change/" not in page


def test_an_end_before_the_start_is_refused_beside_the_form_with_the_date_kept(client_as, plan, morning):
    response = client_as("clinician").post(f"/plans/{plan.pk}/end/", {"end_date": "2026-11-01"})
    html = response.content.decode()
    assert response.status_code == 400
    assert "before it starts" in html.split(f'id="end-err-{plan.pk}"')[1]
    assert f'id="end-date-{plan.pk}" name="end_date" type="date" required value="2026-11-01"' in html
    plan.refresh_from_db()
    assert plan.status == "active"


def test_the_plan_pages_take_a_bounded_number_of_queries(client_as, plan, morning, django_assert_max_num_queries):
    client = client_as("clinician")
    with django_assert_max_num_queries(30):
        client.post(f"/plans/{plan.pk}/change/", {"start_date": "2026-11-10", "preview": "1"})
