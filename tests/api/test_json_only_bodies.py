"""API bodies are JSON only (API.md: "JSON everywhere"). Forms were parsed too, and could not say what JSON says:
a `+` in an instant's offset arrived as a space, `take_home_doses` could not be null, and the schema offered both.
The SMS webhooks are Twilio's form callbacks and are plain Django views (tests/notifications/test_webhooks.py)."""

from __future__ import annotations

import pytest

from scheduler.models import Patient, Plan
from visits.models import Visit


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "multipart/form-data; boundary=B"])
def test_a_form_body_answers_a_json_415_and_creates_nothing(api_as, ids, content_type):
    body = "clinic=1&mrn=M1&first_name=Ann&last_name=Lee"

    response = api_as("front_desk").post("/api/v1/patients/", body, content_type=content_type)

    assert response.status_code == 415
    assert response["Content-Type"] == "application/json"
    assert "Unsupported media type" in response.json()["detail"]
    assert not Patient.objects.filter(mrn="M1").exists()


def test_the_same_patient_as_json_is_registered(api_as, ids):
    body = {"clinic": ids["clinics"], "mrn": "M1", "first_name": "Ann", "last_name": "Lee"}

    response = api_as("front_desk").post("/api/v1/patients/", body, format="json")

    assert response.status_code == 201


def review(api, plan_id: int, body: str | None, content_type: str = "application/json"):
    url = f"/api/v1/plans/{plan_id}/takehome-review/"
    return api.post(url) if body is None else api.post(url, body, content_type=content_type)


@pytest.mark.parametrize("body", [None, "{}"])
def test_a_takehome_review_without_fields_approves(api_as, ids, body):
    Plan.objects.filter(pk=ids["plans"]).update(takehome_approved=False)

    response = review(api_as("clinician"), ids["plans"], body)

    assert response.status_code == 200
    assert response.json()["takehome_approved"] is True


def test_a_takehome_review_can_suspend_with_a_note(api_as, ids):
    response = review(api_as("clinician"), ids["plans"], '{"approved": false, "note": "positive screen"}')

    assert response.status_code == 200
    assert response.json()["takehome_approved"] is False


@pytest.mark.parametrize(
    "body, field",
    [
        ("{not json", "detail"),
        ("null", "non_field_errors"),
        ("[]", "non_field_errors"),
        ("[true]", "non_field_errors"),
        ("0", "non_field_errors"),
        ('{"approved": "perhaps"}', "approved"),
        ('{"approved": null}', "approved"),
        ('{"note": "' + "x" * 301 + '"}', "note"),
        ('{"note": "a\\u0000b"}', "note"),
    ],
)
def test_a_takehome_review_with_a_bad_body_answers_400_naming_the_problem_and_changes_nothing(
    api_as, ids, body, field
):
    Plan.objects.filter(pk=ids["plans"]).update(takehome_approved=False)

    response = review(api_as("clinician"), ids["plans"], body)

    assert response.status_code == 400
    assert field in response.json()
    assert Plan.objects.get(pk=ids["plans"]).takehome_approved is False


def test_a_takehome_review_as_a_form_answers_415(api_as, ids):
    Plan.objects.filter(pk=ids["plans"]).update(takehome_approved=False)

    response = review(api_as("clinician"), ids["plans"], "approved=true", "application/x-www-form-urlencoded")

    assert response.status_code == 415
    assert Plan.objects.get(pk=ids["plans"]).takehome_approved is False


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_a_cancel_without_a_reason_answers_400_naming_reason(api_as, ids, reason):
    response = api_as("front_desk").post(f"/api/v1/visits/{ids['visits']}/cancel/", {"reason": reason}, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["reason"]
    assert Visit.objects.get(pk=ids["visits"]).status == "scheduled"


def test_a_completion_may_say_null_take_home_doses(api_as, ids):
    api = api_as("nurse")
    assert api.post(f"/api/v1/visits/{ids['visits']}/check-in/", {}, format="json").status_code == 200

    response = api.post(f"/api/v1/visits/{ids['visits']}/complete/", {"take_home_doses": None}, format="json")

    assert response.status_code == 200
    assert response.json()["take_home_doses"] == 0


@pytest.mark.parametrize("approved", [0, 1, "true", "yes", "on"])
def test_a_boolean_is_json_true_or_false_only(api_as, ids, approved):
    Plan.objects.filter(pk=ids["plans"]).update(takehome_approved=False)

    response = api_as("clinician").post(
        f"/api/v1/plans/{ids['plans']}/takehome-review/", {"approved": approved}, format="json"
    )

    assert response.status_code == 400
    assert list(response.json()) == ["approved"]
    assert Plan.objects.get(pk=ids["plans"]).takehome_approved is False


def test_sms_consent_refuses_a_number(api_as, ids):
    response = api_as("front_desk").patch(f"/api/v1/patients/{ids['patients']}/", {"sms_consent": 1}, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["sms_consent"]


def test_bottles_returned_refuses_a_word(api_as, ids):
    url = f"/api/v1/visits/{ids['visits']}/check-in/"

    response = api_as("front_desk").post(url, {"bottles_returned": "no"}, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["bottles_returned"]
    assert Visit.objects.get(pk=ids["visits"]).status == "scheduled"
