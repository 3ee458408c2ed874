"""Setup refuses what would corrupt the calendar (issue #10): closures in the past (unless confirmed, and then
the answer lists the visits they affect), duplicate closures, overlapping windows for one service on a shared
weekday, and time zones that are not places (`localtime`, `posixrules`, `Factory`); the API and the setup
page share the service-layer checks."""

from __future__ import annotations

from datetime import date

import pytest
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.test import RequestFactory

from scheduler.models import Clinic, Closure, DosingWindow, validate_timezone
from tests.factories import ClosureFactory, PatientFactory, PlanFactory
from visits.models import Visit

YESTERDAY = "2026-11-15"


def closures(clinic):
    return f"/api/v1/clinics/{clinic.pk}/closures/"


def windows(clinic):
    return f"/api/v1/clinics/{clinic.pk}/windows/"


@pytest.fixture
def dosed_yesterday(clinic) -> Visit:
    plan = PlanFactory(patient=PatientFactory(clinic=clinic), start_date=date(2026, 11, 2))
    return Visit.objects.create(
        patient=plan.patient,
        clinic=clinic,
        plan=plan,
        kind="dose",
        date=date(2026, 11, 15),
        status="completed",
        source="plan",
    )


# --- closures in the past ------------------------------------------------------------------------------


def test_a_closure_in_the_past_is_refused_naming_date_and_how_to_confirm(api_as, clinic, dosed_yesterday):
    response = api_as("admin").post(closures(clinic), {"date": YESTERDAY, "reason": "Storm"}, format="json")

    # 409: a well-formed date that conflicts with what has already happened (API.md: conflicts are 409).
    assert response.status_code == 409
    assert response.json()["detail"].startswith("date: 2026-11-15 is in the past (today is 2026-11-16)")
    assert "confirm_past=true" in response.json()["detail"]
    assert not Closure.objects.exists()


def test_a_confirmed_past_closure_is_added_and_lists_the_visits_it_affects(api_as, clinic, dosed_yesterday):
    body = {"date": YESTERDAY, "reason": "Storm", "confirm_past": True}

    response = api_as("admin").post(closures(clinic), body, format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["affected_visits"] == [
        {"id": dosed_yesterday.pk, "patient": dosed_yesterday.patient_id, "kind": "dose", "status": "completed"}
    ]
    assert "confirm_past" not in response.json()
    assert Closure.objects.filter(clinic=clinic, date=date(2026, 11, 15)).exists()


def test_a_past_closure_of_other_services_lists_no_visits(api_as, clinic, dosed_yesterday):
    body = {"date": YESTERDAY, "services": ["counselling"], "confirm_past": True}

    response = api_as("admin").post(closures(clinic), body, format="json")

    assert response.status_code == 201
    assert response.json()["affected_visits"] == []


def test_a_closure_today_or_later_needs_no_confirmation(api_as, clinic):
    response = api_as("admin").post(closures(clinic), {"date": "2026-11-16", "reason": "Storm"}, format="json")

    assert response.status_code == 201
    assert response.json()["affected_visits"] == []


def test_the_setup_page_refuses_a_past_closure_and_keeps_the_form(client_as, clinic, dosed_yesterday):
    response = client_as("admin").post(f"/clinics/{clinic.pk}/setup/closures/", {"date": YESTERDAY})

    html = response.content.decode()
    assert response.status_code == 409
    assert "2026-11-15 is in the past" in html
    assert "The date is in the past: add it anyway" in html
    assert not Closure.objects.exists()


def test_the_setup_page_adds_a_confirmed_past_closure_and_names_the_affected_visits(client_as, clinic, dosed_yesterday):
    response = client_as("admin").post(
        f"/clinics/{clinic.pk}/setup/closures/", {"date": YESTERDAY, "confirm_past": "on"}, follow=True
    )

    assert response.status_code == 200
    assert f"1 visits on that date are affected: #{dosed_yesterday.pk} (dose, completed)." in response.content.decode()
    assert Closure.objects.filter(clinic=clinic, date=date(2026, 11, 15)).exists()


# --- duplicate closures --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "existing, new",
    [([], []), ([], ["methadone"]), (["methadone"], []), (["methadone", "buprenorphine"], ["buprenorphine"])],
)
def test_a_closure_overlapping_one_of_the_same_date_is_refused(api_as, clinic, existing, new):
    ClosureFactory(clinic=clinic, date=date(2026, 12, 25), services=existing)

    response = api_as("admin").post(closures(clinic), {"date": "2026-12-25", "services": new}, format="json")

    assert response.status_code == 409
    assert response.json()["detail"].startswith("date: there is already a closure on 2026-12-25")
    assert Closure.objects.filter(clinic=clinic).count() == 1


def test_closures_of_different_services_on_one_date_are_allowed(api_as, clinic):
    ClosureFactory(clinic=clinic, date=date(2026, 12, 25), services=["methadone", "buprenorphine"])

    response = api_as("admin").post(
        closures(clinic), {"date": "2026-12-25", "services": ["counselling"]}, format="json"
    )

    assert response.status_code == 201


