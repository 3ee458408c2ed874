"""Dosing windows: admins shape a clinic's week; a change may not strand diamorphine patients."""

from __future__ import annotations

from datetime import date

import pytest

from scheduler.models import DosingWindow
from tests.factories import PatientFactory, PlanFactory
from tests.scheduler.api.conftest import FORBIDDEN_FOR_ADMIN_ONLY
from visits.models import Visit

NEW = {"weekdays": [5, 6], "start": "13:00", "end": "15:00", "services": ["methadone"], "capacity": 20}


def url(clinic, window=None):
    base = f"/api/v1/clinics/{clinic.pk}/windows/"
    return f"{base}{window.pk}/" if window else base


def test_anonymous_gets_401(anon, clinic):
    assert anon.get(url(clinic)).status_code == 401


def test_another_clinics_user_gets_404(other_api, clinic):
    window = clinic.windows.first()
    assert other_api.get(url(clinic)).status_code == 404
    assert other_api.post(url(clinic), NEW, format="json").status_code == 404
    assert other_api.patch(url(clinic, window), {"capacity": 1}, format="json").status_code == 404
    assert other_api.delete(url(clinic, window)).status_code == 404


@pytest.mark.parametrize("role", FORBIDDEN_FOR_ADMIN_ONLY)
def test_only_admins_change_windows(api_as, clinic, role):
    window = clinic.windows.first()
    client = api_as(role)
    assert client.post(url(clinic), NEW, format="json").status_code == 403
    assert client.patch(url(clinic, window), {"capacity": 1}, format="json").status_code == 403
    assert client.delete(url(clinic, window)).status_code == 403


def test_every_role_reads_windows_as_hh_mm(api_as, clinic):
    response = api_as("manager").get(url(clinic))

    assert response.status_code == 200
    first = response.json()["results"][0]
    assert first["start"] == "07:00"
    assert first["end"] == "10:00"
    assert first["weekdays"] == [0, 1, 2, 3, 4, 5]


def test_an_admin_adds_a_window(api_as, clinic):
    response = api_as("admin").post(url(clinic), NEW, format="json")

    assert response.status_code == 201, response.json()
    assert DosingWindow.objects.get(pk=response.json()["id"]).capacity == 20


def test_capacity_is_computed_from_stations_and_minutes_per_visit(api_as, clinic):
    body = {**NEW, "capacity": None, "stations": 3, "minutes_per_visit": 10}

    response = api_as("admin").post(url(clinic), body, format="json")

    # 3 stations × 120 minutes ÷ 10 minutes per visit
    assert response.status_code == 201, response.json()
    assert response.json()["capacity"] == 36


def test_it_asks_for_capacity_when_it_cannot_compute_it(api_as, clinic):
    body = {k: v for k, v in NEW.items() if k != "capacity"}

    response = api_as("admin").post(url(clinic), body, format="json")

    assert response.status_code == 400
    assert "capacity" in response.json()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"start": "10:00", "end": "09:00"}, "end"),
        ({"weekdays": [7]}, "weekdays"),
        ({"weekdays": [1, 1]}, "weekdays"),
        ({"weekdays": []}, "weekdays"),
        ({"services": ["yoga"]}, "services"),
        ({"start": "7am"}, "start"),
    ],
)
def test_it_names_the_field_of_a_bad_window(api_as, clinic, change, field):
    response = api_as("admin").post(url(clinic), {**NEW, **change}, format="json")

    assert response.status_code == 400
    assert field in response.json()


def test_changing_a_window_regenerates_the_clinics_visits(api_as, clinic):
    plan = PlanFactory(patient=PatientFactory(clinic=clinic), start_date=date(2026, 11, 2))
    from visits.generation import plan_visits_regenerate

    plan_visits_regenerate(plan=plan)
    oral = clinic.windows.get(services=["methadone", "buprenorphine"])

    response = api_as("admin").patch(url(clinic, oral), {"start": "06:00"}, format="json")

    assert response.status_code == 200, response.json()
    visit = Visit.objects.filter(plan=plan, date=date(2026, 11, 3)).get()
    assert visit.start.isoformat() == "2026-11-03T11:00:00+00:00"  # 06:00 in New York (EST)


def test_it_refuses_to_delete_the_last_afternoon_diamorphine_window_of_a_twice_daily_plan(api_as, clinic):
    PlanFactory(
        patient=PatientFactory(clinic=clinic), medication="diamorphine", doses_per_day=2, min_interval_minutes=180
    )
    afternoon = clinic.windows.get(services=["diamorphine"], start="14:00")

    response = api_as("admin").delete(url(clinic, afternoon))

    assert response.status_code == 400
    assert "1 diamorphine patient" in response.json()["detail"]
    assert DosingWindow.objects.filter(pk=afternoon.pk).exists()


def test_it_deletes_a_window_no_plan_needs(api_as, clinic):
    window = clinic.windows.get(start="11:00")

    response = api_as("admin").delete(url(clinic, window))

    assert response.status_code == 204
    assert not DosingWindow.objects.filter(pk=window.pk).exists()


def test_it_refuses_to_take_diamorphine_off_a_window_a_plan_needs(api_as, clinic):
    PlanFactory(patient=PatientFactory(clinic=clinic), medication="diamorphine", doses_per_day=2,
                min_interval_minutes=180)
    morning = clinic.windows.get(services=["diamorphine"], start="08:00")

    response = api_as("admin").patch(url(clinic, morning), {"services": ["methadone"]}, format="json")

    assert response.status_code == 400
    assert "diamorphine" in response.json()["detail"]
    morning.refresh_from_db()
    assert morning.services == ["diamorphine"]
