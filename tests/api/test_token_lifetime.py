"""API tokens expire after API_TOKEN_TTL_HOURS and die at once on a password change or deactivation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.api.conftest import NOW

URL = "/api/v1/auth/token/"
PASSWORD = "correct-horse-battery"


@pytest.fixture
def nurse_token(staff, frozen, settings) -> str:
    settings.API_TOKEN_TTL_HOURS = 12
    response = APIClient().post(URL, {"username": "nurse_user", "password": PASSWORD}, format="json")
    assert response.status_code == 200
    return response.json()["token"]


def clinics_with(token: str):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client.get("/api/v1/clinics/")


def test_a_token_works_until_its_lifetime_ends(nurse_token, frozen):
    frozen.move_to(NOW + timedelta(hours=11, minutes=59))

    assert clinics_with(nurse_token).status_code == 200


def test_a_token_stops_working_when_its_lifetime_ends(nurse_token, frozen):
    frozen.move_to(NOW + timedelta(hours=12))

    response = clinics_with(nurse_token)

    assert response.status_code == 401
    assert response.json() == {
        "detail": "Token expired: tokens live 12 hours. Get a new one with POST /api/v1/auth/token/."
    }
    assert response["WWW-Authenticate"] == "Token"


def test_the_token_endpoint_issues_a_fresh_token_in_place_of_an_expired_one(nurse_token, frozen):
    frozen.move_to(NOW + timedelta(days=3))

    response = APIClient().post(URL, {"username": "nurse_user", "password": PASSWORD}, format="json")

    fresh = response.json()["token"]
    assert fresh != nurse_token
    assert clinics_with(fresh).status_code == 200
    assert clinics_with(nurse_token).status_code == 401


def test_the_token_endpoint_answers_the_same_live_token_again(nurse_token, frozen):
    frozen.move_to(NOW + timedelta(hours=1))

    response = APIClient().post(URL, {"username": "nurse_user", "password": PASSWORD}, format="json")

    assert response.json() == {"token": nurse_token}


def test_the_lifetime_comes_from_the_environment_setting(nurse_token, frozen, settings):
    settings.API_TOKEN_TTL_HOURS = 48
    frozen.move_to(NOW + timedelta(hours=47))

    assert clinics_with(nurse_token).status_code == 200


def test_a_token_stops_working_after_a_password_change(nurse_token, staff):
    nurse = staff["nurse"]
    nurse.set_password("a-new-long-passphrase")
    nurse.save()

    assert clinics_with(nurse_token).status_code == 401
    assert not Token.objects.filter(user=nurse).exists()


def test_a_password_change_on_the_admin_page_ends_the_token(nurse_token, staff, frozen):
    admin = staff["admin"]
    admin.is_staff = admin.is_superuser = True
    admin.save()
    page = Client()  # the admin page takes a form
    page.force_login(admin)

    response = page.post(
        f"/admin/auth/user/{staff['nurse'].pk}/password/",
        {"password1": "a-new-long-passphrase", "password2": "a-new-long-passphrase", "usable_password": "true"},
    )

    assert response.status_code == 302
    assert clinics_with(nurse_token).status_code == 401


def test_saving_the_user_without_a_new_password_keeps_the_token(nurse_token, staff):
    nurse = staff["nurse"]
    nurse.first_name = "Robin"
    nurse.save()

    assert clinics_with(nurse_token).status_code == 200


def test_a_token_stops_working_when_its_user_is_deactivated(nurse_token, staff):
    nurse = staff["nurse"]
    nurse.is_active = False
    nurse.save(update_fields=["is_active"])

    response = clinics_with(nurse_token)

    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"


def test_an_unknown_token_answers_401(db):
    assert clinics_with("0" * 40).status_code == 401

