"""The OpenAPI schema states every error status an operation can answer, with its body.

drf-spectacular documents only what a view declares (usually just 200). The rules below follow where
the errors come from, so they hold for every view without each one repeating them:
- 401, 403, 429 on every authenticated operation (no or expired token; role table; throttling);
  429 on anonymous ones too (anonymous throttle, the token endpoint's lockout);
- 404 where a path or query names something (an id of another clinic, an unknown page);
- 400 where input is read: a request body, or query parameters;
- 409 on every authenticated write (state conflicts, and integrity races: scheduler/api/errors.py);
- 413 and 415 on writes and wherever a body is read (config.middleware, config.parsers; DRF's media types).
Every error body is `Error` (`{"detail": "..."}`); a 400 may instead be `ValidationError` (field → messages).
A body a view declares itself is kept, unless it is just "an object".
"""

from __future__ import annotations

from typing import Any

from drf_spectacular import openapi
from drf_spectacular.drainage import set_override
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers


@extend_schema_serializer(component_name="Error")
class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="What went wrong, in one sentence.")


# Views that declare their own `{"detail": string}` serializer (visits.api.ErrorSerializer) describe the
# same body under the same name: one component, no collision warning.
set_override(ErrorSerializer, "suppress_collision_warning", True)
VALIDATION_ERROR_SCHEMA = {
    "type": "object",
    "description": "Messages per field (`detail` or `non_field_errors` for the request as a whole); "
                   "a list or object field has its messages per item.",
    "additionalProperties": {
        "anyOf": [
            {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "object"}]}},
            {"type": "object"},
            {"type": "string"},
        ]
    },
}
DESCRIPTIONS = {
    "400": "Bad input: the body names each field and the rule it broke.",
    "401": "No token, or an unknown or expired one.",
    "403": "Your role may not do this.",
    "404": "No such id in your clinics, or no such page.",
    "409": "Conflicts with the current state (for example a full window or an already completed visit).",
    "413": "The request body is too large.",
    "415": "The request body's media type is not JSON or a form.",
    "429": "Too many requests, or too many failed sign-ins: wait and try again.",
}
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
FREE_FORM = {"type": "object", "additionalProperties": {}}


class AutoSchema(openapi.AutoSchema):
    def get_operation(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        responses = operation["responses"]
        for code in self._error_codes(operation):
            response = responses.setdefault(code, {"description": DESCRIPTIONS[code]})
            declared = response.get("content", {}).get("application/json", {}).get("schema")
            if declared is None or declared == FREE_FORM:
                # No body, or "some object" (OpenApiTypes.OBJECT): say which.
                response["content"] = {"application/json": {"schema": self._error_body(code)}}
        return operation

    def _error_codes(self, operation: dict[str, Any]) -> list[str]:
        security = operation.get("security") or []
        authenticated = bool(security) and {} not in security
        locations = {parameter.get("in") for parameter in operation.get("parameters", [])}
        has_body = "requestBody" in operation
        codes = {"429"}
        if authenticated:
            codes |= {"401", "403"}
        if locations & {"path", "query"}:
            codes.add("404")
        if has_body or "query" in locations or (self.method in WRITES and authenticated):
            codes.add("400")
        if self.method in WRITES and authenticated:
            codes.add("409")
        if has_body or self.method in WRITES:
            codes |= {"413", "415"}
        return sorted(codes)

    def _error_body(self, code: str) -> dict[str, Any]:
        error = self.resolve_serializer(ErrorSerializer, "response").ref
        if code != "400":
            return error
        validation = ResolvedComponent(
            name="ValidationError", type=ResolvedComponent.SCHEMA, object="ValidationError",
            schema=VALIDATION_ERROR_SCHEMA,
        )
        self.registry.register_on_missing(validation)
        return {"anyOf": [validation.ref, error]}
