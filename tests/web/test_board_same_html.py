"""The today board decides what each row offers in the view, reads the page's escalations from the day's shared
verdicts and the clinic switcher without a query (issue #16: the board's CPU a request). Staff must see exactly
what they saw: the page is rendered by the template as it was (kept beside this test) with the escalations read
by their own query and the user's clinics read again, and compared byte for byte, for every role and every kind
of row."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.http import HttpResponse
from django.template import engines
from django.test.utils import CaptureQueriesContext

from scheduler.models import DoseOrder
from tests.factories import PatientFactory, PlanFactory
from tests.web.conftest import TODAY
from visits.generation import visits_generate
from visits.models import Escalation, Visit
from web import selectors
from web.views import board, common

pytestmark = pytest.mark.django_db

BEFORE = Path(__file__).with_name("board_before_16.html").read_text()
_CSRF = re.compile(r'"[A-Za-z0-9]{64}"')  # the masked CSRF token differs in every response
ROLES = ("front_desk", "nurse", "clinician", "manager", "admin")


@pytest.fixture
def day_of_every_row(clinic, plan, morning) -> list[Visit]:
    """Rows in every state the board shows: expected, on hold, checked in, completed with a dose and bottles,
    missed, excused, a drawn screen, a call-back, a buprenorphine first dose (COWS), a changed order."""
    plans = [plan] + [
        PlanFactory(patient=PatientFactory(clinic=clinic, last_name=f"Row{i}"), start_date=TODAY - timedelta(days=9),
                    medication="buprenorphine" if i == 5 else "methadone")
        for i in range(7)
    ]
    visits_generate(plans=plans, today=TODAY, horizon_days=1)
    rows = list(Visit.objects.filter(clinic=clinic, date=TODAY).order_by("id"))
    for p in plans:
        DoseOrder.objects.create(plan=p, dose_mg=Decimal("40"), effective_date=TODAY - timedelta(days=9))
    DoseOrder.objects.create(plan=plans[6], dose_mg=Decimal("35"), effective_date=TODAY - timedelta(days=1))
    Visit.objects.create(patient=plans[6].patient, clinic=clinic, plan=plans[6], kind="dose", status="completed",
                         date=TODAY - timedelta(days=2))
    Escalation.objects.create(patient=plans[1].patient, plan=plans[1], clinic=clinic, kind="hold",
                              reason="3 days missed", consecutive_missed=3, anchor_date=TODAY - timedelta(days=4))
    Escalation.objects.create(patient=plans[2].patient, plan=plans[2], clinic=clinic, kind="outreach",
                              reason="2 days missed", consecutive_missed=2, anchor_date=TODAY - timedelta(days=3))
    now = morning
    Visit.objects.filter(pk=rows[2].pk).update(status="checked_in", checked_in_at=now, drug_screen=True)
    Visit.objects.filter(pk=rows[3].pk).update(
        status="completed", checked_in_at=now, completed_at=now, dose_mg=Decimal("37.5"), dose_reason="declined part",
        take_home_doses=2, take_home_mg=["40.00", None],
    )
    Visit.objects.filter(pk=rows[4].pk).update(status="missed", missed_at=now)
    Visit.objects.filter(pk=rows[7].pk).update(status="excused", status_reason="in hospital")
    Visit.objects.create(patient=plans[3].patient, clinic=clinic, kind="callback", status="checked_in", date=TODAY,
                         callback_bottles_handed_out=3, checked_in_at=now)
    return rows


def _page(client: Any, url: str) -> tuple[str, int]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return _CSRF.sub("", response.content.decode()), len(ctx.captured_queries)


def _as_it_was(monkeypatch) -> None:
    """The board as it was: the template kept beside this test, the page's escalations by their own query, the
    user's clinics read again."""
    template = engines["django"].from_string(BEFORE)

    def render(request: Any, name: str, context: dict[str, Any], status: int = 200) -> HttpResponse:
        assert name == "web/today.html"
        return HttpResponse(template.render(context, request), status=status)

    monkeypatch.setattr(board, "render", render)
    def escalations(*, clinic: Any, visits: list[Visit], verdicts: Any) -> Any:
        return selectors.open_escalations_by_patient(clinic=clinic, patient_ids=[v.patient_id for v in visits])

    monkeypatch.setattr(selectors, "page_escalations", escalations)
    monkeypatch.setattr(selectors, "page_verdicts", lambda **kwargs: None)  # the guard asked by every page
    monkeypatch.setattr(common, "_clinics", lambda user, clinic: list(common.clinics_for(user)))


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("shared", [False, True], ids=["verdicts-computed-by-the-page", "verdicts-shared"])
def test_the_board_says_what_it_said(client_as, clinic, day_of_every_row, role, shared, monkeypatch):
    client = client_as(role)
    url = f"/clinics/{clinic.pk}/today/"
    if shared:  # the counts endpoint (asked for as the page loads) shares the day's verdicts
        assert client.get(f"/clinics/{clinic.pk}/today/counts/").status_code == 200
    client.get(url)  # what a first page shares with the next (the session's expiry, planned take-homes)
    now, queries = _page(client, url)
    with monkeypatch.context() as m:
        _as_it_was(m)
        before, queries_before = _page(client, url)
    assert now == before
    for text in ("badge badge-checked_in", "badge badge-completed", "badge badge-missed", "badge badge-excused",
                 "badge-escalation esc-hold", "Given: <strong>37.5 mg</strong>", "+2 take-home", "Row0"):
        assert text in now
    # The clinic switcher's read and the escalations'; the guard's three (the plans' medications, the doses, the
    # escalations) too where the page's own entry, stored by the first page, serves.
    assert queries == queries_before - 2 - (0 if shared else 3)


