"""The token endpoint refuses over-long credentials with a JSON 400 before django-axes records them."""

from __future__ import annotations

from axes.models import AccessAttempt
from django.test import RequestFactory

from config.lockout import lockout_username

URL = "/api/v1/auth/token/"


def test_a_256_character_username_answers_a_400_naming_the_field(anon, db):
    response = anon.post(URL, {"username": "u" * 256, "password": "whatever"}, format="json")

    assert response.status_code == 400
    assert response.json() == {"username": ["Ensure this field has no more than 150 characters."]}
    assert not AccessAttempt.objects.exists()


def test_a_huge_password_answers_a_400_naming_the_field(anon, db):
    response = anon.post(URL, {"username": "nurse_user", "password": "p" * 5000}, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["password"]


def test_the_lockout_records_at_most_the_255_characters_its_table_holds(db):
    request = RequestFactory().post("/login/")

    assert lockout_username(request, {"username": "u" * 300}) == "u" * 255
    assert lockout_username(request, {"username": "casey"}) == "casey"
    assert lockout_username(request, None) is None


def test_a_failed_sign_in_is_still_counted_against_the_username(anon, staff):
    anon.post(URL, {"username": "nurse_user", "password": "wrong"}, format="json")

    assert AccessAttempt.objects.get().username == "nurse_user"
