"""Pauses (guest dosing, hospital, custody): no visits inside; guest dosing needs notice."""

from __future__ import annotations

from datetime import date

import pytest

from scheduler.models import Pause
from tests.factories import PatientFactory, PlanFactory
from visits.generation import plan_visits_regenerate
from visits.models import Visit

HOSPITAL = {"start": "2026-11-09", "end": "2026-11-12", "reason": "hospital", "note": ""}


@pytest.fixture
def plan(clinic):
    p = PlanFactory(patient=PatientFactory(clinic=clinic), start_date=date(2026, 11, 2))
    plan_visits_regenerate(plan=p)
    return p


def url(plan):
    return f"/api/v1/plans/{plan.pk}/pauses/"


def test_anonymous_gets_401(anon, plan):
    assert anon.get(url(plan)).status_code == 401


def test_another_clinics_user_gets_404(other_api, plan):
    assert other_api.get(url(plan)).status_code == 404
    assert other_api.post(url(plan), HOSPITAL, format="json").status_code == 404


def test_a_manager_may_not_declare_a_pause(api_as, plan):
    response = api_as("manager").post(url(plan), HOSPITAL, format="json")

    assert response.status_code == 403
    assert api_as("manager").get(url(plan)).status_code == 200


def test_a_pause_removes_the_visits_inside_it(api_as, plan):
    response = api_as("front_desk").post(url(plan), HOSPITAL, format="json")

    assert response.status_code == 201, response.json()
    inside = Visit.objects.filter(plan=plan, date__range=(date(2026, 11, 9), date(2026, 11, 12)))
    assert not inside.exists()
    assert Visit.objects.filter(plan=plan, date=date(2026, 11, 13)).exists()
    assert api_as("nurse").get(url(plan)).json()["results"][0]["reason"] == "hospital"


def test_the_front_desk_needs_notice_for_guest_dosing(api_as, plan):
    body = {**HOSPITAL, "reason": "guest_dosing", "start": "2026-11-02"}

    response = api_as("front_desk").post(url(plan), body, format="json")

    assert response.status_code == 400
    assert "at least 24 hours' notice" in response.json()["start"][0]
    assert not Pause.objects.exists()


def test_the_front_desk_approves_guest_dosing_24_hours_ahead(api_as, plan, staff):
    # API.md v1.1: at least the rule set's guest_dosing_notice_hours (24) after now; tomorrow is sooner here.
    assert api_as("front_desk").post(url(plan), {**HOSPITAL, "reason": "guest_dosing", "start": "2026-11-03"},
                                     format="json").status_code == 400
    body = {**HOSPITAL, "reason": "guest_dosing", "start": "2026-11-04", "end": "2026-11-06"}

    response = api_as("front_desk").post(url(plan), body, format="json")

    assert response.status_code == 201, response.json()
    assert Pause.objects.get().approved_by == staff["front_desk"]


def test_a_clinician_may_approve_guest_dosing_at_short_notice(api_as, plan):
    body = {**HOSPITAL, "reason": "guest_dosing", "start": "2026-11-02"}

    assert api_as("clinician").post(url(plan), body, format="json").status_code == 201


@pytest.mark.parametrize(
    ("change", "field"),
    [({"end": "2026-11-01"}, "end"), ({"reason": "holiday"}, "reason"), ({"start": "soon"}, "start")],
)
def test_it_names_the_field_of_a_bad_pause(api_as, plan, change, field):
    response = api_as("nurse").post(url(plan), {**HOSPITAL, **change}, format="json")

    assert response.status_code == 400
    assert field in response.json()
