from collections.abc import Callable
from typing import cast

from csp.decorators import csp_update
from django.contrib import admin
from django.http import HttpResponse
from django.http.response import HttpResponseBase
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from config.health import health
from web.access import staff_view


def _staff_only(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponse]:
    """The staff login in front of a DRF view: /login/?next=... when signed out, 403 without a staff role."""
    return staff_view(cast(Callable[..., HttpResponse], view))


REDOC_STYLE_HASHES = [
    "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='",  # the empty <style> styled-components fills
    "'sha256-QMIg+bpjm3JdElJ388KYke01izlUW0UoNOeKjpMxdgc='",  # the bundle's own style sheet
]

api_v1 = [
    path("", include("api.scheduler.urls")),
    path("", include("api.visits.urls")),
    path("", include("api.visits.reports")),
    path("", include("notifications.urls")),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    # The schema is the published contract (API.md), open like the source; the pages that draw it are for staff.
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # Swagger UI and ReDoc from drf-spectacular-sidecar's static files (no CDN), behind the staff login: anonymous
    # visitors go to /login/?next=..., a signed-in account without a staff role gets 403.
    # The split view serves Swagger UI's init script as a file (?script): the CSP allows no inline script.
    path(
        "api/docs/",
        _staff_only(SpectacularSwaggerSplitView.as_view(url_name="schema", template_name="api_docs/swagger_ui.html")),
        name="api-docs",
    ),
    # ReDoc draws with styled-components, which adds empty <style> elements and fills them through the CSSOM, and
    # its bundle adds one fixed style sheet: this page alone allows those two by hash (no 'unsafe-inline', scripts
    # unchanged). A new sidecar version with another sheet shows in tests/api/test_csp_in_the_browser.py.
    path(
        "api/redoc/",
        _staff_only(
            csp_update({"style-src": REDOC_STYLE_HASHES})(
                SpectacularRedocView.as_view(url_name="schema", template_name="api_docs/redoc.html")
            )
        ),
        name="api-redoc",
    ),
    path("health/", health, name="health"),
    path("fhir/R4/", include("fhir.urls")),
    path("", include("web.urls")),
]
