"""Take-home review (DOMAIN §6): earned take-homes are reviewed by a clinician at least every N days (rule set)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from auditlog.models import LogEntry

from scheduler.rules import PRESETS, Rules
from scheduler.selectors import takehome_reviews, takehome_reviews_due
from tests.factories import PatientFactory, PlanFactory

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 16, 15, 0, tzinfo=UTC)  # Monday, 10:00 in New York


def oral(clinic, weekdays, **kw):
    fields = {"medication": "methadone", "start_date": date(2026, 9, 1), **kw}
    return PlanFactory(patient=PatientFactory(clinic=clinic), attendance_weekdays=weekdays, **fields)


def test_only_plans_with_earned_take_homes_need_a_review(clinic):
    # The clinic doses methadone Monday to Saturday; Sunday is closed (a closure take-home, not earned).
    every_open_day = oral(clinic, [0, 1, 2, 3, 4, 5])
    three_days = oral(clinic, [0, 2, 4])
    every_other_week = oral(clinic, [0, 1, 2, 3, 4, 5], attendance_every_weeks=2)
    buprenorphine = oral(clinic, [0], medication="buprenorphine")
    injection = PlanFactory(patient=PatientFactory(clinic=clinic), medication="naltrexone_xr", interval_days=28)
    ended = oral(clinic, [0], status="ended")
    reviews = takehome_reviews(
        [every_open_day, three_days, every_other_week, buprenorphine, injection, ended], now=NOW
    )
    assert set(reviews) == {three_days.pk, every_other_week.pk, buprenorphine.pk}
    never = reviews[three_days.pk]
    assert (never.reviewed_at, never.due_on, never.overdue) == (None, date(2026, 9, 1), True)


def test_a_review_is_due_the_rule_sets_days_later_in_clinic_local_dates(clinic, staff):
    plan = oral(clinic, [0, 2, 4])
    # 23:30 New York on 1 Sep is already 2 Sep in UTC: the local date counts.
    plan.takehome_approved_at = datetime(2026, 9, 2, 3, 30, tzinfo=UTC)
    plan.takehome_approved_by = staff["clinician"]
    plan.save()
    review = takehome_reviews([plan], now=NOW)[plan.pk]
    assert review.due_on == date(2026, 9, 1) + timedelta(days=90) == date(2026, 11, 30)
    assert not review.overdue and review.reviewed_by_id == staff["clinician"].pk
    assert takehome_reviews([plan], now=datetime(2026, 11, 30, 15, 0, tzinfo=UTC))[plan.pk].overdue

    clinic.rule_set.rules = {**clinic.rule_set.rules, "takehome_review_days": 30}
    clinic.rule_set.save()
    plan.refresh_from_db()
    assert takehome_reviews([plan], now=NOW)[plan.pk].due_on == date(2026, 10, 1)


def test_a_stored_rule_set_without_the_field_reviews_every_90_days():
    rules = {k: v for k, v in PRESETS["US federal 2024"].items() if k != "takehome_review_days"}
    assert Rules.from_dict({**rules, "name": "old copy"}).takehome_review_days == 90
    with pytest.raises(ValueError, match="takehome_review_days: expected a whole number"):
        Rules.from_dict({**rules, "name": "bad", "takehome_review_days": "often"})
    with pytest.raises(ValueError, match="takehome_review_days"):
        Rules.from_dict({**rules, "name": "bad", "takehome_review_days": 0})


def test_the_clinics_due_list_is_most_overdue_first_in_two_queries(clinic, staff, django_assert_num_queries):
    late = oral(clinic, [0, 2, 4], start_date=date(2026, 6, 1))
    later = oral(clinic, [1, 3])
    fresh = oral(clinic, [0, 2, 4], takehome_approved_at=NOW - timedelta(days=3))
    with django_assert_num_queries(2):  # plans with clinic and rule set; the clinic's windows
        due = takehome_reviews_due(clinic=clinic, now=NOW)
    assert [plan.pk for plan, _ in due] == [late.pk, later.pk]
    assert fresh.pk not in {plan.pk for plan, _ in due}


@pytest.mark.parametrize("role", ["clinician", "admin"])
def test_clinicians_record_a_review_through_the_api(api_as, clinic, staff, role):
    plan = oral(clinic, [0, 2, 4])
    with time_machine.travel(NOW, tick=False):
        response = api_as(role).post(f"/api/v1/plans/{plan.pk}/takehome-review/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["takehome_reviewed_at"] == "2026-11-16T15:00:00Z" and body["takehome_reviewed_by"] == staff[role].pk
    assert api_as("front_desk").get(f"/api/v1/plans/{plan.pk}/").json()["takehome_reviewed_by"] == staff[role].pk
    assert not takehome_reviews([plan.__class__.objects.get(pk=plan.pk)], now=NOW)[plan.pk].overdue
    entry = LogEntry.objects.get_for_object(plan).filter(action=LogEntry.Action.UPDATE).latest("timestamp")
    assert entry.actor == staff[role] and "takehome_approved_at" in entry.changes_dict


@pytest.mark.parametrize("role", ["front_desk", "nurse", "manager"])
def test_other_roles_may_not_record_a_review(api_as, clinic, role):
    plan = oral(clinic, [0, 2, 4])
    assert api_as(role).post(f"/api/v1/plans/{plan.pk}/takehome-review/").status_code == 403
    plan.refresh_from_db()
    assert plan.takehome_approved_at is None


def test_reviews_are_clinic_scoped_and_need_an_active_plan(api_as, other_api, anon, clinic):
    plan = oral(clinic, [0, 2, 4])
    assert other_api.post(f"/api/v1/plans/{plan.pk}/takehome-review/").status_code == 404
    assert anon.post(f"/api/v1/plans/{plan.pk}/takehome-review/").status_code == 401
    plan.status = "ended"
    plan.save()
    response = api_as("clinician").post(f"/api/v1/plans/{plan.pk}/takehome-review/")
    assert response.status_code == 400 and "only an active plan" in str(response.json())
