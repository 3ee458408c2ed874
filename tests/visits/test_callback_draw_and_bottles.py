"""Issue #15, call-backs finished: the hourly draw books through callback_start and sends a neutral text (no
treatment or bottle words; the privacy filter passes it), check-in counts the bottles brought against those handed
out, and a short count escalates and suspends earned take-homes until a clinician approves them again."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from notifications import replanning
from notifications.models import Message
from notifications.privacy import find_forbidden
from scheduler.models import Plan
from tests.factories import PatientFactory, PlanFactory
from tests.visits.conftest import MONDAY, make_visit
from visits import screening
from visits.models import Escalation, Visit

pytestmark = pytest.mark.django_db

# Monday 2 November 2026, 09:30 in New York: inside the clinic's drawing hours (09:00–17:00), before the 11:00
# call-back window.
DRAW_TIME = datetime(2026, 11, 2, 14, 30, tzinfo=UTC)


class Always(random.Random):
    def random(self) -> float:
        return 0.0


@pytest.fixture
def at_draw_time():
    with time_machine.travel(DRAW_TIME, tick=False) as traveller:
        yield traveller


@pytest.fixture
def holder(clinic, oral_window):
    """Dosed on Saturday with 3 take-home bottles: holds take-homes through Tuesday; earned take-homes approved."""
    patient = PatientFactory(clinic=clinic, first_name="Dana", language="en")
    plan = PlanFactory(patient=patient, medication="methadone", start_date=MONDAY - timedelta(days=60),
                       attendance_weekdays=[0, 2, 4])
    Plan.objects.filter(pk=plan.pk).update(takehome_approved=True)
    make_visit(patient, window=oral_window, plan=plan, day=MONDAY - timedelta(days=2), status="completed",
               take_home_doses=3, covered_through=MONDAY + timedelta(days=1))
    return patient


def test_the_draw_books_a_call_back_and_sends_a_neutral_text(holder, clinic, at_draw_time):
    made = replanning.callbacks_draw(rng=Always())
    [visit] = Visit.objects.filter(pk__in=made)
    assert (visit.patient_id, visit.kind, visit.date, visit.status) == (holder.pk, "callback", MONDAY, "scheduled")
    assert visit.start.astimezone(UTC) == datetime(2026, 11, 2, 16, 0, tzinfo=UTC)  # 11:00 in New York
    message = Message.objects.get(visit=visit, purpose="callback")
    assert message.body == "Hi Dana, please contact Riverside Health today: +12125550100. Reply STOP to opt out."
    assert find_forbidden(message.body) is None
    for word in ("bottle", "dose", "take-home", "methadone", "clinic visit", "call-back"):
        assert word not in message.body.lower()
    # Safe to run again: the open call-back keeps the patient out of the next draw.
    assert replanning.callbacks_draw(rng=Always()) == []


def test_the_spanish_text_is_neutral_too(holder, at_draw_time):
    holder.language = "es"
    holder.save()
    replanning.callbacks_draw(rng=Always())
    body = Message.objects.get(patient=holder, purpose="callback").body
    assert body.startswith("Hola Dana, por favor contacte hoy con Riverside Health")
    assert find_forbidden(body) is None


def test_a_patient_who_may_not_be_texted_is_still_called_back_without_a_text(holder, at_draw_time):
    holder.sms_consent = False
    holder.save()
    [visit_id] = replanning.callbacks_draw(rng=Always())
    assert Visit.objects.get(pk=visit_id).kind == "callback"
    assert not Message.objects.filter(patient=holder).exists()


def test_the_draw_never_calls_a_patient_without_take_homes(clinic, oral_window, at_draw_time):
    patient = PatientFactory(clinic=clinic)
    plan = PlanFactory(patient=patient, start_date=MONDAY - timedelta(days=60))
    make_visit(patient, window=oral_window, plan=plan, day=MONDAY - timedelta(days=1), status="completed",
               covered_through=MONDAY - timedelta(days=1))
    assert replanning.callbacks_draw(rng=Always()) == []
    assert not Visit.objects.filter(kind="callback").exists()


def test_a_clinic_without_rates_draws_nobody(holder, clinic, at_draw_time):
    clinic.rule_set.rules = {**clinic.rule_set.rules, "callback_rates": []}
    clinic.rule_set.save()
    assert replanning.callbacks_draw(rng=Always()) == []


def test_a_drawn_call_back_leaves_the_patient_time_to_come(holder, at_draw_time):
    at_draw_time.move_to(datetime(2026, 11, 2, 16, 30, tzinfo=UTC))  # 11:30: today's window closes at 13:00
    [visit_id] = replanning.callbacks_draw(rng=Always())
    assert Visit.objects.get(pk=visit_id).date == MONDAY + timedelta(days=1)  # tomorrow's window, within 24 h


def test_the_draw_uses_the_systems_unguessable_generator(holder, at_draw_time, monkeypatch):
    made = []

    class Spy(random.SystemRandom):
        def __init__(self, *args, **kwargs):
            made.append(self)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(screening.random, "SystemRandom", Spy)
    screening.callbacks_drawn(clinic=holder.clinic, now=DRAW_TIME)
    assert made


def test_the_draw_job_is_a_celery_task_that_reports_what_it_made(holder, at_draw_time, monkeypatch):
    from jobs import tasks

    monkeypatch.setattr(screening.random, "SystemRandom", Always)
    assert tasks.draw_callbacks() == {"callbacks": 1}


# --- bottles ----------------------------------------------------------------------------------------


def _checked_in_call_back(holder, api_as):
    visit = replanning.callback_start(patient=holder, by=None, drawn=True)
    return visit, api_as("front_desk")


def test_all_bottles_brought_at_check_in_raise_nothing(holder, api_as, at_draw_time):
    visit, api = _checked_in_call_back(holder, api_as)
    response = api.post(f"/api/v1/visits/{visit.pk}/check-in/", {"bottles_brought": 3}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["callback_bottles_brought"], body["callback_bottles_handed_out"]) == (
        "checked_in", 3, 3)
    assert not Escalation.objects.filter(patient=holder).exists()
    assert Plan.objects.get(patient=holder).takehome_approved is True


def test_a_short_count_escalates_and_suspends_take_homes_until_a_clinician_approves(holder, api_as, staff,
                                                                                  at_draw_time):
    visit, api = _checked_in_call_back(holder, api_as)
    assert api.post(f"/api/v1/visits/{visit.pk}/check-in/", {}, format="json").status_code == 200
    response = api.post(f"/api/v1/visits/{visit.pk}/callback-bottles/", {"bottles_brought": 1}, format="json")
    assert response.status_code == 200, response.content
    escalation = Escalation.objects.get(patient=holder, kind="callback")
    assert "1 of 3" in escalation.reason and escalation.visit_id == visit.pk
    plan = Plan.objects.get(patient=holder)
    assert (plan.takehome_approved, plan.takehome_suspended_on) == (False, MONDAY)
    # Suspended take-home days became visit days: Tuesday (a take-home day of a Mon/Wed/Fri plan) is now a visit.
    assert Visit.objects.filter(plan=plan, date=MONDAY + timedelta(days=8), status="scheduled").exists()
    # Not a hold: today's dose is still given.
    from visits.selectors import guard_escalations

    assert guard_escalations([holder.pk]) == {}
    # Counted once.
    again = api.post(f"/api/v1/visits/{visit.pk}/callback-bottles/", {"bottles_brought": 3}, format="json")
    assert again.status_code == 409
    # A clinician resolves it and approves the take-homes again.
    resolved = api_as("clinician").post(f"/api/v1/escalations/{escalation.pk}/resolve/",
                                        {"note": "bottles found at home, brought in later"}, format="json")
    assert resolved.status_code == 200
    approved = api_as("clinician").post(f"/api/v1/plans/{plan.pk}/takehome-review/", {"approved": True},
                                        format="json")
    assert approved.status_code in (200, 201), approved.content
    assert Plan.objects.get(pk=plan.pk).takehome_approved is True


@pytest.mark.parametrize("body", [{"bottles_brought": -1}, {"bottles_brought": "three"}, {}, {"bottles_brought": 100}])
def test_a_bottle_count_that_is_not_a_number_is_refused_naming_the_field(holder, api_as, at_draw_time, body):
    visit, api = _checked_in_call_back(holder, api_as)
    api.post(f"/api/v1/visits/{visit.pk}/check-in/", {}, format="json")
    response = api.post(f"/api/v1/visits/{visit.pk}/callback-bottles/", body, format="json")
    assert response.status_code == 400
    assert "bottles_brought" in response.json()


def test_bottles_are_counted_only_at_a_call_back(api_as, visit, staff):
    response = api_as("front_desk").post(f"/api/v1/visits/{visit.pk}/check-in/", {"bottles_brought": 2},
                                         format="json")
    assert response.status_code == 400 and "bottles_brought" in response.json()
    Visit.objects.filter(pk=visit.pk).update(status="checked_in")
    counted = api_as("front_desk").post(f"/api/v1/visits/{visit.pk}/callback-bottles/", {"bottles_brought": 2},
                                        format="json")
    assert counted.status_code == 409


def test_bottles_are_counted_after_check_in_not_before(holder, api_as, at_draw_time):
    visit, api = _checked_in_call_back(holder, api_as)
    response = api.post(f"/api/v1/visits/{visit.pk}/callback-bottles/", {"bottles_brought": 3}, format="json")
    assert response.status_code == 409


def test_managers_do_not_count_bottles(holder, api_as, at_draw_time):
    visit, api = _checked_in_call_back(holder, api_as)
    api.post(f"/api/v1/visits/{visit.pk}/check-in/", {}, format="json")
    assert api_as("manager").post(f"/api/v1/visits/{visit.pk}/callback-bottles/", {"bottles_brought": 3},
                                  format="json").status_code == 403


def test_the_management_command_runs_the_same_draw(holder, at_draw_time, monkeypatch):
    from io import StringIO

    from django.core.management import call_command

    monkeypatch.setattr(screening.random, "SystemRandom", Always)
    out = StringIO()
    call_command("draw_callbacks", stdout=out)
    assert "1 call-back(s) booked" in out.getvalue()
    assert Visit.objects.filter(patient=holder, kind="callback").count() == 1


def test_a_call_back_missed_long_ago_raises_nothing_now(holder, oral_window, clinic, frozen):
    from jobs.tasks import run_mark_missed

    old = make_visit(holder, window=clinic.windows.get(start=oral_window.start), kind="callback",
                     day=MONDAY - timedelta(days=20), status="missed")
    run_mark_missed(notify=False)
    assert not Escalation.objects.filter(visit=old).exists()
    assert Plan.objects.get(patient=holder).takehome_approved is True
