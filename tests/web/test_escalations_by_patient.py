"""The escalations inbox groups by patient: one card per patient with the ladder's open steps together."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import PatientFactory, PlanFactory
from visits.models import Escalation

pytestmark = pytest.mark.django_db


def _open(plan, kind: str, days: int, at: datetime) -> Escalation:
    e = Escalation.objects.create(
        patient=plan.patient,
        plan=plan,
        clinic=plan.patient.clinic,
        kind=kind,
        reason=f"{days} days missed",
        consecutive_missed=days,
        anchor_date=date(2026, 11, 10),
    )
    Escalation.objects.filter(pk=e.pk).update(created=at)
    return e


def _cards(html: str) -> list[str]:
    return html.split('class="card patient-card"')[1:]


def test_a_patients_ladder_steps_share_one_card_in_the_order_opened(client_as, clinic, plan, morning):
    outreach = _open(plan, "outreach", 2, datetime(2026, 11, 14, 12, tzinfo=UTC))
    hold = _open(plan, "hold", 3, datetime(2026, 11, 15, 12, tzinfo=UTC))
    html = client_as("clinician").get(f"/clinics/{clinic.pk}/escalations/").content.decode()
    cards = _cards(html)
    assert len(cards) == 1
    card = cards[0]
    assert "Okafor, Jordan" in card and "Born 9 March 1980" in card and "MRN MRN-4711" in card
    assert "3 days without medication" in card and "2 open steps" in card
    assert card.index(f'id="escalation-{outreach.pk}"') < card.index(f'id="escalation-{hold.pk}"')
    assert 'aria-label="Resolve Hold for Jordan Okafor (MRN MRN-4711)"' in card


def test_the_most_pressing_patient_comes_first(client_as, clinic, plan, morning):
    other = PlanFactory(patient=PatientFactory(clinic=clinic, first_name="Rae", last_name="Second"))
    _open(plan, "outreach", 2, datetime(2026, 11, 14, 12, tzinfo=UTC))
    _open(other, "reinduction", 5, datetime(2026, 11, 15, 12, tzinfo=UTC))
    cards = _cards(client_as("nurse").get(f"/clinics/{clinic.pk}/escalations/").content.decode())
    assert ["Second, Rae" in cards[0], "Okafor, Jordan" in cards[1]] == [True, True]


def test_resolved_steps_leave_the_card(client_as, clinic, plan, morning):
    hold = _open(plan, "hold", 3, datetime(2026, 11, 15, 12, tzinfo=UTC))
    Escalation.objects.filter(pk=hold.pk).update(resolved_at=morning)
    html = client_as("clinician").get(f"/clinics/{clinic.pk}/escalations/").content.decode()
    assert _cards(html) == []
    assert "None open." in html


def test_the_inbox_costs_the_same_queries_for_two_patients_or_ten(client_as, clinic, morning):
    client = client_as("clinician")

    def add(n: int) -> None:
        for _ in range(n):
            p = PlanFactory(patient=PatientFactory(clinic=clinic))
            _open(p, "outreach", 2, datetime(2026, 11, 14, 12, tzinfo=UTC))
            _open(p, "hold", 3, datetime(2026, 11, 15, 12, tzinfo=UTC))

    add(2)
    with CaptureQueriesContext(connection) as few:
        client.get(f"/clinics/{clinic.pk}/escalations/")
    add(8)
    with CaptureQueriesContext(connection) as many:
        html = client.get(f"/clinics/{clinic.pk}/escalations/").content.decode()
    assert len(_cards(html)) == 10
    assert len(many.captured_queries) == len(few.captured_queries)
