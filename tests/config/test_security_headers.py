"""Pages, API answers and the API docs carry the browser security headers: CSP, Permissions-Policy and the rest."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.test import Client

CSP = {
    "default-src 'self'", "script-src 'self'", "style-src 'self'", "object-src 'none'", "frame-ancestors 'none'",
    "base-uri 'self'", "form-action 'self'",
}


@pytest.fixture
def answers(staff, api_as) -> dict:
    page = Client()
    page.force_login(staff["nurse"])
    return {
        "page": page.get("/", follow=True),
        "login page": Client().get("/login/"),
        "api": api_as("nurse").get("/api/v1/clinics/"),
        "api error": api_as("nurse").get("/api/v1/visits/0.5/"),
        "api docs": page.get("/api/docs/"),  # the docs are behind the staff login
        "api docs script": page.get("/api/docs/?script="),
    }


def test_every_answer_carries_the_security_headers(answers):
    for name, response in answers.items():
        assert response.status_code in (200, 404), name
        directives = {part.strip() for part in response["Content-Security-Policy"].split(";")}
        assert directives >= CSP, name
        assert not any("unsafe" in part for part in directives), name
        assert "camera=()" in response["Permissions-Policy"], name
        assert "microphone=()" in response["Permissions-Policy"], name
        assert "geolocation=()" in response["Permissions-Policy"], name
        assert "payment=()" in response["Permissions-Policy"], name
        assert "usb=()" in response["Permissions-Policy"], name
        assert response["X-Frame-Options"] == "DENY", name
        assert response["X-Content-Type-Options"] == "nosniff", name
        assert response["Referrer-Policy"] == "same-origin", name


def test_the_api_docs_load_swagger_ui_from_the_app_with_no_inline_script_or_style(answers):
    html = answers["api docs"].content.decode()

    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower()
    assert "<style" not in html
    assert "<script>" not in html
    assert answers["api docs script"]["Content-Type"].startswith("application/javascript")


def test_no_page_template_has_inline_script_style_or_event_handlers():
    root = Path(__file__).resolve().parents[2] / "web" / "templates"
    inline = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|<style\b|\sstyle=|\son[a-z]+=|javascript:", re.IGNORECASE)
    offenders = [str(p.relative_to(root)) for p in root.rglob("*.html") if inline.search(p.read_text())]

    assert offenders == []
