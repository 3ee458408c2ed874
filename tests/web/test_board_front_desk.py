"""The board at the front desk: identity beside the name, check-in by MRN scan, undo, late arrivals, excuses."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from auditlog.models import LogEntry
from django.db import connection
from django.test.utils import CaptureQueriesContext

from scheduler.models import Plan
from tests.factories import PatientFactory, PlanFactory
from tests.web.conftest import TODAY
from visits.generation import visits_generate
from visits.models import Visit

pytestmark = pytest.mark.django_db


def _covered_until_tuesday(plan: Plan) -> None:
    """Sunday's two take-homes cover Monday (today) and Tuesday: the guard refuses a check-in today."""
    sunday = TODAY - timedelta(days=1)
    Visit.objects.create(
        patient=plan.patient,
        clinic=plan.patient.clinic,
        plan=plan,
        kind="dose",
        date=sunday,
        status="completed",
        source="manual",
        take_home_doses=2,
        covered_through=sunday + timedelta(days=2),
        completed_at=datetime.combine(sunday, time(13, 0), tzinfo=UTC),
    )


def _board(client, clinic, query: str = "") -> str:
    return client.get(f"/clinics/{clinic.pk}/today/{query}").content.decode()


# The row: name, identity check and actions together


def test_each_row_shows_the_date_of_birth_and_mrn_beside_the_name(client_as, clinic, today_visit):
    html = _board(client_as("front_desk"), clinic)
    cell = html.split('class="who"')[1].split("</td>")[0]
    assert "Okafor, Jordan" in cell
    assert "Born 9 March 1980" in cell
    assert "MRN MRN-4711" in cell


def test_a_patient_without_a_date_of_birth_says_it_is_not_recorded(client_as, clinic, morning):
    plan = PlanFactory(patient=PatientFactory(clinic=clinic, date_of_birth=None), start_date=date(2026, 11, 10))
    visits_generate(plans=[plan], today=TODAY, horizon_days=1)
    assert "Born not recorded" in _board(client_as("nurse"), clinic)


# Check-in by MRN


def test_scanning_an_mrn_checks_in_that_patients_visit_and_names_the_patient(client_as, clinic, today_visit):
    client = client_as("front_desk")
    response = client.post(f"/clinics/{clinic.pk}/today/scan/", {"mrn": "MRN-4711"})
    assert response.status_code == 302
    assert response["Location"] == f"/clinics/{clinic.pk}/today/?scan=1"
    today_visit.refresh_from_db()
    assert today_visit.status == "checked_in"
    html = client.get(response["Location"]).content.decode()
    assert "Checked in: Jordan Okafor (MRN MRN-4711, dose)." in html
    field = html.split('id="scan-mrn"')[1].split(">")[0]
    assert "autofocus" in field
    assert 'value=""' in field


def test_the_scan_field_is_not_focused_on_a_plain_visit_to_the_board(client_as, clinic, today_visit):
    field = _board(client_as("front_desk"), clinic).split('id="scan-mrn"')[1].split(">")[0]
    assert "autofocus" not in field


def test_the_scan_ignores_spaces_a_scanner_adds_around_the_number(client_as, clinic, today_visit):
    client_as("front_desk").post(f"/clinics/{clinic.pk}/today/scan/", {"mrn": "  MRN-4711\t"})
    today_visit.refresh_from_db()
    assert today_visit.status == "checked_in"


def test_an_unknown_mrn_is_refused_with_the_number_kept_and_focused(client_as, clinic, today_visit):
    response = client_as("front_desk").post(f"/clinics/{clinic.pk}/today/scan/", {"mrn": "MRN-471"})
    html = response.content.decode()
    assert response.status_code == 404
    assert "No patient with MRN MRN-471 at Riverside Clinic." in html
    field = html.split('id="scan-mrn"')[1].split(">")[0]
    assert 'value="MRN-471"' in field
    assert 'aria-invalid="true"' in field
    assert "autofocus" in field
    today_visit.refresh_from_db()
    assert today_visit.status == "scheduled"


def test_the_mrn_must_match_exactly_not_by_prefix_or_case(client_as, clinic, today_visit):
    client = client_as("front_desk")
    assert client.post(f"/clinics/{clinic.pk}/today/scan/", {"mrn": "mrn-4711"}).status_code == 404
    assert client.post(f"/clinics/{clinic.pk}/today/scan/", {"mrn": "MRN-47"}).status_code == 404


def test_another_clinics_mrn_is_not_found_here(client_as, clinic, today_visit, other_patient):
    response = client_as("front_desk").post(f"/clinics/{clinic.pk}/today/scan/", {"mrn": "OTHER-1"})
    assert response.status_code == 404
    assert "Casey" not in response.content.decode()


