"""POST/GET /api/v1/staff/: admins create staff users for their own clinics."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from tests.scheduler.api.conftest import FORBIDDEN_FOR_ADMIN_ONLY

URL = "/api/v1/staff/"
GOOD_PASSWORD = "long-enough-and-rare-42"


def new_staff(clinic, **extra):
    return {"username": "casey", "password": GOOD_PASSWORD, "role": "nurse", "clinics": [clinic.pk], **extra}


def test_anonymous_gets_401(anon, clinic):
    assert anon.get(URL).status_code == 401
    assert anon.post(URL, new_staff(clinic), format="json").status_code == 401


@pytest.mark.parametrize("role", FORBIDDEN_FOR_ADMIN_ONLY)
def test_only_admins_list_or_create_staff(api_as, clinic, role):
    assert api_as(role).get(URL).status_code == 403
    assert api_as(role).post(URL, new_staff(clinic), format="json").status_code == 403


def test_an_admin_creates_a_staff_user_who_can_sign_in(api_as, anon, clinic):
    response = api_as("admin").post(URL, new_staff(clinic), format="json")

    assert response.status_code == 201, response.json()
    user = get_user_model().objects.get(username="casey")
    assert response.json() == {"id": user.pk, "username": "casey", "role": "nurse", "clinics": [clinic.pk]}
    token = anon.post("/api/v1/auth/token/", {"username": "casey", "password": GOOD_PASSWORD}, format="json")
    assert token.status_code == 200


def test_an_admin_cannot_assign_another_clinic(other_api, clinic):
    response = other_api.post(URL, new_staff(clinic), format="json")

    assert response.status_code == 404
    assert not get_user_model().objects.filter(username="casey").exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [({"password": "password"}, "password"), ({"password": "casey"}, "password"), ({"role": "janitor"}, "role"),
     ({"username": "nurse_user"}, "username"), ({"clinics": []}, "clinics"), ({"clinics": ["x"]}, "clinics")],
)
def test_it_names_the_field_of_a_bad_staff_user(api_as, clinic, change, field):
    response = api_as("admin").post(URL, new_staff(clinic, **change), format="json")

    assert response.status_code == 400
    assert field in response.json()


def test_admins_list_the_staff_of_their_clinics_only(api_as, clinic, other_admin):
    response = api_as("admin").get(URL)

    assert response.status_code == 200
    names = {row["username"] for row in response.json()["results"]}
    assert names == {"front_desk_user", "nurse_user", "clinician_user", "manager_user", "admin_user"}
