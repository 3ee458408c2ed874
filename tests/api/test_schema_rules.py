"""The schema states the limits the server enforces (issue #10: schemathesis finds nothing): JSON-only bodies, text
rules, list and password lengths, ids, empty query values, and per operation the rules no JSON Schema can state."""

from __future__ import annotations

import re

import pytest
from drf_spectacular.generators import SchemaGenerator

from config.schema import NON_BLANK_TEXT_PATTERN, RULES, TEXT_PATTERN


@pytest.fixture(scope="module")
def schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def operation(schema: dict, method: str, path: str) -> dict:
    return schema["paths"][path][method]


def request_schema(schema: dict, method: str, path: str) -> dict:
    ref = operation(schema, method, path)["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    return schema["components"]["schemas"][ref.rsplit("/", 1)[1]]


def test_every_request_body_is_offered_as_json_only(schema):
    media_types = {
        media_type
        for item in schema["paths"].values()
        for op in item.values()
        for media_type in op.get("requestBody", {}).get("content", {})
    }

    assert media_types == {"application/json"}


def test_the_schema_documents_the_json_api_only(schema):
    assert schema["paths"]
    assert all(path.startswith("/api/") for path in schema["paths"])


@pytest.mark.parametrize(
    "method, path, fields",
    [
        ("post", "/api/v1/clinics/{clinic_pk}/windows/", {"end", "capacity", "detail"}),
        ("post", "/api/v1/patients/", {"mrn", "phone", "sms_consent", "clinic"}),
        ("post", "/api/v1/plans/", {"end_date", "treatment_start", "interval_days", "medication"}),
        ("get", "/api/v1/plans/{id}/calendar/", {"date_to", "detail"}),
        ("post", "/api/v1/plans/{plan_pk}/pauses/", {"end", "start"}),
        ("get", "/api/v1/reports/attendance/", {"date_to"}),
        ("post", "/api/v1/staff/", {"username", "password"}),
        ("post", "/api/v1/visits/", {"date", "start", "plan", "kind"}),
        ("post", "/api/v1/visits/{id}/reschedule/", {"date", "start"}),
        ("post", "/api/v1/visits/{id}/complete/", {"take_home_doses", "detail"}),
        ("post", "/api/v1/plans/{id}/takehome-review/", {"plan"}),
    ],
)
def test_rules_beyond_the_schema_are_named_and_described_on_their_operation(schema, method, path, fields):
    op = operation(schema, method, path)

    assert fields <= set(op[RULES])
    assert "Rules beyond this schema" in op["description"]
    for field, text in op[RULES].items():
        assert text in op["description"], field
    assert "400" in op["responses"]


def test_operations_without_such_rules_declare_none(schema):
    assert RULES not in operation(schema, "get", "/api/v1/visits/")
    assert RULES not in operation(schema, "post", "/api/v1/visits/{id}/cancel/")


@pytest.mark.parametrize(
    "path", ["/api/v1/visits/", "/api/v1/visits/{id}/check-in/", "/api/v1/visits/{id}/complete/",
             "/api/v1/visits/{id}/reschedule/"],
)
def test_the_dosing_guard_409_is_documented_on_booking_check_in_completion_and_reschedule(schema, path):
    conflict = operation(schema, "post", path)["responses"]["409"]

    assert "dosing guard" in conflict["description"]
    assert conflict["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}


def test_the_takehome_review_body_is_an_optional_approval_and_note(schema):
    body = request_schema(schema, "post", "/api/v1/plans/{id}/takehome-review/")

    assert body["properties"]["approved"] == {
        "type": "boolean", "default": True,
        "description": "true approves earned take-homes; false suspends them.",
    }
    assert body["properties"]["note"]["maxLength"] == 300
    assert not body.get("required")


def test_completion_takes_nullable_take_home_doses_and_a_take_home_reason(schema):
    body = request_schema(schema, "post", "/api/v1/visits/{id}/complete/")

    assert body["properties"]["take_home_doses"]["nullable"] is True
    assert body["properties"]["take_home_reason"]["maxLength"] == 300


def test_text_that_may_not_be_blank_says_so_and_no_text_takes_a_nul(schema):
    reason = request_schema(schema, "post", "/api/v1/visits/{id}/cancel/")["properties"]["reason"]
    note = request_schema(schema, "post", "/api/v1/plans/{id}/takehome-review/")["properties"]["note"]

    assert reason["pattern"] == NON_BLANK_TEXT_PATTERN
    assert note["pattern"] == TEXT_PATTERN
    assert re.search(NON_BLANK_TEXT_PATTERN, "called in sick")
    assert not re.search(NON_BLANK_TEXT_PATTERN, " \t\u00a0")
    assert not re.search(TEXT_PATTERN, "a\x00b")


def test_staff_passwords_clinics_and_window_lists_state_their_lengths(schema, settings):
    staff = request_schema(schema, "post", "/api/v1/staff/")["properties"]
    window = request_schema(schema, "post", "/api/v1/clinics/{clinic_pk}/windows/")["properties"]

    assert staff["password"]["minLength"] == 8  # Django's MinimumLengthValidator, in AUTH_PASSWORD_VALIDATORS
    assert staff["clinics"]["minItems"] == 1
    assert window["weekdays"]["minItems"] == 1
    assert window["services"]["minItems"] == 1


def test_clinic_time_zones_are_an_enum_of_canonical_iana_names(schema):
    timezone = request_schema(schema, "post", "/api/v1/clinics/")["properties"]["timezone"]
    enum = schema["components"]["schemas"][timezone["allOf"][0]["$ref"].rsplit("/", 1)[1]]["enum"]

    assert "America/New_York" in enum
    assert not {"localtime", "posixrules", "Factory"} & set(enum)


def test_an_empty_optional_query_value_is_allowed_and_a_required_one_is_not(schema):
    visits = {p["name"]: p for p in operation(schema, "get", "/api/v1/visits/")["parameters"]}
    calendar = {p["name"]: p for p in operation(schema, "get", "/api/v1/plans/{id}/calendar/")["parameters"]}

    assert visits["date"]["allowEmptyValue"] is True
    assert "allowEmptyValue" not in calendar["date_from"]


def test_path_ids_are_bounded_whole_numbers(schema):
    ids = [
        p["schema"]
        for item in schema["paths"].values()
        for op in item.values()
        for p in op.get("parameters", [])
        if p["in"] == "path"
    ]

    assert ids
    assert all(s == {"type": "integer", "minimum": 1, "maximum": 2**63 - 1} for s in ids)


def test_operations_describe_themselves_not_a_mixin(schema):
    descriptions = [op.get("description", "") for item in schema["paths"].values() for op in item.values()]

    assert not [d for d in descriptions if "APIView/ViewSet" in d or "Token or session auth" in d]
