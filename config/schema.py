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

It also states the limits the server enforces on text: DRF trims text and refuses a blank one unless blanks are
allowed, and refuses NUL characters (PostgreSQL text cannot hold them), so every text field and text query
parameter carries the pattern that says so. Rules no JSON Schema can state (one field against another, against
stored data, or against today) are declared per operation with `rules(...)`: the operation's description lists
them, and `x-rules` names the fields whose 400 they explain (tests/test_schemathesis.py holds the server to it).
"""

from __future__ import annotations

import inspect
from typing import Any

from drf_spectacular import openapi
from drf_spectacular.drainage import set_override
from drf_spectacular.plumbing import ResolvedComponent, get_doc
from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from scheduler import bounds

RULES = "x-rules"
# Text as DRF reads it: no NUL anywhere; a field that may not be blank has a character other than whitespace
# (DRF strips whitespace first). Python's \s is str.isspace(), what str.strip() removes.
TEXT_PATTERN = r"^[^\x00]*$"
NON_BLANK_TEXT_PATTERN = r"^[^\x00]*[^\x00\s][^\x00]*$"


def api_endpoints_only(endpoints: list[tuple[Any, ...]], **kwargs: Any) -> list[tuple[Any, ...]]:
    """PREPROCESSING_HOOKS: the OpenAPI schema documents the JSON API under /api/. The FHIR R4 interface
    (/fhir/R4/) describes itself in FHIR's own terms (its CapabilityStatement at /fhir/R4/metadata)."""
    return [endpoint for endpoint in endpoints if str(endpoint[0]).startswith("/api/")]


def rules(**by_field: str) -> dict[str, dict[str, str]]:
    """`extend_schema(extensions=rules(end="after start"))`: input rules no JSON Schema can state (across fields,
    against stored data or today's date), each answered 400 naming its field; `detail` is the request as a whole.
    """
    return {RULES: by_field}


@extend_schema_serializer(component_name="Error")
class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="What went wrong, in one sentence.")


# Views that declare their own `{"detail": string}` serializer (api.visits.views.ErrorSerializer) describe the
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
    "415": "The request body is not JSON (application/json).",
    "429": "Too many requests, or too many failed sign-ins: wait and try again.",
}
_TEXT_MARK = "__dosewise_text__"
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
FREE_FORM = {"type": "object", "additionalProperties": {}}


class AutoSchema(openapi.AutoSchema):
    def get_operation(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        self._describe_rules(operation)
        self._query_parameters(operation)
        self._path_ids(operation)
        responses = operation["responses"]
        for code in self._error_codes(operation):
            response = responses.setdefault(code, {"description": DESCRIPTIONS[code]})
            declared = response.get("content", {}).get("application/json", {}).get("schema")
            if declared is None or declared == FREE_FORM:
                # No body, or "some object" (OpenApiTypes.OBJECT): say which.
                response["content"] = {"application/json": {"schema": self._error_body(code)}}
        return operation

    def get_description(self) -> str:  # type: ignore[override]
        """The action's docstring, else the view class's own: not one inherited from a mixin or base view
        (drf-spectacular walks the MRO, so an audit mixin's docstring described every visit operation)."""
        handler = getattr(self.view, getattr(self.view, "action", None) or self.method.lower(), None)
        own = self.view.__class__.__dict__.get("__doc__")
        return get_doc(handler) or (inspect.cleandoc(own) if own else "")

    def _map_serializer_field(self, field: Any, direction: str, bypass_extensions: bool = False) -> dict[str, Any]:
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if direction == "request" and isinstance(field, serializers.CharField) and isinstance(schema, dict):
            schema[_TEXT_MARK] = True  # the pattern goes in after the field's own validators (its regex first)
        return schema

    def _insert_field_validators(self, field: Any, schema: dict[str, Any]) -> None:
        marked = schema.pop(_TEXT_MARK, False)
        super()._insert_field_validators(field, schema)
        if marked and _plain_text(schema):
            blank_ok = field.allow_blank or not field.trim_whitespace
            schema["pattern"] = TEXT_PATTERN if blank_ok else NON_BLANK_TEXT_PATTERN

    @staticmethod
    def _describe_rules(operation: dict[str, Any]) -> None:
        by_field = operation.get(RULES)
        if not by_field:
            return
        lines = [
            f"- `{field}`: {text}" if field != "detail" else f"- the request as a whole (`detail`): {text}"
            for field, text in by_field.items()
        ]
        text = "Rules beyond this schema (each answers 400 naming its field):\n" + "\n".join(lines)
        operation["description"] = f"{operation['description']}\n\n{text}" if operation.get("description") else text

    @staticmethod
    def _query_parameters(operation: dict[str, Any]) -> None:
        """An empty optional parameter (`?date=`) is the same as leaving it out (django-filter, DRF serializers
        and the paginator all read it so), and text filters are Django form fields, which refuse NUL characters."""
        for parameter in operation.get("parameters", []):
            if parameter.get("in") != "query":
                continue
            if not parameter.get("required"):
                parameter["allowEmptyValue"] = True
            schema = parameter.get("schema", {})
            if _plain_text(schema):
                schema["pattern"] = TEXT_PATTERN

    @staticmethod
    def _path_ids(operation: dict[str, Any]) -> None:
        """Ids in paths match `[0-9]+` (scheduler.api.base.ID_PATH; `<int:>`), which drf-spectacular shows as a
        patterned string or a bare integer: they are whole numbers of a bigint key (out of range: a 404 like any
        missing id)."""
        for parameter in operation.get("parameters", []):
            if parameter.get("in") == "path" and parameter["schema"] in (
                {"type": "string", "pattern": "^[0-9]+$"}, {"type": "integer"}
            ):
                parameter["schema"] = {"type": "integer", "minimum": 1, "maximum": bounds.ID_MAX}

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


def _plain_text(schema: dict[str, Any]) -> bool:
    """A free text: a string with no enum, format or pattern of its own."""
    return schema.get("type") == "string" and not {"enum", "format", "pattern", "readOnly"} & schema.keys()
