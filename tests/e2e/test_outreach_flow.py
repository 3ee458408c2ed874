"""The front desk's outreach in a real browser, at 1280 and 768 px (issue #13): filter the escalations inbox, log an
outreach call that was not answered, and find it in the call history on the patient page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from tests.e2e.conftest import local_today
from tests.factories import PatientFactory, PlanFactory
from visits.models import Escalation, OutreachCall

pytestmark = [pytest.mark.e2e]


def _open(plan, kind: str, days_missed: int, opened_days_ago: int) -> Escalation:
    e = Escalation.objects.create(
        patient=plan.patient,
        plan=plan,
        clinic=plan.patient.clinic,
        kind=kind,
        reason=f"{days_missed} days missed",
        consecutive_missed=days_missed,
        anchor_date=local_today() - timedelta(days=opened_days_ago + days_missed),
    )
    Escalation.objects.filter(pk=e.pk).update(created=timezone.now() - timedelta(days=opened_days_ago))
    return e


@pytest.fixture
def inbox(site):
    """Jordan: outreach opened three days ago. Rae: a hold opened three days ago. Sam: outreach opened today."""
    clinic = site["clinic"]
    plans = {
        name: PlanFactory(
            patient=PatientFactory(clinic=clinic, first_name=first, last_name=last, mrn=mrn),
            start_date=local_today() - timedelta(days=30),
        )
        for name, first, last, mrn in [
            ("jordan", "Jordan", "Okafor", "MRN-4711"),
            ("rae", "Rae", "Holden", "MRN-5150"),
            ("sam", "Sam", "Newell", "MRN-6262"),
        ]
    }
    return {
        "outreach": _open(plans["jordan"], "outreach", 2, 3),
        "hold": _open(plans["rae"], "hold", 3, 3),
        "new": _open(plans["sam"], "outreach", 2, 0),
        "patient": plans["jordan"].patient,
    }


@pytest.mark.parametrize("width", [1280, 768])
def test_the_front_desk_filters_the_inbox_and_logs_an_unanswered_call(
    page: Page, live_server, site, login, shot, inbox, width
):
    page.set_viewport_size({"width": width, "height": 1000})
    login("front_desk")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Escalations").click()
    cards = page.locator("li.patient-card")
    expect(cards).to_have_count(3)

    # Outreach steps open for more than 2 days: Jordan only (Rae's is a hold, Sam's opened today).
    page.get_by_label("Kind").select_option(label="Outreach")
    page.get_by_label("Open for").select_option(label="more than 2 days")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/escalations/?kind=outreach&age=2")
    expect(cards).to_have_count(1)
    expect(cards.first).to_contain_text("Okafor, Jordan")
    expect(page.get_by_text("Showing 1 of 3 open escalations: Outreach, open more than 2 days.")).to_be_visible()
    expect(page.get_by_label("Kind")).to_have_value("outreach")
    shot(f"escalations-filtered-{width}")

    # Log the call on Jordan's outreach step: nobody answered.
    card = cards.first
    card.get_by_label("Call note for Jordan Okafor").fill("Rang twice, no voicemail")
    button = card.get_by_role("button", name="Log call for Jordan Okafor (MRN MRN-4711): no answer")
    button.scroll_into_view_if_needed()
    button.click()
    expect(page.get_by_role("status")).to_contain_text("Call logged for Jordan Okafor (MRN MRN-4711): No answer.")
    step = page.locator(f"#escalation-{inbox['outreach'].pk}")
    expect(step.get_by_role("list", name="Calls logged")).to_contain_text("No answer — Rang twice, no voicemail")
    call = OutreachCall.objects.get()
    assert (call.escalation_id, call.outcome, call.by.username) == (
        inbox["outreach"].pk,
        "no_answer",
        "front_desk_user",
    )

    # The call history on the patient page; the escalation stays open for a clinician.
    page.get_by_role("link", name="Okafor, Jordan").first.click()
    history = page.locator("#outreach-history")
    expect(history.get_by_role("heading", name="Outreach calls and resolutions")).to_be_visible()
    expect(history).to_contain_text("No answer — Rang twice, no voicemail")
    expect(history).to_contain_text("by front_desk_user")
    assert Escalation.objects.get(pk=inbox["outreach"].pk).resolved_at is None
    shot(f"patient-call-history-{width}")
