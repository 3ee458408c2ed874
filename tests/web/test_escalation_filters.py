"""The escalations inbox filters by kind and age (issue #13): GET ?kind=hold&age=7, clinic words in the choices, a bad
value answers the page with a message (never a 500), and the page costs the same queries filtered or not."""

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
        anchor_date=date(2026, 11, 1),
    )
    Escalation.objects.filter(pk=e.pk).update(created=at)
    return e


def _cards(html: str) -> list[str]:
    return html.split('class="card patient-card"')[1:]


@pytest.fixture
def ladder(clinic, plan, morning):
    """Jordan: outreach opened 10 days ago, a hold 8 days ago. Rae: outreach opened yesterday."""
    rae = PlanFactory(patient=PatientFactory(clinic=clinic, first_name="Rae", last_name="Second", mrn="MRN-2"))
    return {
        "old_outreach": _open(plan, "outreach", 2, datetime(2026, 11, 6, 12, tzinfo=UTC)),
        "old_hold": _open(plan, "hold", 3, datetime(2026, 11, 8, 12, tzinfo=UTC)),
        "new_outreach": _open(rae, "outreach", 2, datetime(2026, 11, 15, 12, tzinfo=UTC)),
    }


def _inbox(client, clinic, query: str = ""):
    return client.get(f"/clinics/{clinic.pk}/escalations/{query}")


def test_the_filter_form_offers_kinds_and_ages_in_clinic_words(client_as, clinic, ladder):
    html = _inbox(client_as("front_desk"), clinic).content.decode()
    assert '<form method="get" class="filters" aria-label="Filter escalations">' in html
    assert '<option value="clinician_review">Clinician review</option>' in html
    assert '<option value="7">more than a week</option>' in html
    assert len(_cards(html)) == 2 and "Showing" not in html


def test_filtering_by_kind_keeps_the_patients_with_that_step(client_as, clinic, ladder):
    html = _inbox(client_as("front_desk"), clinic, "?kind=hold").content.decode()
    cards = _cards(html)
    assert len(cards) == 1 and "Okafor, Jordan" in cards[0]
    assert f'id="escalation-{ladder["old_hold"].pk}"' in cards[0]
    assert f'id="escalation-{ladder["old_outreach"].pk}"' not in cards[0]
    assert "Showing 1 of 3 open escalations: Hold." in html
    assert '<option value="hold" selected>Hold</option>' in html


def test_filtering_by_age_keeps_what_is_open_for_more_than_n_days(client_as, clinic, ladder):
    html = _inbox(client_as("nurse"), clinic, "?age=7").content.decode()
    cards = _cards(html)
    assert len(cards) == 1 and "Okafor, Jordan" in cards[0]  # opened 10 and 8 days ago; Rae's yesterday
    assert "Showing 2 of 3 open escalations: open more than 7 days." in html
    html = _inbox(client_as("nurse"), clinic, "?kind=outreach&age=9").content.decode()
    cards = _cards(html)
    assert len(cards) == 1 and f'id="escalation-{ladder["old_outreach"].pk}"' in cards[0]
    assert "Outreach, open more than 9 days" in html
    assert '<option value="9" selected>more than 9 days</option>' in html  # a number typed in the address


@pytest.mark.parametrize(
    "query, says",
    [
        ("?kind=nonsense", "Choose a kind of escalation from the list."),
        ("?age=soon", "takes a whole number of days from 0 to 365"),
        ("?age=-3", "takes a whole number of days from 0 to 365"),
        ("?age=99999", "takes a whole number of days from 0 to 365"),
        ("?age=%C2%B2", "takes a whole number of days from 0 to 365"),
        ("?kind=hold&age=1.5", "takes a whole number of days from 0 to 365"),
    ],
)
def test_a_bad_filter_answers_the_page_with_a_message(client_as, clinic, ladder, query, says):
    response = _inbox(client_as("front_desk"), clinic, query)
    assert response.status_code == 400
    html = response.content.decode()
    assert says in html and 'role="alert" id="filter-error"' in html
    assert "Showing every open escalation." in html and len(_cards(html)) == 2


def test_a_filtered_inbox_costs_the_same_queries_for_two_patients_or_ten(client_as, clinic, morning):
    client = client_as("clinician")

    def add(n: int) -> None:
        for _ in range(n):
            p = PlanFactory(patient=PatientFactory(clinic=clinic))
            _open(p, "outreach", 2, datetime(2026, 11, 4, 12, tzinfo=UTC))
            _open(p, "hold", 3, datetime(2026, 11, 5, 12, tzinfo=UTC))

    add(2)
    with CaptureQueriesContext(connection) as few:
        _inbox(client, clinic, "?kind=outreach&age=7")
    add(8)
    with CaptureQueriesContext(connection) as many:
        html = _inbox(client, clinic, "?kind=outreach&age=7").content.decode()
    assert len(_cards(html)) == 10
    assert len(many.captured_queries) == len(few.captured_queries)
