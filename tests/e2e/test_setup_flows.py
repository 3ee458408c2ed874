"""Setup in a real browser, at 1280 and 768 px (issue #13): a clinician changes the rule set and sees the preview;
the admin pauses a periodic job and resumes it, with its last run, next run and last error in the table."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from playwright.sync_api import Page, expect

from notifications.jobruns import record_failure
from scheduler.models import Clinic
from scheduler.selectors import rules_for_clinic

pytestmark = [pytest.mark.e2e]


@pytest.mark.parametrize("width", [1280, 768])
def test_a_clinician_changes_the_rule_set_after_seeing_the_preview(
    page: Page, live_server, site, login, shot, dosing_patient, width
):
    clinic = site["clinic"]
    before = rules_for_clinic(clinic)
    page.set_viewport_size({"width": width, "height": 1000})
    login("clinician")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Setup").click()
    expect(page.get_by_role("heading", name="Rule set")).to_be_visible()
    expect(page.get_by_role("heading", name="Periodic jobs")).to_have_count(0)  # admins only
    expect(page.locator("a[href^='/admin/']")).to_have_count(0)

    # Raise the review period and the first take-home tier's weekly limit, then preview.
    review = page.get_by_label("Take-home review at least every (days)")
    review.fill(str(before.takehome_review_days + 30))
    tier = page.locator("#id_tier-0-max_supply")
    tier.fill(str((before.takehome_tiers[0].max_supply or 0) + 1))
    page.get_by_role("button", name="Preview").click()
    preview = page.locator("#rules-preview")
    expect(preview).to_be_visible()
    expect(preview).to_have_text(
        re.compile(
            r"\d+ patients?'s? calendars? would change in the next 28 days .*1 active plan .*Nothing is saved yet\."
        )
    )
    expect(page.get_by_label("Take-home review at least every (days)")).to_have_value(
        str(before.takehome_review_days + 30)
    )
    assert rules_for_clinic(Clinic.objects.get(pk=clinic.pk)).takehome_review_days == before.takehome_review_days
    shot(f"setup-rules-preview-clinician-{width}")

    save = page.get_by_role("button", name="Save rule set")
    save.scroll_into_view_if_needed()
    save.click()
    expect(page.get_by_role("status")).to_contain_text("Saved the rule set; future visits follow the new rules.")
    expect(page.get_by_label("Take-home review at least every (days)")).to_have_value(
        str(before.takehome_review_days + 30)
    )
    after = rules_for_clinic(Clinic.objects.get(pk=clinic.pk))
    assert after.takehome_review_days == before.takehome_review_days + 30
    assert after.takehome_tiers[0].max_supply == (before.takehome_tiers[0].max_supply or 0) + 1
    shot(f"setup-rules-saved-clinician-{width}")


@pytest.fixture
def sweep_job(site):
    every = IntervalSchedule.objects.create(every=5, period=IntervalSchedule.MINUTES)
    job = PeriodicTask.objects.create(
        name="Missed-visit sweep",
        task="visits.tasks.mark_missed_visits",
        interval=every,
        last_run_at=timezone.now() - timedelta(minutes=2),
    )
    record_failure(name=job.name, task=job.task, exc=TimeoutError("the database did not answer"))
    return job


@pytest.mark.parametrize("width", [1280, 768])
def test_the_admin_pauses_a_periodic_job_and_resumes_it(page: Page, live_server, site, login, shot, sweep_job, width):
    page.set_viewport_size({"width": width, "height": 1000})
    login("admin")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Setup").click()
    row = page.locator("tr", has_text="Missed-visit sweep")
    expect(row).to_contain_text("TimeoutError: the database did not answer")
    expect(row).to_contain_text("running")

    row.get_by_role("button", name="Pause the job Missed-visit sweep").click()
    expect(page.get_by_role("status")).to_contain_text("Paused the job “Missed-visit sweep”.")
    row = page.locator("tr", has_text="Missed-visit sweep")
    expect(row).to_contain_text("paused")
    expect(row.locator("td").nth(3)).to_have_text("—")  # a paused job has no next run
    sweep_job.refresh_from_db()
    assert sweep_job.enabled is False
    shot(f"setup-job-paused-{width}")

    row.get_by_role("button", name="Resume the job Missed-visit sweep").click()
    expect(page.get_by_role("status")).to_contain_text("Resumed the job “Missed-visit sweep”.")
    expect(page.locator("tr", has_text="Missed-visit sweep")).to_contain_text("running")
    sweep_job.refresh_from_db()
    assert sweep_job.enabled is True
