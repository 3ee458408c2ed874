"""Setup for the admin role without Django admin (issue #13): the rule-set editor with its preview."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from auditlog.models import LogEntry
from django.test import Client
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from notifications.models import MessageTemplate
from scheduler.models import RuleSet
from scheduler.selectors import rules_for_clinic
from scheduler.services import rule_set_copy_preset

pytestmark = pytest.mark.django_db


def _typed(clinic, **changes: str) -> dict[str, Any]:
    """The editor's fields as the page fills them from the clinic's rules, with `changes` typed over them."""
    rules = rules_for_clinic(clinic).to_dict()
    data: dict[str, Any] = {}
    for i, tier in enumerate(rules["takehome_tiers"]):
        for f in ("from_day", "max_supply", "max_per_week"):
            data[f"tier-{i}-{f}"] = "" if tier[f] is None else str(tier[f])
    for step, days in rules["ladder"].items():
        data[f"ladder-{step}"] = str(days)
    for name in (
        "quiet_hours_start",
        "quiet_hours_end",
        "reminders_max_per_day",
        "reminders_max_per_week",
        "sms_max_chars",
        "takehome_review_days",
        "guest_dosing_notice_hours",
        "buprenorphine_daily_max_mg",
        "methadone_first_dose_max_mg",
        "methadone_first_day_max_mg",
        "methadone_induction_days",
        "methadone_induction_step_max_mg",
        "methadone_induction_step_min_days",
        "diamorphine_session_max_mg",
        "diamorphine_daily_max_mg",
        "naltrexone_opioid_free_days",
        "buprenorphine_induction_cows_min",
    ):
        data[name] = "" if rules[name] is None else str(rules[name])
    data["privacy_words"] = "\n".join(rules["privacy_words"])
    return {**data, **changes}


@pytest.fixture
def own_rules(clinic):
    return rule_set_copy_preset(clinic=clinic)


@pytest.mark.parametrize("role", ["manager", "nurse", "front_desk"])
def test_only_clinicians_and_admins_may_edit_the_rule_set(client_as, clinic, morning, own_rules, role):
    before = dict(own_rules.rules)
    response = client_as(role).post(
        f"/clinics/{clinic.pk}/setup/rules/", _typed(clinic, takehome_review_days="30", action="save")
    )
    assert response.status_code == 403
    own_rules.refresh_from_db()
    assert own_rules.rules == before


def test_the_setup_page_shows_the_rules_as_form_fields(client_as, clinic, morning, own_rules):
    page = client_as("admin").get(f"/clinics/{clinic.pk}/setup/").content.decode()
    assert 'name="ladder-hold"' in page and 'value="3"' in page
    assert 'name="quiet_hours_start"' in page and 'value="09:00"' in page
    assert 'name="tier-0-from_day"' in page and 'name="privacy_words"' in page


def test_a_refused_value_is_shown_beside_its_field_and_what_was_typed_stays(client_as, clinic, morning, own_rules):
    before = dict(own_rules.rules)
    response = client_as("admin").post(
        f"/clinics/{clinic.pk}/setup/rules/",
        _typed(clinic, **{"ladder-hold": "2", "takehome_review_days": "45", "action": "save"}),
    )
    page = response.content.decode()
    assert response.status_code == 400
    assert '<span class="error" id="err-ladder-hold">steps must be strictly increasing, got 2 after 2</span>' in page
    assert 'name="takehome_review_days" type="text" inputmode="numeric" class="num" value="45"' in page
    own_rules.refresh_from_db()
    assert own_rules.rules == before


def test_quiet_hours_outside_the_federal_floor_are_refused_beside_the_field(client_as, clinic, morning, own_rules):
    response = client_as("admin").post(
        f"/clinics/{clinic.pk}/setup/rules/", _typed(clinic, quiet_hours_start="07:00", action="preview")
    )
    assert response.status_code == 400
    assert 'id="err-quiet_hours_start">must lie within 08:00–21:00' in response.content.decode()


def test_the_preview_counts_the_patients_whose_calendar_would_change(client_as, clinic, morning, own_rules, plan):
    client: Client = client_as("admin")
    same = client.post(f"/clinics/{clinic.pk}/setup/rules/", _typed(clinic, action="preview"))
    assert "0 patients' calendars would change in the next 28 days" in same.content.decode()
    assert "1 active plan " in same.content.decode()
    # A patient on take-homes between visits loses them all if every tier allows none.
    fewer = _typed(clinic, action="preview")
    for key in [k for k in fewer if k.endswith("-max_supply")]:
        fewer[key] = "0"
    plan.takehome_approved = True
    plan.attendance_weekdays = [0, 2, 4]  # Mon, Wed, Fri at the window; take-homes for the days between
    plan.save(update_fields=["takehome_approved", "attendance_weekdays"])
    changed = client.post(f"/clinics/{clinic.pk}/setup/rules/", fewer)
    assert changed.status_code == 200
    assert "1 patient's calendar would change" in changed.content.decode()
    own_rules.refresh_from_db()
    assert rules_for_clinic(clinic).takehome_tiers[-1].max_supply != 0  # a preview saves nothing


def test_saving_the_rule_set_writes_it_and_leaves_an_audit_entry(client_as, clinic, morning, own_rules, staff):
    response = client_as("admin").post(
        f"/clinics/{clinic.pk}/setup/rules/",
        _typed(clinic, takehome_review_days="30", privacy_words="Elm Street\nHarbor House", action="save"),
    )
    assert response.status_code == 302
    own_rules.refresh_from_db()
    assert own_rules.rules["takehome_review_days"] == 30
    assert own_rules.rules["privacy_words"] == ["Elm Street", "Harbor House"]
    entry = LogEntry.objects.get_for_object(own_rules).order_by("-pk").first()
    assert entry.actor == staff["admin"] and "takehome_review_days" in str(entry.changes)


def test_a_clinic_on_a_preset_gets_its_own_copy_when_it_saves(client_as, clinic, morning):
    preset = clinic.rule_set
    response = client_as("admin").post(
        f"/clinics/{clinic.pk}/setup/rules/", _typed(clinic, takehome_review_days="60", action="save")
    )
    assert response.status_code == 302
    clinic.refresh_from_db()
    assert rules_for_clinic(clinic).takehome_review_days == 60
    if preset is not None and preset.is_preset:
        assert RuleSet.objects.get(pk=preset.pk).rules.get("takehome_review_days", 90) == 90


def test_a_non_superuser_admin_sees_no_links_into_django_admin(client_as, clinic, morning, own_rules):
    page = client_as("admin").get(f"/clinics/{clinic.pk}/setup/").content.decode()
    assert "/admin/" not in page


# --- reminder templates ----------------------------------------------------------------------------


@pytest.fixture
def reminder_default(clinic):
    return MessageTemplate.objects.get(clinic__isnull=True, purpose="reminder", language="en")


def test_the_template_page_previews_the_text_for_a_sample_patient(client_as, clinic, morning, reminder_default):
    url = f"/clinics/{clinic.pk}/setup/templates/{reminder_default.pk}/"
    response = client_as("admin").post(url, {"body": "Hi {first_name}, see you {date} at {time}.", "action": "preview"})
    page = response.content.decode()
    assert response.status_code == 200
    assert '<p id="tpl-preview">Hi A., see you Tue Nov 17 at 8:30 AM.</p>' in page
    assert not MessageTemplate.objects.filter(clinic=clinic).exists()  # a preview saves nothing


def test_a_forbidden_word_is_refused_with_its_message_and_the_text_kept(client_as, clinic, morning, reminder_default):
    url = f"/clinics/{clinic.pk}/setup/templates/{reminder_default.pk}/"
    typed = "Hi {first_name}, your methadone is ready {date}."
    response = client_as("admin").post(url, {"body": typed, "action": "save"})
    page = response.content.decode()
    assert response.status_code == 400
    assert 'id="err-body" role="alert">Refused: the word “methadone” (in the template)' in page
    assert typed in page
    assert not MessageTemplate.objects.filter(clinic=clinic).exists()


def test_saving_a_default_template_makes_the_clinics_own_and_is_audited(
    client_as, clinic, morning, reminder_default, staff
):
    url = f"/clinics/{clinic.pk}/setup/templates/{reminder_default.pk}/"
    response = client_as("admin").post(url, {"body": "See you {date} at {time}. {clinic}", "action": "save"})
    assert response.status_code == 302
    own = MessageTemplate.objects.get(clinic=clinic, purpose="reminder", language="en")
    assert own.body == "See you {date} at {time}. {clinic}"
    reminder_default.refresh_from_db()
    assert reminder_default.body != own.body
    assert LogEntry.objects.get_for_object(own).get().actor == staff["admin"]


def test_only_admins_edit_templates(client_as, clinic, morning, reminder_default):
    url = f"/clinics/{clinic.pk}/setup/templates/{reminder_default.pk}/"
    response = client_as("clinician").post(url, {"body": "See you {date}.", "action": "save"})
    assert response.status_code == 403
    assert not MessageTemplate.objects.filter(clinic=clinic).exists()


# --- periodic jobs ---------------------------------------------------------------------------------


@pytest.fixture
def sweep_job(morning):
    every = IntervalSchedule.objects.create(every=5, period=IntervalSchedule.MINUTES)
    return PeriodicTask.objects.create(
        name="Missed-visit sweep",
        task="jobs.tasks.sweep_missed",
        interval=every,
        last_run_at=morning - timedelta(minutes=2),
    )


def test_the_setup_page_lists_periodic_jobs_with_last_and_next_run(client_as, clinic, morning, sweep_job):
    page = client_as("admin").get(f"/clinics/{clinic.pk}/setup/").content.decode()
    # 13:00 UTC is 08:00 in New York: last run two minutes ago, the next three minutes from now.
    assert "Missed-visit sweep" in page
    assert "Mon 2026-11-16 07:58" in page and "Mon 2026-11-16 08:03" in page
    assert "running" in page and "Pause the job Missed-visit sweep" in page


def test_an_admin_pauses_and_resumes_a_job(client_as, clinic, morning, sweep_job):
    client = client_as("admin")
    url = f"/clinics/{clinic.pk}/setup/jobs/{sweep_job.pk}/"
    assert client.post(url, {"enabled": "off"}).status_code == 302
    sweep_job.refresh_from_db()
    assert sweep_job.enabled is False
    assert sweep_job.last_run_at is not None  # the last run stays on the row
    page = client.get(f"/clinics/{clinic.pk}/setup/").content.decode()
    assert "<strong>paused</strong>" in page and "Resume the job Missed-visit sweep" in page
    client.post(url, {"enabled": "on"})
    sweep_job.refresh_from_db()
    assert sweep_job.enabled is True


@pytest.mark.parametrize("role", ["clinician", "nurse", "front_desk"])
def test_only_admins_pause_jobs(client_as, clinic, morning, sweep_job, role):
    response = client_as(role).post(f"/clinics/{clinic.pk}/setup/jobs/{sweep_job.pk}/", {"enabled": "off"})
    assert response.status_code == 403
    sweep_job.refresh_from_db()
    assert sweep_job.enabled is True


def test_a_superuser_still_gets_the_links_into_django_admin(client, clinic, morning, own_rules, staff):
    admin = staff["admin"]
    admin.is_superuser = True
    admin.save(update_fields=["is_superuser"])
    client.force_login(admin)
    page = client.get(f"/clinics/{clinic.pk}/setup/").content.decode()
    assert "/admin/" in page


def test_the_jobs_table_shows_the_last_error_and_whether_it_ran_since(client_as, clinic, morning, sweep_job):
    from notifications.jobruns import record_failure, record_success

    client = client_as("admin")
    page = client.get(f"/clinics/{clinic.pk}/setup/").content.decode()
    assert "Last error" in page and ">none<" in page
    record_failure(
        name=sweep_job.name,
        task=sweep_job.task,
        exc=ConnectionError("Redis at 10.0.0.5 refused"),
        at=morning - timedelta(minutes=7),
    )
    page = client.get(f"/clinics/{clinic.pk}/setup/").content.decode()
    assert "Mon 2026-11-16 07:53: ConnectionError: Redis at … refused" in page
    assert "has run without error since" not in page
    record_success(name=sweep_job.name, task=sweep_job.task, at=morning - timedelta(minutes=2))
    page = client.get(f"/clinics/{clinic.pk}/setup/").content.decode()
    assert "Mon 2026-11-16 07:53: ConnectionError" in page and "has run without error since" in page


def test_the_jobs_table_costs_the_same_queries_for_one_job_or_five(client_as, clinic, morning, sweep_job):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from notifications.jobruns import record_failure

    client = client_as("admin")
    with CaptureQueriesContext(connection) as one:
        client.get(f"/clinics/{clinic.pk}/setup/")
    for i in range(4):
        job = PeriodicTask.objects.create(name=f"Job {i}", task="jobs.tasks.x", interval=sweep_job.interval)
        record_failure(name=job.name, task=job.task, exc=ValueError("no"))
    with CaptureQueriesContext(connection) as five:
        page = client.get(f"/clinics/{clinic.pk}/setup/").content.decode()
    assert page.count("ValueError: no") == 4
    assert len(five.captured_queries) == len(one.captured_queries)
