"""Request bodies are bounded: 1,000 nested brackets answer a JSON 400, an oversized body a JSON 413, never a 500."""

from __future__ import annotations

import re
from io import BytesIO

import pytest
from django.test import Client
from drf_spectacular.generators import SchemaGenerator

from config.parsers import MAX_JSON_DEPTH, BoundedJSONParser, RequestTooLarge

DEEP = "[" * 1000 + "]" * 1000
TOO_DEEP = f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels."


def write_operations(ids: dict[str, int]) -> dict[tuple[str, str], bool]:
    """(method, path) of every POST/PUT/PATCH, ids of `ids` filled in (else 999999) → whether it takes a body."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    operations = {}
    for template, item in schema["paths"].items():
        for method, operation in item.items():
            if method in ("post", "put", "patch"):
                path = re.sub(r"(\w+)/\{\w+\}", lambda m: f"{m.group(1)}/{ids.get(m.group(1), 999999)}", template)
                operations[(method, path)] = "requestBody" in operation
    return operations


def test_every_json_endpoint_answers_a_deeply_nested_body_with_a_json_400(api_as, ids):
    client = api_as("admin")
    operations = write_operations(ids)
    assert ("post", "/api/v1/visits/") in operations and ("post", "/api/v1/auth/token/") in operations

    answers = {(method, path): getattr(client, method)(path, DEEP, content_type="application/json")
               for method, path in operations}

    assert {key: r.status_code for key, r in answers.items() if r.status_code >= 500} == {}
    reads_body = {key for key, takes_body in operations.items() if takes_body and "999999" not in key[1]}
    assert len(reads_body) >= 15
    refused = {(r.status_code, r["Content-Type"], r.json()["detail"]) for k, r in answers.items() if k in reads_body}
    assert refused == {(400, "application/json", TOO_DEEP)}


def test_the_anonymous_token_endpoint_answers_a_deeply_nested_body_with_a_json_400(anon, db):
    response = anon.post("/api/v1/auth/token/", DEEP, content_type="application/json")

    assert response.status_code == 400
    assert response.json() == {"detail": TOO_DEEP}


def test_the_debug_page_never_answers_a_deeply_nested_body(anon, db, settings):
    settings.DEBUG = True

    response = anon.post("/api/v1/auth/token/", DEEP, content_type="application/json")

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"


def test_a_body_nested_within_the_limit_is_parsed(anon, db):
    nested = "[" * (MAX_JSON_DEPTH - 1) + "]" * (MAX_JSON_DEPTH - 1)
    body = '{"username": "x", "password": "y", "extra": ' + nested + "}"

    response = anon.post("/api/v1/auth/token/", body, content_type="application/json")

    assert response.status_code == 400
    assert "nested" not in str(response.json())


def test_a_body_one_level_past_the_limit_is_refused(anon, db):
    nested = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    body = '{"username": "x", "password": "y", "extra": ' + nested + "}"

    response = anon.post("/api/v1/auth/token/", body, content_type="application/json")

    assert response.status_code == 400
    assert response.json() == {"detail": TOO_DEEP}


def test_a_body_over_the_size_limit_answers_a_json_413(api_as, db, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = '{"first_name": "' + "x" * 1000 + '"}'

    response = api_as("admin").post("/api/v1/patients/", body, content_type="application/json")

    assert response.status_code == 413
    assert response.json() == {"detail": "The request body is larger than the limit of 1000 bytes."}


def test_a_body_over_the_size_limit_is_refused_by_the_parser_when_the_length_header_understates_it(db, settings):
    """A client may send more than its Content-Length says in a chunked or streamed body: the parser counts too."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10
    with pytest.raises(RequestTooLarge):
        BoundedJSONParser().parse(BytesIO(b'{"a": "' + b"x" * 20 + b'"}'), "application/json", {})


def test_a_form_body_over_the_size_limit_answers_a_json_413_on_the_sms_webhook(db, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    response = Client().post("/api/v1/sms/status/", {"MessageSid": "SM1", "Body": "x" * 200})

    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
