"""A dose pathway in a real browser (issue #14), on a desktop and on a dosing-room tablet: a clinician orders
30 mg for a new methadone patient, the nurse sees 30 mg due on the board and gives 25 mg with a reason, and the
patient page shows the order and the 25 mg given."""

from __future__ import annotations

from decimal import Decimal

import pytest
from playwright.sync_api import Page, expect

from scheduler.models import DoseOrder
from tests.e2e.conftest import local_today
from tests.factories import PatientFactory, PlanFactory
from visits.generation import visits_generate
from visits.models import Visit

pytestmark = [pytest.mark.e2e]


@pytest.mark.parametrize("width,height", [(1280, 900), (768, 1024)])
def test_order_then_give_less_with_a_reason_then_see_both_on_the_patient_page(
    page: Page, live_server, site, login, shot, width, height
):
    page.set_viewport_size({"width": width, "height": height})
    today = local_today()
    patient = PatientFactory(clinic=site["clinic"], first_name="Noa", last_name="Newstart", mrn="MRN-3030")
    plan = PlanFactory(patient=patient, start_date=today, treatment_start=today)
    visits_generate(plans=[plan], today=today, horizon_days=1)
    visit = Visit.objects.get(plan=plan, date=today)

    # The clinician orders 30 mg from today on the patient page.
    login("clinician")
    page.goto(f"{live_server.url}/patients/{patient.pk}/")
    doses = page.locator(f"#doses-{plan.pk}")
    expect(doses.get_by_role("heading", level=3)).to_contain_text("no dose order in force today")
    doses.get_by_label("Dose (mg)", exact=True).fill("30")
    expect(doses.get_by_label("From (clinic date)")).to_have_value(today.isoformat())
    doses.get_by_label("Note", exact=False).first.fill("induction, first dose")
    doses.get_by_role("button", name="Order dose for Noa Newstart").click()
    expect(page.get_by_role("status")).to_contain_text(
        f"Dose ordered for Noa Newstart (Methadone): 30 mg from {today.isoformat()}."
    )
    assert DoseOrder.objects.get(plan=plan).dose_mg == Decimal("30.00")
    shot(f"dose-pathway-ordered-{width}")
    page.get_by_role("button", name="Log out").click()

    # The nurse sees 30 mg due on the board, checks the patient in and gives 25 mg with a reason.
    login("nurse")
    row = page.locator(f"#visit-{visit.pk}")
    expect(row.locator(".dose-due")).to_have_text("Due: 30 mg")
    expect(row.get_by_label("Dose given (mg)")).to_have_value("30")
    row.get_by_role("button", name="Check in Noa Newstart").click()
    row = page.locator(f"#visit-{visit.pk}")
    row.get_by_label("Dose given (mg)").fill("25")
    row.get_by_role("button", name="Complete visit for Noa Newstart").click()
    # Less than the order without a reason: refused beside the field, the amount kept.
    row = page.locator(f"#visit-{visit.pk}")
    expect(row.locator(f"#dose-err-{visit.pk}")).to_contain_text("25 mg is less than the order (30 mg)")
    expect(row.get_by_label("Dose given (mg)")).to_have_value("25")
    shot(f"dose-pathway-refused-{width}")
    row.get_by_label("Reason (if less than ordered)").fill("patient declined part")
    row.get_by_role("button", name="Complete visit for Noa Newstart").click()
    expect(page.get_by_role("status")).to_contain_text("Completed: Noa Newstart, 25 mg given (patient declined part).")
    expect(page.locator(f"#given-{visit.pk}")).to_contain_text("Given: 25 mg (patient declined part)")
    shot(f"dose-pathway-given-{width}")

    # The patient page shows the order and the amount given.
    page.goto(f"{live_server.url}/patients/{patient.pk}/")
    doses = page.locator(f"#doses-{plan.pk}")
    expect(doses.locator(".dose-orders tbody tr")).to_have_count(1)
    expect(doses.locator(".dose-orders tbody tr").first).to_contain_text("30 mg")
    expect(doses.locator(".dose-orders tbody tr").first).to_contain_text("induction, first dose")
    given = doses.locator(".doses-given tbody tr").first
    expect(given).to_contain_text("25 mg")
    expect(given).to_contain_text("patient declined part")
    expect(doses.get_by_role("button", name="Order dose for Noa Newstart")).to_have_count(0)  # nurses give
    shot(f"dose-pathway-patient-{width}")
