"""Closures: admins close a clinic or some services; diamorphine patients are never left uncovered."""

from __future__ import annotations

from datetime import date

import pytest

from scheduler.models import Closure
from tests.factories import ClosureFactory, PatientFactory, PlanFactory
from tests.scheduler.api.conftest import FORBIDDEN_FOR_ADMIN_ONLY
from visits.generation import plan_visits_regenerate
from visits.models import Visit

XMAS = {"date": "2026-11-26", "reason": "Thanksgiving", "services": []}


def url(clinic, closure=None):
    base = f"/api/v1/clinics/{clinic.pk}/closures/"
    return f"{base}{closure.pk}/" if closure else base


def diamorphine_patients(clinic, n):
    return [
        PlanFactory(
            patient=PatientFactory(clinic=clinic), medication="diamorphine", doses_per_day=2, min_interval_minutes=180
        )
        for _ in range(n)
    ]


def test_anonymous_gets_401(anon, clinic):
    assert anon.get(url(clinic)).status_code == 401


def test_another_clinics_user_gets_404(other_api, clinic):
    closure = ClosureFactory(clinic=clinic)
    assert other_api.get(url(clinic)).status_code == 404
    assert other_api.post(url(clinic), XMAS, format="json").status_code == 404
    assert other_api.delete(url(clinic, closure)).status_code == 404


@pytest.mark.parametrize("role", FORBIDDEN_FOR_ADMIN_ONLY)
def test_only_admins_add_or_remove_closures(api_as, clinic, role):
    closure = ClosureFactory(clinic=clinic)
    assert api_as(role).post(url(clinic), XMAS, format="json").status_code == 403
    assert api_as(role).delete(url(clinic, closure)).status_code == 403
    assert api_as(role).get(url(clinic)).status_code == 200


def test_an_admin_closes_the_clinic_and_oral_visits_that_day_go(api_as, clinic):
    plan = PlanFactory(patient=PatientFactory(clinic=clinic), medication="methadone")
    plan_visits_regenerate(plan=plan)
    assert Visit.objects.filter(plan=plan, date=date(2026, 11, 26)).exists()

    response = api_as("admin").post(url(clinic), XMAS, format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["services"] == []
    assert not Visit.objects.filter(plan=plan, date=date(2026, 11, 26)).exists()


def test_it_refuses_a_closure_that_leaves_diamorphine_patients_without_a_session(api_as, clinic):
    diamorphine_patients(clinic, 3)

    response = api_as("admin").post(url(clinic), XMAS, format="json")

    assert response.status_code == 400
    assert response.json()["detail"] == (
        "This closure would leave 3 diamorphine patients without a session on 2026-11-26; "
        "limit it to other services or open a diamorphine window."
    )
    assert not Closure.objects.exists()


def test_a_closure_of_oral_services_only_keeps_diamorphine_sessions(api_as, clinic):
    diamorphine_patients(clinic, 2)

    response = api_as("admin").post(url(clinic), {**XMAS, "services": ["methadone", "buprenorphine"]}, format="json")

    assert response.status_code == 201, response.json()


def test_it_names_an_unknown_service(api_as, clinic):
    response = api_as("admin").post(url(clinic), {**XMAS, "services": ["bingo"]}, format="json")

    assert response.status_code == 400
    assert "services" in response.json()


def test_it_names_a_bad_date(api_as, clinic):
    response = api_as("admin").post(url(clinic), {**XMAS, "date": "26/11/2026"}, format="json")

    assert response.status_code == 400
    assert "date" in response.json()


def test_removing_a_closure_brings_the_visits_back(api_as, clinic):
    closure = ClosureFactory(clinic=clinic, date=date(2026, 11, 26))
    plan = PlanFactory(patient=PatientFactory(clinic=clinic), medication="methadone")
    plan_visits_regenerate(plan=plan)
    assert not Visit.objects.filter(plan=plan, date=date(2026, 11, 26)).exists()

    response = api_as("admin").delete(url(clinic, closure))

    assert response.status_code == 204
    assert Visit.objects.filter(plan=plan, date=date(2026, 11, 26)).exists()
