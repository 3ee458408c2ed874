"""GET /api/v1/clinics/{id}/availability/?date=&service= lists the windows with their bookings."""

from __future__ import annotations

from datetime import date

import pytest

from tests.factories import ClosureFactory, PatientFactory
from tests.visits.conftest import make_visit

# Query dates are bounded around today (scheduler.bounds): the clock is frozen at the dates these tests ask about.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen")]


def url(clinic, query="date=2026-11-02&service=diamorphine"):
    return f"/api/v1/clinics/{clinic.pk}/availability/?{query}"


def test_it_lists_each_window_offering_the_service_with_bookings(api_as, clinic):
    morning = clinic.windows.get(services=["diamorphine"], start="08:00")
    make_visit(PatientFactory(clinic=clinic), window=morning)
    make_visit(PatientFactory(clinic=clinic), window=morning, status="completed")
    make_visit(PatientFactory(clinic=clinic), window=morning, status="cancelled")
    response = api_as("front_desk").get(url(clinic))
    assert response.status_code == 200
    assert [{k: row[k] for k in ("start", "end", "capacity", "booked", "remaining")} for row in response.json()] == [
        {"start": "2026-11-02T08:00:00-05:00", "end": "2026-11-02T10:00:00-05:00",
         "capacity": 4, "booked": 2, "remaining": 2},
        {"start": "2026-11-02T14:00:00-05:00", "end": "2026-11-02T16:00:00-05:00",
         "capacity": 4, "booked": 0, "remaining": 4},
    ]


def test_a_closure_for_the_service_gives_an_empty_list(api_as, clinic):
    ClosureFactory(clinic=clinic, date=date(2026, 11, 2), services=["diamorphine"])
    assert api_as("nurse").get(url(clinic)).json() == []


def test_a_closure_of_other_services_leaves_the_windows(api_as, clinic):
    ClosureFactory(clinic=clinic, date=date(2026, 11, 2), services=["methadone"])
    assert len(api_as("nurse").get(url(clinic)).json()) == 2


def test_a_weekday_without_windows_gives_an_empty_list(api_as, clinic):
    assert api_as("nurse").get(url(clinic, "date=2026-11-08&service=methadone")).json() == []


def test_times_follow_daylight_saving(api_as, clinic):
    # 1 November 2026: New York falls back from EDT (-04:00) to EST (-05:00) at 02:00.
    rows = api_as("nurse").get(url(clinic, "date=2026-10-31&service=diamorphine")).json()
    assert rows[0]["start"] == "2026-10-31T08:00:00-04:00"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("service=methadone", "date"),
        ("date=2026-13-01&service=methadone", "date"),
        ("date=0001-01-01&service=methadone", "date"),
        ("date=2026-11-02", "service"),
        ("date=2026-11-02&service=aspirin", "service"),
    ],
)
def test_a_missing_or_invalid_parameter_answers_400_naming_it(api_as, clinic, query, field):
    response = api_as("nurse").get(url(clinic, query))
    assert response.status_code == 400
    assert field in response.json()


def test_another_clinic_answers_404(api_as, other_clinic):
    assert api_as("admin").get(url(other_clinic)).status_code == 404
