"""The FHIR edge: bearer tokens, `application/fhir+json` both ways, and an OperationOutcome for every error.

Dosewise's own token (POST /api/v1/auth/token/, expiring: config/tokens.py) is the bearer token; the API's
`Token <key>` form works too. Roles and clinic isolation are the API's (scheduler.permissions).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.db import IntegrityError
from rest_framework import exceptions, status
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import BaseParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.parsers import BoundedJSONParser, body_limit, too_large
from config.tokens import ExpiringTokenAuthentication
from fhir import mapping
from scheduler.api.audit import AuditActorMixin
from scheduler.errors import RuleViolation, StateConflict
from scheduler.permissions import ROLE_ACTION_TEXT, IsStaffMember, has_role

logger = logging.getLogger(__name__)

FHIR_JSON = "application/fhir+json"


class FhirError(Exception):
    """An error answered as an OperationOutcome: `code` from the FHIR issue-type value set."""

    def __init__(self, message: str, *, status_code: int = 400, code: str = "invalid",
                 expression: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.code = code
        self.expression = expression


def not_found(resource_type: str, pk: Any) -> FhirError:
    return FhirError(f"No {resource_type} with id {pk!s:.40} in your clinics.", status_code=404, code="not-found")


class BearerTokenAuthentication(ExpiringTokenAuthentication):
    """`Authorization: Bearer <token>` (or the API's `Token <token>`); expired tokens answer 401."""

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        parts = header.split()
        if not parts or parts[0].lower() not in ("bearer", "token"):
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Send one token: Authorization: Bearer <token>.")
        return self.authenticate_credentials(parts[1])

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="Dosewise FHIR"'


class FhirJSONRenderer(JSONRenderer):
    media_type = FHIR_JSON
    format = "json"
    charset = "utf-8"


class NdjsonRenderer(BaseRenderer):
    media_type = "application/fhir+ndjson"
    format = "ndjson"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        return data if isinstance(data, bytes) else str(data).encode()


class AlwaysFhirJson(BaseContentNegotiation):
    """FHIR JSON whatever was asked (there is no XML here): never a 406 that is not an OperationOutcome."""

    def select_parser(self, request: Request, parsers: Iterable[BaseParser]) -> Any:
        media_type = (request.content_type or "").split(";")[0].strip().lower()
        return next((p for p in parsers if p.media_type == media_type), None)

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> Any:
        renderer = next(iter(renderers))
        return renderer, renderer.media_type


class FhirJSONParser(BoundedJSONParser):
    media_type = FHIR_JSON


class PlainJSONParser(BoundedJSONParser):
    media_type = "application/json"


class JSONPatchParser(BoundedJSONParser):
    media_type = "application/json-patch+json"


class MergePatchParser(BoundedJSONParser):
    media_type = "application/merge-patch+json"


class FhirJSONPatchParser(BoundedJSONParser):
    media_type = "application/fhir+json-patch"  # not registered, but some clients send it


_DRF_CODES = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    409: "conflict",
    413: "too-long",
    415: "not-supported",
    429: "throttled",
}

# Dosewise's service fields → where they sit in a FHIR Appointment.
FIELD_PATHS = {
    "date": "Appointment.start",
    "start": "Appointment.start",
    "plan": "Appointment.basedOn",
    "kind": "Appointment.serviceType",
    "reason": "Appointment.cancelationReason",
    "patient": "Appointment.participant",
}


def outcome_response(exc: Exception) -> Response:
    """Every error as an OperationOutcome, with the status the API would give."""
    headers: dict[str, str] = {}
    if isinstance(exc, FhirError):
        status_code, code, message, expression = exc.status_code, exc.code, exc.message, exc.expression
    elif isinstance(exc, RuleViolation):
        status_code, code, message = 400, "business-rule", exc.message
        expression = [FIELD_PATHS[exc.field]] if exc.field in FIELD_PATHS else None
    elif isinstance(exc, StateConflict):
        status_code, code, message, expression = 409, "conflict", exc.message, None
    elif isinstance(exc, RequestDataTooBig):
        status_code, code, message, expression = 413, "too-long", str(too_large(body_limit()).detail), None
    elif isinstance(exc, IntegrityError):
        status_code, code, expression = 409, "conflict", None
        message = "This change conflicts with existing data (a duplicate or a concurrent change)."
    elif isinstance(exc, exceptions.APIException):
        status_code, expression = exc.status_code, None
        code = _DRF_CODES.get(status_code, "processing")
        message = _api_message(exc)
        wait = getattr(exc, "wait", None)
        if isinstance(exc, exceptions.Throttled) and wait is not None:
            headers["Retry-After"] = str(int(wait))
    else:
        logger.exception("FHIR request failed")
        status_code, code, expression = 500, "exception", None
        message = "Server error: the request failed on our side and was logged."
    body = mapping.operation_outcome(
        message, code=code, severity="fatal" if status_code >= 500 else "error", expression=expression
    )
    return Response(body, status=status_code, headers=headers)


def _api_message(exc: exceptions.APIException) -> str:
    detail = exc.detail
    if isinstance(detail, dict):
        return "; ".join(f"{key}: {' '.join(map(str, value)) if isinstance(value, list) else value}"
                         for key, value in detail.items())
    if isinstance(detail, list):
        return " ".join(map(str, detail))
    return str(detail)


class FhirView(AuditActorMixin, APIView):
    """Bearer token, a staff role, FHIR JSON in and out, OperationOutcome for every error."""

    # FHIR has its own description (the CapabilityStatement at /fhir/R4/metadata): not in the OpenAPI schema.
    schema = None
    authentication_classes = [BearerTokenAuthentication]
    permission_classes = [IsStaffMember]
    renderer_classes = [FhirJSONRenderer]
    parser_classes = [FhirJSONParser, PlainJSONParser, JSONPatchParser, MergePatchParser, FhirJSONPatchParser]
    content_negotiation_class = AlwaysFhirJson

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
            response = outcome_response(exc)
            response.status_code = status.HTTP_401_UNAUTHORIZED
            response["WWW-Authenticate"] = self.get_authenticate_header(self.request) or "Bearer"
            code = "expired" if "expired" in str(getattr(exc, "detail", "")) else "login"
            response.data["issue"][0]["code"] = code
            return response
        return outcome_response(exc)

    def require(self, roles: frozenset[str], what: str) -> None:
        if not has_role(self.request.user, roles):
            raise FhirError(
                f"Only {ROLE_ACTION_TEXT.get(roles, ', '.join(sorted(roles)))} may {what}.",
                status_code=403, code="forbidden",
            )
