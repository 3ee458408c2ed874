"""Clinics: everyone reads their own clinics; only admins create and change them."""

from __future__ import annotations

import pytest

from scheduler.models import Clinic, RuleSet
from scheduler.rules import DEFAULT_PRESET
from tests.scheduler.api.conftest import FORBIDDEN_FOR_ADMIN_ONLY

NEW = {
    "name": "Lakeside",
    "timezone": "Europe/London",
    "phone": "020 7946 0018",
    "sms_name": "Lakeside Health",
    "country": "GB",
}


def test_anonymous_gets_401(anon, clinic):
    assert anon.get("/api/v1/clinics/").status_code == 401
    assert anon.get(f"/api/v1/clinics/{clinic.pk}/").status_code == 401


def test_staff_see_only_their_clinics(api_as, clinic, other_clinic):
    response = api_as("front_desk").get("/api/v1/clinics/")

    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [clinic.pk]
    assert set(response.json()["results"][0]) >= {"id", "name", "timezone", "phone", "sms_name", "rule_set"}


def test_another_clinics_user_gets_404(other_api, clinic):
    assert other_api.get(f"/api/v1/clinics/{clinic.pk}/").status_code == 404
    assert other_api.patch(f"/api/v1/clinics/{clinic.pk}/", {"name": "x"}, format="json").status_code == 404


@pytest.mark.parametrize("role", FORBIDDEN_FOR_ADMIN_ONLY)
def test_only_admins_create_or_change_clinics(api_as, clinic, role):
    client = api_as(role)

    created = client.post("/api/v1/clinics/", NEW, format="json")
    changed = client.patch(f"/api/v1/clinics/{clinic.pk}/", {"name": "x"}, format="json")

    assert created.status_code == 403
    assert "admins" in created.json()["detail"]
    assert changed.status_code == 403


def test_an_admin_creates_a_clinic_with_its_own_copy_of_the_default_rules(api_as, staff):
    response = api_as("admin").post("/api/v1/clinics/", NEW, format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["phone"] == "+442079460018"
    rule_set = RuleSet.objects.get(pk=body["rule_set"])
    assert not rule_set.is_preset
    assert rule_set.rules == RuleSet.objects.get(name=DEFAULT_PRESET, is_preset=True).rules
    # The creating admin joins the clinic, so they can see it.
    assert api_as("admin").get(f"/api/v1/clinics/{body['id']}/").status_code == 200


def test_it_refuses_a_time_zone_that_is_not_iana(api_as, staff):
    response = api_as("admin").post("/api/v1/clinics/", {**NEW, "timezone": "Mars/Olympus"}, format="json")

    assert response.status_code == 400
    assert "timezone" in response.json()


def test_it_refuses_a_text_name_that_reveals_treatment(api_as, clinic, staff):
    response = api_as("admin").patch(f"/api/v1/clinics/{clinic.pk}/", {"sms_name": "Methadone Program"}, format="json")

    assert response.status_code == 400
    assert "sms_name" in response.json()


def test_an_admin_renames_their_clinic(api_as, clinic, staff):
    response = api_as("admin").patch(f"/api/v1/clinics/{clinic.pk}/", {"name": "Riverside East"}, format="json")

    assert response.status_code == 200
    clinic.refresh_from_db()
    assert clinic.name == "Riverside East"
    assert Clinic.objects.count() == 1


@pytest.mark.parametrize(("change", "field"), [({"country": "USA"}, "country"), ({"phone": "12"}, "phone"),
                                               ({"name": ""}, "name"), ({"preset": "Mars 2099"}, "preset")])
def test_it_names_the_field_of_a_bad_clinic(api_as, staff, change, field):
    response = api_as("admin").post("/api/v1/clinics/", {**NEW, **change}, format="json")

    assert response.status_code == 400
    assert field in response.json()