def test_the_board_of_a_user_of_two_clinics_still_offers_the_switcher(client_as, clinic, other_clinic, staff,
                                                                       day_of_every_row, monkeypatch):
    staff["front_desk"].staff.clinics.add(other_clinic)
    client = client_as("front_desk")
    now, _ = _page(client, f"/clinics/{clinic.pk}/today/")
    with monkeypatch.context() as m:
        _as_it_was(m)
        before, _ = _page(client, f"/clinics/{clinic.pk}/today/")
    assert now == before
    assert "Switch clinic" in now and f'href="/clinics/{other_clinic.pk}/today/"' in now


def test_a_refused_completion_puts_its_row_back_as_it_did(client_as, clinic, day_of_every_row, monkeypatch):
    row = day_of_every_row[1]
    client = client_as("nurse")
    sent = {"take_home_doses": "99", "dose_mg": "40", "dose_reason": ""}
    response = client.post(f"/visits/{row.pk}/complete/", sent)
    now = _CSRF.sub("", response.content.decode())
    with monkeypatch.context() as m:
        _as_it_was(m)
        again = client.post(f"/visits/{row.pk}/complete/", sent)
    assert response.status_code == again.status_code >= 400
    assert now == _CSRF.sub("", again.content.decode())


# Each refusal puts a different error back on its row (issue #16: the rows are printed in Python now,
# web/templatetags/board_rows.py): the dose field's, the bottles', an excuse without its reason, a take-home
# number typed back with the bottles it asks for, and a scan of an unknown MRN (the scan form's).
REFUSALS = {  # role, action, what is sent, what the page shows for it
    "dose": ("nurse", "complete", {"take_home_doses": "0", "dose_mg": "lots <b>", "dose_reason": "why & how"},
             'id="dose-err-'),
    "bottles": ("nurse", "complete", {"take_home_doses": "2", "dose_mg": "40", "take_home_mg_1": "x",
                                      "take_home_mg_2": ""}, 'id="bottle-err-'),
    "take-homes typed": ("clinician", "complete", {"take_home_doses": "3", "take_home_reason": "trip <abroad>",
                                                   "dose_mg": "40", "take_home_mg_1": "40", "take_home_mg_2": "x"},
                         'value="trip &lt;abroad&gt;"'),
    "excuse": ("front_desk", "excuse", {"reason": "   "}, '<details class="excuse" open>'),
    "scan": ("front_desk", "scan", {"mrn": "NO-SUCH-<MRN>"}, 'id="scan-error"'),
}


@pytest.mark.parametrize("case", REFUSALS)
def test_each_refusal_puts_its_row_back_as_it_did(client_as, clinic, day_of_every_row, case, monkeypatch):
    role, action, sent, shown = REFUSALS[case]
    row = day_of_every_row[1] if action != "excuse" else day_of_every_row[0]
    client = client_as(role)
    url = f"/clinics/{clinic.pk}/today/scan/" if action == "scan" else f"/visits/{row.pk}/{action}/"
    response = client.post(url, sent)
    now = _CSRF.sub("", response.content.decode())
    with monkeypatch.context() as m:
        _as_it_was(m)
        again = client.post(url, sent)
    assert response.status_code == again.status_code >= 400
    assert now == _CSRF.sub("", again.content.decode())
    assert shown in now