def test_an_empty_scan_asks_for_an_mrn(client_as, clinic, today_visit):
    response = client_as("front_desk").post(f"/clinics/{clinic.pk}/today/scan/", {"mrn": "   "})
    assert response.status_code == 400
    assert "Type or scan an MRN." in response.content.decode()


def test_scanning_a_patient_already_checked_in_says_so_by_name(client_as, clinic, today_visit):
    client = client_as("front_desk")
    client.post(f"/clinics/{clinic.pk}/today/scan/", {"mrn": "MRN-4711"})
    response = client.post(f"/clinics/{clinic.pk}/today/scan/", {"mrn": "MRN-4711"})
    assert response.status_code == 409
    assert "Jordan Okafor (MRN MRN-4711) is already checked in." in response.content.decode()


def test_scanning_a_patient_with_no_visit_today_says_so(client_as, clinic, patient, morning):
    response = client_as("front_desk").post(f"/clinics/{clinic.pk}/today/scan/", {"mrn": "MRN-4711"})
    assert response.status_code == 409
    assert "Jordan Okafor (MRN MRN-4711) has no visit today." in response.content.decode()


def test_a_scan_the_guard_refuses_gives_its_reason_and_checks_nothing_in(client_as, clinic, plan, today_visit):
    _covered_until_tuesday(plan)
    response = client_as("front_desk").post(f"/clinics/{clinic.pk}/today/scan/", {"mrn": "MRN-4711"})
    html = response.content.decode()
    assert response.status_code == 409
    assert "Jordan Okafor (MRN MRN-4711) was not checked in:" in html
    assert "covered by take-homes until Tue 17 Nov" in html
    today_visit.refresh_from_db()
    assert today_visit.status == "scheduled"


def test_managers_have_no_scan_field_and_may_not_scan(client_as, clinic, today_visit):
    client = client_as("manager")
    assert 'id="scan-mrn"' not in _board(client, clinic)
    assert client.post(f"/clinics/{clinic.pk}/today/scan/", {"mrn": "MRN-4711"}).status_code == 403


def test_another_clinics_board_cannot_be_scanned_into(client_as, other_clinic, other_patient):
    response = client_as("front_desk").post(f"/clinics/{other_clinic.pk}/today/scan/", {"mrn": "OTHER-1"})
    assert response.status_code == 404


# Undo a check-in


def test_a_checked_in_row_offers_undo_labelled_with_the_patients_name(client_as, clinic, today_visit):
    client = client_as("front_desk")
    client.post(f"/visits/{today_visit.pk}/check-in/")
    html = _board(client, clinic)
    assert f'action="/visits/{today_visit.pk}/undo-check-in/"' in html
    assert 'aria-label="Undo check-in for Jordan Okafor"' in html


def test_undo_puts_the_visit_back_to_expected_and_is_audited(client_as, clinic, today_visit, staff):
    client = client_as("nurse")
    client.post(f"/visits/{today_visit.pk}/check-in/", {"bottles_returned": "no"})
    response = client.post(f"/visits/{today_visit.pk}/undo-check-in/", follow=True)
    today_visit.refresh_from_db()
    assert (today_visit.status, today_visit.checked_in_at, today_visit.bottles_returned) == ("scheduled", None, None)
    assert "Check-in undone: Jordan Okafor is expected again." in response.content.decode()
    undo = LogEntry.objects.get_for_object(today_visit).order_by("-timestamp", "-id").first()
    assert undo.actor == staff["nurse"]
    assert undo.changes_dict["status"] == ["checked_in", "scheduled"]


def test_undo_on_a_visit_not_checked_in_is_refused_on_the_row(client_as, clinic, today_visit):
    response = client_as("front_desk").post(f"/visits/{today_visit.pk}/undo-check-in/")
    assert response.status_code == 409
    assert f'id="err-{today_visit.pk}"' in response.content.decode()


def test_managers_may_not_undo_a_check_in(client_as, today_visit):
    client_as("front_desk").post(f"/visits/{today_visit.pk}/check-in/")
    assert client_as("manager").post(f"/visits/{today_visit.pk}/undo-check-in/").status_code == 403
    today_visit.refresh_from_db()
    assert today_visit.status == "checked_in"


def test_another_clinics_visit_cannot_be_undone(client_as, other_clinic, other_patient, morning):
    plan = PlanFactory(patient=other_patient, start_date=date(2026, 11, 10))
    visits_generate(plans=[plan], today=TODAY, horizon_days=1)
    visit = Visit.objects.get(plan=plan, date=TODAY)
    Visit.objects.filter(pk=visit.pk).update(status="checked_in")
    assert client_as("front_desk").post(f"/visits/{visit.pk}/undo-check-in/").status_code == 404


# A late arrival


def test_todays_missed_row_offers_re_open_labelled_with_the_patients_name(client_as, clinic, today_visit):
    Visit.objects.filter(pk=today_visit.pk).update(status="missed")
    html = _board(client_as("front_desk"), clinic)
    assert f'action="/visits/{today_visit.pk}/reopen/"' in html
    assert 'aria-label="Re-open (late arrival) for Jordan Okafor"' in html


