"""Swagger UI at /api/docs/ and ReDoc at /api/redoc/ (issue #13): served from the app's own static files
(drf-spectacular-sidecar, no CDN), behind the staff login."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.staticfiles import finders
from django.test import Client

pytestmark = pytest.mark.django_db

DOCS = ("/api/docs/", "/api/redoc/")


@pytest.fixture(autouse=True)
def _static_from_the_apps(settings) -> None:
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def signed_in(staff) -> Client:
    client = Client()
    client.force_login(staff["front_desk"])
    return client


@pytest.mark.parametrize("path", [*DOCS, "/api/docs/?script="])
def test_anonymous_visitors_are_sent_to_the_login_page(path):
    response = Client().get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=/api/")


@pytest.mark.parametrize("path", DOCS)
def test_an_account_without_a_staff_role_is_refused(path):
    user = get_user_model().objects.create_user(username="visitor", password="correct-horse-battery")
    client = Client()
    client.force_login(user)
    assert client.get(path).status_code == 403


def _local_assets(html: str) -> list[str]:
    """The scripts and style sheets the page loads; each is a file the app serves itself (or Swagger UI's init
    script, which the split view answers at ?script)."""
    urls = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html)
    assert urls
    for url in urls:
        if url == "/api/docs/?script=":
            continue
        assert url.startswith("/static/"), url
        assert finders.find(url.removeprefix("/static/")), url
    return urls


def test_swagger_ui_renders_from_local_static_files(signed_in):
    response = signed_in.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    urls = _local_assets(html)
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in urls
    assert "cdn" not in html.lower() and "<style" not in html and "<script>" not in html
    script = signed_in.get("/api/docs/?script=")
    assert script.status_code == 200 and script["Content-Type"].startswith("application/javascript")
    assert "/api/schema/" in script.content.decode()


def test_redoc_renders_from_local_static_files(signed_in):
    response = signed_in.get("/api/redoc/")
    assert response.status_code == 200
    html = response.content.decode()
    urls = _local_assets(html)
    assert "/static/drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js" in urls
    assert '<redoc spec-url="/api/schema/" disable-search="true"></redoc>' in html  # no blob: worker
    for outside in ("cdn", "googleapis", "gstatic", "<style", "<script>"):
        assert outside not in html.lower(), outside
    # Scripts from the app only; styles from the app plus ReDoc's own style elements by hash; nothing 'unsafe'.
    directives = {
        part.strip().split(" ", 1)[0]: part.strip() for part in response["Content-Security-Policy"].split(";")
    }
    assert directives["script-src"] == "script-src 'self'"
    assert directives["style-src"].startswith("style-src 'self' 'sha256-")
    assert "unsafe" not in response["Content-Security-Policy"]
    assert "sha256" not in signed_in.get("/api/docs/")["Content-Security-Policy"]  # only this page
