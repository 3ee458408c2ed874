"""A clinician changes the rule set and sees the preview (issue #13): the setup page with its rule-set section only;
admins keep everything; other roles 403; no link into Django admin."""

from __future__ import annotations

from datetime import timedelta

import pytest
from auditlog.models import LogEntry
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from notifications.models import MessageTemplate
from scheduler.services import rule_set_copy_preset
from tests.web.test_setup_admin import _typed

pytestmark = pytest.mark.django_db


@pytest.fixture
def own_rules(clinic):
    return rule_set_copy_preset(clinic=clinic)


@pytest.fixture
def job(morning):
    every = IntervalSchedule.objects.create(every=5, period=IntervalSchedule.MINUTES)
    return PeriodicTask.objects.create(
        name="Missed-visit sweep",
        task="jobs.tasks.sweep_missed",
        interval=every,
        last_run_at=morning - timedelta(minutes=2),
    )


def test_a_clinician_sees_the_rule_set_editor_and_nothing_else_of_setup(client_as, clinic, morning, own_rules, job):
    response = client_as("clinician").get(f"/clinics/{clinic.pk}/setup/")
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="rules-title"' in page and 'name="tier-0-max_supply"' in page and 'value="preview"' in page
    for admin_only in ('id="win-title"', 'id="clo-title"', 'id="tpl-title"', 'id="jobs-title"', "Missed-visit sweep"):
        assert admin_only not in page
    assert "/admin/" not in page
    assert "windows, closures, reminder texts and periodic jobs are for admins" in page
    # The main navigation leads a clinician here.
    assert (
        f'href="/clinics/{clinic.pk}/setup/"'
        in client_as("clinician").get(f"/clinics/{clinic.pk}/today/").content.decode()
    )


def test_an_admin_still_sees_every_section(client_as, clinic, morning, own_rules, job):
    page = client_as("admin").get(f"/clinics/{clinic.pk}/setup/").content.decode()
    for section in ('id="win-title"', 'id="clo-title"', 'id="rules-title"', 'id="tpl-title"', 'id="jobs-title"'):
        assert section in page
    assert "are for admins" not in page


def test_a_clinician_previews_then_saves_a_rule_change_and_it_is_audited(
    client_as, clinic, morning, own_rules, plan, staff
):
    client = client_as("clinician")
    preview = client.post(
        f"/clinics/{clinic.pk}/setup/rules/", _typed(clinic, takehome_review_days="30", action="preview")
    )
    assert preview.status_code == 200
    html = preview.content.decode()
    assert "0 patients' calendars would change in the next 28 days" in html and "Nothing is saved yet." in html
    assert 'name="takehome_review_days" type="text" inputmode="numeric" class="num" value="30"' in html
    own_rules.refresh_from_db()
    assert own_rules.rules["takehome_review_days"] != 30  # a preview saves nothing
    saved = client.post(f"/clinics/{clinic.pk}/setup/rules/", _typed(clinic, takehome_review_days="30", action="save"))
    assert saved.status_code == 302 and saved["Location"] == f"/clinics/{clinic.pk}/setup/"
    own_rules.refresh_from_db()
    assert own_rules.rules["takehome_review_days"] == 30
    entry = LogEntry.objects.get_for_object(own_rules).order_by("-pk").first()
    assert entry.actor == staff["clinician"]


def test_a_clinicians_refused_value_comes_back_beside_its_field(client_as, clinic, morning, own_rules):
    response = client_as("clinician").post(
        f"/clinics/{clinic.pk}/setup/rules/", _typed(clinic, takehome_review_days="soon", action="save")
    )
    assert response.status_code == 400
    assert 'id="err-takehome_review_days"' in response.content.decode()


@pytest.mark.parametrize("role", ["front_desk", "nurse", "manager"])
def test_other_roles_may_not_open_setup(client_as, clinic, morning, own_rules, role):
    assert client_as(role).get(f"/clinics/{clinic.pk}/setup/").status_code == 403
    assert (
        f'href="/clinics/{clinic.pk}/setup/"'
        not in client_as(role).get(f"/clinics/{clinic.pk}/today/").content.decode()
    )


def test_a_clinician_may_not_change_the_admin_sections(client_as, clinic, morning, own_rules, job):
    client = client_as("clinician")
    template = MessageTemplate.objects.filter(clinic__isnull=True).first()
    assert template is not None
    for url, data in [
        (f"/clinics/{clinic.pk}/setup/windows/", {}),
        (f"/clinics/{clinic.pk}/setup/closures/", {"date": "2026-12-24"}),
        (f"/clinics/{clinic.pk}/setup/holidays/", {"year": "2027"}),
        (f"/clinics/{clinic.pk}/setup/jobs/{job.pk}/", {"enabled": "off"}),
        (f"/clinics/{clinic.pk}/setup/templates/{template.pk}/", {"body": "Hi", "action": "save"}),
    ]:
        assert client.post(url, data).status_code == 403, url
    assert client.get(f"/clinics/{clinic.pk}/setup/templates/{template.pk}/").status_code == 403
    job.refresh_from_db()
    assert job.enabled is True
