"""POST /api/v1/auth/token/: tokens for API clients, behind the django-axes lockout."""

from __future__ import annotations

import pytest
from django.conf import settings
from rest_framework.authtoken.models import Token

URL = "/api/v1/auth/token/"


def test_it_answers_a_token_for_good_credentials(anon, staff):
    response = anon.post(URL, {"username": "nurse_user", "password": "correct-horse-battery"}, format="json")

    assert response.status_code == 200
    assert response.json() == {"token": Token.objects.get(user=staff["nurse"]).key}


def test_the_token_authenticates_later_requests(anon, staff):
    token = anon.post(URL, {"username": "nurse_user", "password": "correct-horse-battery"}, format="json").json()
    anon.credentials(HTTP_AUTHORIZATION=f"Token {token['token']}")

    assert anon.get("/api/v1/clinics/").status_code == 200


def test_it_refuses_a_wrong_password_with_400(anon, staff):
    response = anon.post(URL, {"username": "nurse_user", "password": "wrong"}, format="json")

    assert response.status_code == 400
    assert "detail" in response.json()


def test_it_names_missing_fields(anon, db):
    response = anon.post(URL, {"username": "nurse_user"}, format="json")

    assert response.status_code == 400
    assert "password" in response.json()


@pytest.mark.skipif(not settings.AXES_ENABLED, reason="axes disabled in this environment")
def test_it_locks_the_account_out_after_five_failures(anon, staff):
    wrong = {"username": "nurse_user", "password": "nope"}
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert anon.post(URL, wrong, format="json").status_code == 400
    # The failure that reaches the limit is already answered with the lockout.
    assert anon.post(URL, wrong, format="json").status_code == 429

    response = anon.post(URL, {"username": "nurse_user", "password": "correct-horse-battery"}, format="json")

    assert response.status_code == 429
    assert "locked" in response.json()["detail"]
    assert not Token.objects.filter(user=staff["nurse"]).exists()


def test_anonymous_requests_elsewhere_get_401_with_a_challenge(anon, db):
    response = anon.get("/api/v1/patients/")

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Token")
