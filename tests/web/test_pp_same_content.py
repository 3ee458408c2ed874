"""The patient page shares its reads between panels (issue #16): the clinic's windows (the strip's calendar and the
take-home reviews), the rule set, the plans' medications and the open escalations (the guard's answers). The page
must say exactly what it said when each panel read them itself."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from scheduler.models import Plan
from tests.factories import ClosureFactory, PauseFactory, PlanFactory
from tests.web.conftest import TODAY
from visits.generation import visits_generate
from visits.models import Escalation
from web import selectors
from web.views import patients as view

pytestmark = pytest.mark.django_db


def _by_id(e: Any) -> int:
    return e.id


_CSRF = re.compile(r'"[A-Za-z0-9]{64}"')  # the masked CSRF token differs in every response


def _escalation(plan: Plan, kind: str, reason: str, *, resolved: bool = False, streak_from: int = 4) -> Escalation:
    e = Escalation.objects.create(
        patient=plan.patient,
        plan=plan,
        clinic=plan.patient.clinic,
        kind=kind,
        reason=reason,
        consecutive_missed=3,
        anchor_date=TODAY - timedelta(days=streak_from),
    )
    if resolved:
        Escalation.objects.filter(pk=e.pk).update(resolved_at=e.created + timedelta(hours=1))
    return e


def _page(client, patient_id: int) -> tuple[str, int]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(f"/patients/{patient_id}/")
    assert response.status_code == 200
    return _CSRF.sub("", response.content.decode()), len(ctx.captured_queries)


def _each_panel_reads_its_own(monkeypatch) -> None:
    """The page as it was: every panel called without what the view now reads once for all of them."""
    strip, dosing, reviews = selectors.attendance_strip, selectors.dosing_today, view.takehome_reviews
    upcoming = selectors.patient_next_visits
    monkeypatch.setattr(selectors, "patient_next_visits", lambda *, plans=None, **kw: upcoming(**kw))
    monkeypatch.setattr(selectors, "attendance_strip", lambda *, calendar=None, **kw: strip(**kw))
    monkeypatch.setattr(selectors, "dosing_today", lambda *, escalations=None, **kw: dosing(**kw))
    monkeypatch.setattr(
        view, "takehome_reviews", lambda plans, *, now, windows=None, rules=None: reviews(plans, now=now)
    )


@pytest.fixture
def naltrexone(plan) -> Plan:
    return PlanFactory(patient=plan.patient, medication="naltrexone_xr", interval_days=28, attendance_weekdays=[])


def test_the_page_says_the_same_with_its_reads_shared(client_as, clinic, plan, naltrexone, morning, monkeypatch):
    Plan.objects.filter(pk=plan.pk).update(attendance_weekdays=[0, 1, 2, 3, 4])  # earns Saturday's take-home
    plan.refresh_from_db()
    visits_generate(plans=[plan, naltrexone], today=TODAY, horizon_days=14)
    ClosureFactory(clinic=clinic, date=TODAY + timedelta(days=3), reason="Staff training")
    PauseFactory(plan=plan, start=TODAY + timedelta(days=5), end=TODAY + timedelta(days=6))
    _escalation(naltrexone, "hold", "3 consecutive days without medication")  # blocks every dose
    _escalation(plan, "outreach", "2 days missed")  # open, blocks nothing
    _escalation(plan, "clinician_review", "reviewed last week", resolved=True)  # resolved: blocks nothing
    client = client_as("clinician")

    shared, shared_queries = _page(client, plan.patient_id)
    _each_panel_reads_its_own(monkeypatch)
    own, own_queries = _page(client, plan.patient_id)

    assert "plan on hold: hold since Mon 16 Nov" in shared  # the guard's answer, from the shared escalations
    assert "cell cell-closure" in shared, re.findall(r"cell cell-[a-z_]+", shared)
    assert "Take-home review" in shared, re.findall(r"[Tt]ake-home[^<]{0,30}", shared)
    assert shared == own
    # Saved: the windows and the rule set read again for the reviews, the plans' medications and the open
    # escalations for the guard.
    assert own_queries - shared_queries == 4


def test_an_open_escalation_past_the_pages_read_still_blocks(client_as, plan, today_visit, monkeypatch):
    """Open escalations come first in the page's read; when the read is cut short on an open one, the guard reads
    them itself, so one past the cut still blocks."""
    _escalation(plan, "hold", "3 consecutive days without medication")  # the oldest: last of the open ones
    for n in range(3):
        _escalation(plan, "outreach", f"{n + 2} days missed", streak_from=n + 5)
    monkeypatch.setattr(view, "ESCALATIONS_READ", 2)
    html, _ = _page(client_as("nurse"), plan.patient_id)
    assert "plan on hold: hold since Mon 16 Nov" in html


def test_the_guard_reads_the_same_open_escalations_from_the_pages_list(plan, naltrexone, morning):
    from visits.selectors import guard_escalations, open_guard_escalations

    _escalation(naltrexone, "hold", "on hold")
    _escalation(plan, "restart", "restart")
    _escalation(plan, "retitration", "retitration", resolved=True)
    _escalation(plan, "outreach", "outreach")
    read = list(plan.patient.escalations.select_related("plan"))
    expected = {k: sorted(v, key=_by_id) for k, v in guard_escalations([plan.patient_id]).items()}
    assert {k: sorted(v, key=_by_id) for k, v in open_guard_escalations(read).items()} == expected
    assert [e.kind for e in expected[plan.patient_id]] == ["hold", "restart"]
    assert open_guard_escalations([]) == {}


def test_a_patient_without_plans_reads_no_windows(client_as, patient, morning):
    with CaptureQueriesContext(connection) as ctx:
        assert client_as("nurse").get(f"/patients/{patient.pk}/").status_code == 200
    assert not any('FROM "scheduler_dosingwindow"' in q["sql"] for q in ctx.captured_queries)
