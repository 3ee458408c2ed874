"""GET /api/v1/escalations/ and POST /api/v1/escalations/{id}/resolve/ (API.md "Escalations")."""

from __future__ import annotations

from datetime import date

import pytest
from django.utils import timezone

from tests.factories import PatientFactory, PlanFactory
from visits.models import Escalation

LIST = "/api/v1/escalations/"


def resolve_url(escalation: Escalation) -> str:
    return f"/api/v1/escalations/{escalation.pk}/resolve/"


def make_escalation(clinic, kind: str = "hold", anchor: date = date(2026, 11, 2), **fields) -> Escalation:
    plan = PlanFactory(patient=PatientFactory(clinic=clinic))
    return Escalation.objects.create(
        patient=plan.patient,
        plan=plan,
        clinic=clinic,
        kind=kind,
        anchor_date=anchor,
        consecutive_missed=3,
        reason="3 consecutive days without medication (hold at 3: ...)",
        **fields,
    )


@pytest.fixture
def hold(clinic) -> Escalation:
    return make_escalation(clinic)


def test_every_role_lists_the_escalations_of_its_clinics(api_as, hold, other_clinic):
    make_escalation(other_clinic)
    for role in ("front_desk", "nurse", "clinician", "manager", "admin"):
        response = api_as(role).get(LIST)
        assert response.status_code == 200
        assert [row["id"] for row in response.json()["results"]] == [hold.pk]
    row = response.json()["results"][0]
    for name in (
        "id",
        "patient",
        "plan",
        "kind",
        "reason",
        "consecutive_missed",
        "created",
        "resolved_at",
        "resolved_by",
        "clinic",
        "visit",
    ):
        assert name in row
    assert response.json()["count"] == 1


def test_open_true_lists_only_unresolved_escalations_and_clinic_filters(api_as, clinic, hold, staff):
    done = make_escalation(clinic, kind="outreach", resolved_at=timezone.now(), resolved_by=staff["clinician"])
    client = api_as("nurse")
    assert [r["id"] for r in client.get(LIST, {"open": "true"}).json()["results"]] == [hold.pk]
    assert [r["id"] for r in client.get(LIST, {"open": "false"}).json()["results"]] == [done.pk]
    assert client.get(LIST, {"clinic": clinic.pk}).json()["count"] == 2
    assert client.get(LIST, {"clinic": clinic.pk + 1000}).status_code == 404


def test_anonymous_requests_answer_401(anon, hold):
    assert anon.get(LIST).status_code == 401
    assert anon.post(resolve_url(hold), {"note": "seen"}, format="json").status_code == 401


@pytest.mark.parametrize("role", ["front_desk", "nurse", "manager"])
def test_only_clinicians_and_admins_may_resolve(api_as, hold, role):
    response = api_as(role).post(resolve_url(hold), {"note": "seen"}, format="json")
    assert response.status_code == 403
    hold.refresh_from_db()
    assert hold.resolved_at is None


@pytest.mark.parametrize("role", ["clinician", "admin"])
def test_a_clinician_or_admin_resolves_with_a_note(api_as, hold, staff, role):
    response = api_as(role).post(resolve_url(hold), {"note": "Seen today, dose reduced"}, format="json")
    assert response.status_code == 200
    assert response.json()["resolved_by"] == staff[role].pk
    hold.refresh_from_db()
    assert hold.resolved_at is not None
    assert hold.resolution_note == "Seen today, dose reduced"


def test_resolving_twice_answers_409(api_as, hold):
    client = api_as("clinician")
    assert client.post(resolve_url(hold), {"note": "seen"}, format="json").status_code == 200
    second = client.post(resolve_url(hold), {"note": "again"}, format="json")
    assert second.status_code == 409
    assert "already resolved" in second.json()["detail"]


@pytest.mark.parametrize("body", [{}, {"note": ""}, {"note": "   "}])
def test_a_missing_note_answers_400_naming_the_note(api_as, hold, body):
    response = api_as("clinician").post(resolve_url(hold), body, format="json")
    assert response.status_code == 400
    assert "note" in response.json()


def test_another_clinics_escalation_answers_404(other_api, hold):
    assert other_api.post(resolve_url(hold), {"note": "seen"}, format="json").status_code == 404
    assert other_api.get(LIST).json()["count"] == 0


def test_the_list_query_count_does_not_grow_with_rows(api_as, clinic, django_assert_max_num_queries):
    client = api_as("nurse")
    for _ in range(3):
        make_escalation(clinic)
    with django_assert_max_num_queries(6):
        assert client.get(LIST).status_code == 200
    for _ in range(30):
        make_escalation(clinic)
    with django_assert_max_num_queries(6):
        assert client.get(LIST).json()["count"] == 33
