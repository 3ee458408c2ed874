"""HTTP edges: JSON errors and a body-size limit for everything under /api/, and a Permissions-Policy header."""

from __future__ import annotations

import json
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

API_PREFIX = "/api/"

# Staff pages use none of these browser features; deny them to the page and to anything it embeds.
PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer", "autoplay", "camera", "display-capture", "encrypted-media", "fullscreen", "geolocation",
        "gyroscope", "magnetometer", "microphone", "midi", "payment", "picture-in-picture", "publickey-credentials-get",
        "screen-wake-lock", "serial", "usb", "xr-spatial-tracking",
    )
)

DETAILS = {
    400: "Bad request.",
    403: "You may not do this.",
    404: "Not found: there is no such resource here (ids are whole numbers).",
    405: "Method not allowed.",
    413: "The request body is too large.",
    500: "Server error: the request failed on our side and was logged.",
}


def _is_json(response: HttpResponse) -> bool:
    content_type = response.get("Content-Type", "").split(";")[0].strip().lower()
    return content_type == "application/json" or content_type.endswith("+json")


def _detail(response: HttpResponse) -> str:
    """A short plain-text body says what went wrong (the SMS webhooks' 403); otherwise the status says it."""
    content_type = response.get("Content-Type", "")
    if content_type.startswith("text/plain") and not response.streaming and 0 < len(response.content) <= 200:
        return response.content.decode(response.charset or "utf-8", errors="replace").strip()
    return DETAILS.get(response.status_code, f"{response.reason_phrase}.")


class ApiEdgeMiddleware:
    """Under /api/ every error answers JSON `{"detail": "..."}` — unknown paths, non-numeric ids, 405, 500 and
    Django's debug pages included — and a body larger than DATA_UPLOAD_MAX_MEMORY_SIZE answers 413 before any
    view reads it. Pages keep their HTML error pages.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(API_PREFIX):
            return self.get_response(request)
        too_large = self._refuse_large_body(request)
        if too_large is not None:
            return too_large
        response = self.get_response(request)
        if response.status_code >= 400 and not response.streaming and not _is_json(response):
            body = json.dumps({"detail": _detail(response)}).encode()
            response.content = body
            response["Content-Type"] = "application/json"
            if response.has_header("Content-Length"):
                response["Content-Length"] = str(len(body))
        return response

    @staticmethod
    def _refuse_large_body(request: HttpRequest) -> HttpResponse | None:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return None  # Django reads no body with an unparsable length
        if limit is None or length <= limit:
            return None
        return JsonResponse({"detail": f"The request body is larger than the limit of {limit} bytes."}, status=413)


class PermissionsPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        return response
