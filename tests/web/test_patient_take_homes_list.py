"""The patient page's "Take-homes handed out" list (read with only the columns it shows, issue #16): date, doses,
the day they cover through, who completed the visit and unreturned bottles; newest first; no query per row."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import PatientFactory, PlanFactory
from visits.models import Visit

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("morning")]


def handed_out(plan, on: date, doses: int, **fields) -> Visit:
    return Visit.objects.create(
        patient=plan.patient, clinic=plan.patient.clinic, plan=plan, kind="dose", date=on, status="completed",
        source="manual", take_home_doses=doses, covered_through=on + timedelta(days=doses), **fields,
    )


def take_homes_list(html: str) -> str:
    match = re.search(r'<h2 id="th-title">Take-homes handed out</h2>\s*<ul class="plain">(.*?)</ul>', html, re.S)
    assert match, "no take-homes list"
    return match.group(1)


def test_the_list_says_what_was_handed_out_by_whom_newest_first(client_as, clinic, staff):
    plan = PlanFactory(patient=PatientFactory(clinic=clinic), start_date=date(2026, 11, 1))
    handed_out(plan, date(2026, 11, 12), 1)
    handed_out(plan, date(2026, 11, 13), 2, completed_by=staff["nurse"], bottles_returned=False)
    items = re.findall(r"<li>(.*?)</li>", take_homes_list(
        client_as("manager").get(f"/patients/{plan.patient.pk}/").content.decode()
    ), re.S)
    assert items[0] == (
        '2026-11-13: 2 doses (covers through 2026-11-15) <span class="muted small">by nurse_user</span> '
        '<span class="badge badge-missed">bottles not returned</span>'
    )
    assert items[1] == "2026-11-12: 1 dose (covers through 2026-11-13)"


def test_more_rows_cost_no_more_queries(client_as, clinic, staff):
    plan = PlanFactory(patient=PatientFactory(clinic=clinic), start_date=date(2026, 11, 1))
    client = client_as("manager")
    handed_out(plan, date(2026, 11, 2), 1, completed_by=staff["nurse"])
    client.get(f"/patients/{plan.patient.pk}/")
    with CaptureQueriesContext(connection) as one:
        client.get(f"/patients/{plan.patient.pk}/")
    for day in range(3, 12):
        handed_out(plan, date(2026, 11, day), 1, completed_by=staff["clinician"], bottles_returned=True)
    with CaptureQueriesContext(connection) as ten:
        html = client.get(f"/patients/{plan.patient.pk}/").content.decode()
    assert len(ten.captured_queries) == len(one.captured_queries)
    assert take_homes_list(html).count("by clinician_user") == 9
