"""The OpenAPI schema documents each operation's error statuses with their bodies, and validates without warnings."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from drf_spectacular.generators import SchemaGenerator


@pytest.fixture(scope="module")
def schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def responses(schema: dict, method: str, path: str) -> dict:
    return schema["paths"][path][method]["responses"]


def test_every_authenticated_operation_documents_401_403_and_429_with_a_json_body(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if path == "/api/v1/auth/token/":
                continue
            for code in ("401", "403", "429"):
                body = operation["responses"][code]["content"]["application/json"]["schema"]
                assert "$ref" in body, (method, path, code)  # Error, or a view's own {"detail": ...} body


def test_an_undeclared_error_gets_the_error_body(schema):
    body = responses(schema, "get", "/api/v1/visits/")["401"]["content"]["application/json"]["schema"]

    assert body == {"$ref": "#/components/schemas/Error"}


def test_detail_paths_and_lists_document_404(schema):
    assert "404" in responses(schema, "get", "/api/v1/visits/{id}/")
    assert "404" in responses(schema, "get", "/api/v1/visits/")


def test_writes_document_400_409_413_and_415(schema):
    answers = responses(schema, "post", "/api/v1/visits/{id}/check-in/")

    assert {"400", "409", "413", "415"} <= set(answers)
    assert answers["400"]["content"]["application/json"]["schema"] == {"anyOf": [
        {"$ref": "#/components/schemas/ValidationError"}, {"$ref": "#/components/schemas/Error"},
    ]}


def test_a_read_without_query_documents_no_400(schema):
    assert "400" not in responses(schema, "get", "/api/v1/visits/{id}/")


def test_the_anonymous_token_endpoint_documents_its_own_answers_only(schema):
    assert set(responses(schema, "post", "/api/v1/auth/token/")) == {"200", "400", "413", "415", "429"}


def test_the_error_bodies_are_components(schema):
    components = schema["components"]["schemas"]

    assert components["Error"]["required"] == ["detail"]
    assert components["ValidationError"]["type"] == "object"


def test_the_schema_validates_without_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
