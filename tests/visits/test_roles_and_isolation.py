"""Every visit endpoint: anonymous 401, another clinic's ids 404, roles that may not act 403."""

from __future__ import annotations

import pytest

from tests.visits.conftest import MONDAY

pytestmark = pytest.mark.django_db

WRITERS = {"front_desk", "nurse", "clinician", "admin"}
DOSERS = {"nurse", "clinician", "admin"}
ALL = {"front_desk", "nurse", "clinician", "manager", "admin"}

ACTIONS = [
    # (suffix, body, roles allowed, status when allowed)
    ("check-in/", {}, WRITERS, 200),
    ("complete/", {}, DOSERS, 200),
    ("cancel/", {"reason": "patient called"}, WRITERS, 200),
    ("excuse/", {"reason": "hospital"}, WRITERS, 200),
    ("reschedule/", {"date": "2026-11-04"}, WRITERS, 200),
]


def endpoints(visit, clinic):
    yield "get", "/api/v1/visits/", None
    yield "get", f"/api/v1/visits/{visit.pk}/", None
    yield "get", f"/api/v1/clinics/{clinic.pk}/availability/?date=2026-11-02&service=methadone", None
    yield "post", "/api/v1/visits/", {"patient": visit.patient_id, "kind": "counselling", "date": "2026-11-03"}
    for suffix, body, _, _ in ACTIONS:
        yield "post", f"/api/v1/visits/{visit.pk}/{suffix}", body


def test_anonymous_requests_answer_401(anon, visit, clinic):
    for method, url, body in endpoints(visit, clinic):
        response = getattr(anon, method)(url, body, format="json")
        assert response.status_code == 401, (method, url)


@pytest.mark.parametrize("role", sorted(ALL))
@pytest.mark.parametrize(("suffix", "body", "allowed", "ok"), ACTIONS)
def test_visit_actions_follow_the_role_table(api_as, visit, role, suffix, body, allowed, ok):
    response = api_as(role).post(f"/api/v1/visits/{visit.pk}/{suffix}", body, format="json")
    if role in allowed:
        assert response.status_code == ok, response.content
    else:
        assert response.status_code == 403
        assert response.json()["detail"].startswith("Only ")


@pytest.mark.parametrize("role", sorted(ALL))
def test_booking_follows_the_role_table(api_as, patient, frozen, role):
    response = api_as(role).post(
        "/api/v1/visits/", {"patient": patient.pk, "kind": "counselling", "date": "2026-11-03"}, format="json"
    )
    assert response.status_code == (201 if role in WRITERS else 403)


@pytest.mark.parametrize("role", sorted(ALL))
def test_every_role_reads_visits_and_availability(api_as, visit, clinic, role):
    api = api_as(role)
    assert api.get("/api/v1/visits/").status_code == 200
    assert api.get(f"/api/v1/visits/{visit.pk}/").status_code == 200
    url = f"/api/v1/clinics/{clinic.pk}/availability/?date=2026-11-02&service=methadone"
    assert api.get(url).status_code == 200


def test_another_clinics_admin_gets_404_for_every_visit_endpoint(other_api, visit, clinic):
    assert other_api.get("/api/v1/visits/").json()["count"] == 0
    assert other_api.get(f"/api/v1/visits/?clinic={clinic.pk}").status_code == 404
    for method, url, body in endpoints(visit, clinic):
        if url == "/api/v1/visits/":
            continue
        response = getattr(other_api, method)(url, body, format="json")
        assert response.status_code == 404, (method, url, response.content)
    visit.refresh_from_db()
    assert (visit.status, visit.date) == ("scheduled", MONDAY)


def test_a_user_without_a_staff_role_gets_403(visit):
    from rest_framework.test import APIClient

    from tests.factories import UserFactory

    client = APIClient()
    client.force_authenticate(UserFactory())
    assert client.get("/api/v1/visits/").status_code == 403
