"""Session login locks out after repeated failures (django-axes); the token endpoint is tested with the API."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_admin_login_locks_out_after_the_failure_limit(staff, settings):
    settings.AXES_FAILURE_LIMIT = 3
    client = Client()
    for _ in range(3):
        client.post("/admin/login/", {"username": "admin_user", "password": "wrong"})
    # Even the right password is refused now.
    response = client.post("/admin/login/", {"username": "admin_user", "password": "correct-horse-battery"})
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_a_successful_login_before_the_limit_is_let_in(staff, settings):
    settings.AXES_FAILURE_LIMIT = 3
    staff["admin"].is_staff = True
    staff["admin"].save()
    client = Client()
    client.post("/admin/login/", {"username": "admin_user", "password": "wrong"})
    response = client.post("/admin/login/", {"username": "admin_user", "password": "correct-horse-battery"})
    assert response.status_code == 302
    assert "_auth_user_id" in client.session