def test_re_opening_a_late_arrival_checks_the_patient_in(client_as, clinic, today_visit):
    Visit.objects.filter(pk=today_visit.pk).update(status="missed")
    response = client_as("front_desk").post(f"/visits/{today_visit.pk}/reopen/", follow=True)
    today_visit.refresh_from_db()
    assert today_visit.status == "checked_in"
    assert "Late arrival: Jordan Okafor is checked in again." in response.content.decode()


def test_a_late_arrival_the_guard_refuses_shows_the_reason_on_the_row(client_as, clinic, plan, today_visit):
    Visit.objects.filter(pk=today_visit.pk).update(status="missed")
    _covered_until_tuesday(plan)
    response = client_as("front_desk").post(f"/visits/{today_visit.pk}/reopen/")
    assert response.status_code == 409
    assert "covered by take-homes until Tue 17 Nov" in response.content.decode().split(f'id="err-{today_visit.pk}"')[1]
    today_visit.refresh_from_db()
    assert today_visit.status == "missed"


def test_re_open_is_refused_for_a_visit_that_was_not_missed(client_as, today_visit):
    assert client_as("front_desk").post(f"/visits/{today_visit.pk}/reopen/").status_code == 409


def test_managers_may_not_re_open_a_missed_visit(client_as, today_visit):
    Visit.objects.filter(pk=today_visit.pk).update(status="missed")
    assert client_as("manager").post(f"/visits/{today_visit.pk}/reopen/").status_code == 403


# Excuse with a reason


def test_each_open_row_has_an_excuse_form_labelled_with_the_patients_name(client_as, clinic, today_visit):
    html = _board(client_as("front_desk"), clinic)
    assert f'action="/visits/{today_visit.pk}/excuse/"' in html
    assert 'aria-label="Excuse the visit for Jordan Okafor"' in html


def test_excusing_a_visit_records_the_reason(client_as, clinic, today_visit):
    response = client_as("front_desk").post(f"/visits/{today_visit.pk}/excuse/", {"reason": "In hospital"}, follow=True)
    today_visit.refresh_from_db()
    assert (today_visit.status, today_visit.status_reason) == ("excused", "In hospital")
    assert "Excused: Jordan Okafor (reason: In hospital)." in response.content.decode()


def test_a_missed_visit_can_be_excused(client_as, today_visit):
    Visit.objects.filter(pk=today_visit.pk).update(status="missed")
    client_as("clinician").post(f"/visits/{today_visit.pk}/excuse/", {"reason": "Court date"})
    today_visit.refresh_from_db()
    assert today_visit.status == "excused"


def test_an_excuse_without_a_reason_is_refused_on_the_row_with_the_form_open(client_as, clinic, today_visit):
    response = client_as("front_desk").post(f"/visits/{today_visit.pk}/excuse/", {"reason": "  "})
    html = response.content.decode()
    assert response.status_code == 400
    assert "Give a reason to excuse this visit" in html
    assert '<details class="excuse" open>' in html
    today_visit.refresh_from_db()
    assert today_visit.status == "scheduled"


def test_a_reason_too_long_is_refused_and_kept(client_as, clinic, today_visit):
    reason = "x" * 301
    response = client_as("front_desk").post(f"/visits/{today_visit.pk}/excuse/", {"reason": reason})
    html = response.content.decode()
    assert response.status_code == 400
    assert "keep it to 300 or fewer" in html
    assert f'value="{reason}"' in html


def test_managers_may_not_excuse_a_visit(client_as, today_visit):
    assert client_as("manager").post(f"/visits/{today_visit.pk}/excuse/", {"reason": "x"}).status_code == 403


def _rows(clinic, n: int) -> None:
    for i in range(n):
        plan = PlanFactory(patient=PatientFactory(clinic=clinic), start_date=date(2026, 11, 1))
        visits_generate(plans=[plan], today=TODAY, horizon_days=1)
        status = ("scheduled", "checked_in", "missed", "excused")[i % 4]
        Visit.objects.filter(plan=plan, date=TODAY).update(status=status)


def test_the_board_query_count_is_the_same_for_four_rows_or_sixteen(client_as, clinic, morning):
    client = client_as("nurse")
    _rows(clinic, 4)
    with CaptureQueriesContext(connection) as few:
        client.get(f"/clinics/{clinic.pk}/today/")
    _rows(clinic, 12)
    with CaptureQueriesContext(connection) as many:
        html = client.get(f"/clinics/{clinic.pk}/today/").content.decode()
    assert len(many.captured_queries) == len(few.captured_queries)
    assert html.count("Undo check-in for") == 4
    assert html.count("Re-open (late arrival) for") == 4
