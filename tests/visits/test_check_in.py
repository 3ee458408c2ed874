"""POST /visits/{id}/check-in/ records who checked the patient in and the take-home bottle return."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.visits.conftest import MONDAY, NOW, make_visit
from visits.models import Visit

pytestmark = pytest.mark.django_db


def check_in(api, visit, **body):
    return api.post(f"/api/v1/visits/{visit.pk}/check-in/", body, format="json")


def test_front_desk_checks_a_scheduled_visit_in(api_as, visit, staff):
    response = check_in(api_as("front_desk"), visit, bottles_returned=True)
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "checked_in"
    visit.refresh_from_db()
    assert visit.checked_in_by_id == staff["front_desk"].pk
    assert visit.checked_in_at == NOW
    assert visit.bottles_returned is True


def test_a_failed_bottle_return_is_recorded(api_as, visit):
    response = check_in(api_as("front_desk"), visit, bottles_returned=False, bottles_note="2 of 6 bottles missing")
    assert response.status_code == 200
    visit.refresh_from_db()
    assert visit.bottles_returned is False
    assert visit.bottles_note == "2 of 6 bottles missing"


@pytest.mark.parametrize("status", ["checked_in", "completed", "cancelled", "missed", "excused"])
def test_only_scheduled_visits_can_be_checked_in(api_as, visit, status):
    Visit.objects.filter(pk=visit.pk).update(status=status)
    response = check_in(api_as("front_desk"), visit)
    assert response.status_code == 409


def test_a_visit_on_a_later_date_cannot_be_checked_in_yet(api_as, patient, plan, oral_window, frozen):
    later = make_visit(patient, window=oral_window, plan=plan, day=MONDAY + timedelta(days=2))
    assert check_in(api_as("front_desk"), later).status_code == 400


def test_a_check_in_by_mistake_is_undone_and_audited(visit, staff, frozen):
    from auditlog.models import LogEntry

    from visits import services

    services.visit_check_in(visit=visit, by=staff["front_desk"])
    undone = services.visit_undo_check_in(visit=visit, by=staff["front_desk"])
    assert (undone.status, undone.checked_in_at, undone.checked_in_by_id) == ("scheduled", None, None)
    assert LogEntry.objects.filter(object_pk=str(visit.pk), actor=staff["front_desk"]).count() == 2


def test_a_late_arrival_reopens_todays_missed_visit_only(visit, staff, frozen):
    import pytest as _pytest

    from scheduler.errors import RuleViolation
    from visits import services
    from visits.models import Visit

    Visit.objects.filter(pk=visit.pk).update(status="missed")
    reopened = services.visit_reopen_missed(visit=visit, by=staff["nurse"])
    assert (reopened.status, reopened.missed_at) == ("checked_in", None)
    assert "late arrival" in reopened.status_reason
    frozen.shift(86400)
    Visit.objects.filter(pk=visit.pk).update(status="missed")
    with _pytest.raises(RuleViolation, match="never caught up"):
        services.visit_reopen_missed(visit=visit, by=staff["nurse"])
