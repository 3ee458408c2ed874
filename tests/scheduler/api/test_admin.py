"""The Django admin: every scheduler model has pages; presets are read-only; actions copy and import."""

from __future__ import annotations

import pytest
from auditlog.models import LogEntry
from django.test import Client

from scheduler.models import Closure, RuleSet
from scheduler.rules import DEFAULT_PRESET
from tests.factories import PatientFactory, PlanFactory, UserFactory


@pytest.fixture
def admin_client_(db) -> Client:
    user = UserFactory(username="root", is_staff=True, is_superuser=True)
    user.save()
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    "model", ["ruleset", "clinic", "dosingwindow", "closure", "patient", "plan", "pause", "staffprofile"]
)
def test_every_scheduler_model_has_an_admin_list(admin_client_, clinic, model):
    assert admin_client_.get(f"/admin/scheduler/{model}/").status_code == 200


def test_a_preset_is_read_only(admin_client_, db):
    preset = RuleSet.objects.get(name=DEFAULT_PRESET, is_preset=True)

    response = admin_client_.post(f"/admin/scheduler/ruleset/{preset.pk}/change/", {"name": "changed"})

    preset.refresh_from_db()
    assert response.status_code in {200, 403}
    assert preset.name == DEFAULT_PRESET


def test_the_copy_preset_action_gives_the_clinic_its_own_rules(admin_client_, clinic):
    preset = RuleSet.objects.get(name=DEFAULT_PRESET, is_preset=True)

    admin_client_.post(
        "/admin/scheduler/ruleset/",
        {"action": "copy_preset_for_clinic", "_selected_action": [preset.pk], "clinic": clinic.pk},
    )

    clinic.refresh_from_db()
    assert clinic.rule_set.pk != preset.pk
    assert not clinic.rule_set.is_preset
    assert clinic.rule_set.rules == preset.rules


def test_the_clinic_action_imports_next_years_holidays(admin_client_, clinic):
    admin_client_.post(
        "/admin/scheduler/clinic/", {"action": "import_holidays_next_year", "_selected_action": [clinic.pk]}
    )

    assert Closure.objects.filter(clinic=clinic, date__year=2027, services=["methadone", "buprenorphine"]).exists()


def test_opening_a_patient_in_the_admin_is_audited(admin_client_, clinic):
    patient = PatientFactory(clinic=clinic)

    assert admin_client_.get(f"/admin/scheduler/patient/{patient.pk}/change/").status_code == 200
    assert LogEntry.objects.filter(
        content_type__model="patient", object_pk=str(patient.pk), action=LogEntry.Action.ACCESS
    ).exists()


def test_a_plan_page_opens(admin_client_, clinic):
    plan = PlanFactory(patient=PatientFactory(clinic=clinic))

    assert admin_client_.get(f"/admin/scheduler/plan/{plan.pk}/change/").status_code == 200