def test_importing_holidays_skips_dates_already_closed_for_those_services(client_as, clinic):
    ClosureFactory(clinic=clinic, date=date(2027, 12, 25), services=[], reason="Whole clinic")

    client_as("admin").post(f"/clinics/{clinic.pk}/setup/holidays/", {"year": "2027"})

    assert list(Closure.objects.filter(clinic=clinic, date=date(2027, 12, 25)).values_list("reason", flat=True)) == [
        "Whole clinic"
    ]


def test_importing_holidays_of_a_year_far_from_today_is_refused(client_as, clinic):
    response = client_as("admin").post(f"/clinics/{clinic.pk}/setup/holidays/", {"year": "2100"})

    assert response.status_code == 400
    assert "a year from 2021 to 2029" in response.content.decode()
    assert not Closure.objects.exists()


# --- overlapping windows -------------------------------------------------------------------------------


def test_a_window_overlapping_another_for_one_service_on_a_shared_weekday_is_refused(api_as, clinic):
    # The clinic fixture doses methadone 07:00–10:00 Monday to Saturday.
    body = {"weekdays": [5, 6], "start": "09:30", "end": "11:00", "services": ["methadone"], "capacity": 5}

    response = api_as("admin").post(windows(clinic), body, format="json")

    assert response.status_code == 409
    assert response.json()["detail"] == (
        "start/end: this window overlaps the 07:00–10:00 window for methadone on Saturday; change its hours, days "
        "or services, or change that window's capacity instead."
    )
    assert not DosingWindow.objects.filter(clinic=clinic, start="09:30").exists()


@pytest.mark.parametrize(
    "body",
    [
        {"weekdays": [0], "start": "10:00", "end": "11:00", "services": ["methadone"]},  # touches, no overlap
        {"weekdays": [6], "start": "08:00", "end": "09:00", "services": ["methadone"]},  # Sunday: no shared weekday
        {"weekdays": [0], "start": "08:00", "end": "09:00", "services": ["counselling"]},  # another service
    ],
)
def test_windows_that_touch_or_share_no_weekday_or_service_are_allowed(api_as, clinic, body):
    response = api_as("admin").post(windows(clinic), {**body, "capacity": 5}, format="json")

    assert response.status_code == 201, response.json()


def test_moving_a_window_onto_another_is_refused(api_as, clinic):
    counselling = clinic.windows.get(start="11:00")

    response = api_as("admin").patch(
        f"{windows(clinic)}{counselling.pk}/", {"start": "09:00", "services": ["buprenorphine"]}, format="json"
    )

    assert response.status_code == 409
    assert "overlaps the 07:00–10:00 window for buprenorphine" in response.json()["detail"]
    counselling.refresh_from_db()
    assert str(counselling.start) == "11:00:00"


def test_the_setup_page_refuses_an_overlapping_window(client_as, clinic):
    response = client_as("admin").post(
        f"/clinics/{clinic.pk}/setup/windows/",
        {"weekdays": ["0"], "start": "08:00", "end": "09:00", "services": ["methadone"], "capacity": "3"},
    )

    assert response.status_code == 409
    assert "overlaps the 07:00–10:00 window for methadone on Monday" in response.content.decode()


# --- time zones ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("zone", ["localtime", "posixrules", "Factory", "America/Nowhere", "", "UTC/../../etc"])
def test_a_clinic_time_zone_that_is_not_a_place_is_refused(api_as, staff, zone):
    body = {"name": "North", "sms_name": "North Health", "timezone": zone}

    response = api_as("admin").post("/api/v1/clinics/", body, format="json")

    assert response.status_code == 400
    assert "timezone" in response.json()
    assert not Clinic.objects.filter(name="North").exists()


def test_changing_a_clinic_to_localtime_is_refused(api_as, clinic):
    response = api_as("admin").patch(f"/api/v1/clinics/{clinic.pk}/", {"timezone": "localtime"}, format="json")

    assert response.status_code == 400
    assert "not an IANA time zone" in response.json()["timezone"][0]
    clinic.refresh_from_db()
    assert clinic.timezone == "America/New_York"


@pytest.mark.parametrize("zone", ["America/New_York", "Europe/London", "UTC"])
def test_iana_zones_are_accepted(zone):
    validate_timezone(zone)


def test_the_admin_clinic_form_refuses_factory_with_the_same_check(clinic, staff):
    request = RequestFactory().get("/admin/")
    request.user = staff["admin"]
    request.user.is_superuser = True
    form_class = admin.site._registry[Clinic].get_form(request, clinic)
    data = {"name": clinic.name, "timezone": "Factory", "sms_name": clinic.sms_name, "country": "US"}

    form = form_class(data=data, instance=clinic)

    assert not form.is_valid()
    assert "not an IANA time zone" in form.errors["timezone"][0]
    with pytest.raises(ValidationError):
        validate_timezone("Factory")
