"""Issue #16: availability reads the windows, their counts and the day's closures in one statement, and answers
exactly what the three reads it replaced answered (closure_for, slots_for, booked_counts), for any windows,
closures and bookings (hypothesis), the spring-forward gap and the API's JSON included."""

from __future__ import annotations

from datetime import date, time
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.visits.views import AvailabilitySerializer
from scheduler.models import SERVICES, Clinic, DosingWindow
from tests.factories import ClosureFactory, PatientFactory, WindowFactory
from tests.visits.conftest import make_visit
from visits import selectors
from visits.models import STATUS_CHOICES

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen")]

MONDAY = date(2026, 11, 2)
SPRING_FORWARD = date(2027, 3, 14)  # New York skips 02:00–03:00: a window starting 02:30 does not exist that day
SERVICE_NAMES = list(SERVICES)
STATUSES = [name for name, _ in STATUS_CHOICES]


def three_reads(*, clinic: Clinic, date: date, service: str) -> list[dict[str, Any]]:
    """availability as it was before issue #16's change: closures, windows and counts in reads of their own."""
    if selectors.closure_for(clinic, date, service) is not None:
        return []
    slots = selectors.slots_for(clinic, date, service)
    counts = selectors.booked_counts([s.window.pk for s in slots], date)
    return [
        {
            "window_id": slot.window.pk,
            "start": slot.start,
            "end": slot.end,
            "capacity": slot.window.capacity,
            "booked": counts.get(slot.window.pk, 0),
            "remaining": max(slot.window.capacity - counts.get(slot.window.pk, 0), 0),
        }
        for slot in slots
    ]


windows_st = st.lists(
    st.tuples(
        st.lists(st.integers(0, 6), min_size=1, max_size=7, unique=True),  # weekdays
        st.lists(st.sampled_from(SERVICE_NAMES), min_size=1, max_size=3, unique=True),  # services
        st.sampled_from([time(2, 30), time(7, 0), time(7, 0), time(9, 15), time(14, 0)]),  # start (ties included)
        st.integers(0, 3),  # capacity
    ),
    max_size=4,
)
closures_st = st.lists(
    st.tuples(st.booleans(), st.lists(st.sampled_from(SERVICE_NAMES), max_size=2, unique=True)),  # on the day?
    max_size=3,
)
visits_st = st.lists(st.tuples(st.integers(0, 3), st.sampled_from(STATUSES), st.booleans()), max_size=8)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    windows=windows_st,
    closures=closures_st,
    visits=visits_st,
    service=st.sampled_from(SERVICE_NAMES),
    day=st.sampled_from([MONDAY, SPRING_FORWARD]),
    keep_fixture_windows=st.booleans(),
)
def test_one_read_answers_what_the_three_reads_answered(
    clinic, windows, closures, visits, service, day, keep_fixture_windows
):
    with transaction.atomic():
        if not keep_fixture_windows:
            DosingWindow.objects.filter(clinic=clinic).delete()
        made = [
            WindowFactory(
                clinic=clinic,
                weekdays=weekdays,
                services=services,
                start=start,
                end=time(start.hour + 2, start.minute),
                capacity=capacity,
            )
            for weekdays, services, start, capacity in windows
        ]
        for on_day, services in closures:
            ClosureFactory(clinic=clinic, date=day if on_day else MONDAY.replace(day=3), services=services)
        patient = PatientFactory(clinic=clinic)
        for i, status, on_day in visits:
            if made:
                window = made[i % len(made)]
                if on_day and day == SPRING_FORWARD and window.start == time(2, 30):
                    on_day = False  # no visit in a window that does not exist that day
                make_visit(patient, window=window, day=day if on_day else MONDAY.replace(day=9), status=status)
        assert selectors.availability(clinic=clinic, date=day, service=service) == three_reads(
            clinic=clinic, date=day, service=service
        )
        transaction.set_rollback(True)


def test_it_is_one_statement(clinic, django_assert_num_queries):
    ClosureFactory(clinic=clinic, date=MONDAY, services=["methadone"])
    with django_assert_num_queries(1):
        rows = selectors.availability(clinic=clinic, date=MONDAY, service="diamorphine")
    assert rows  # the closure shuts methadone only
    with django_assert_num_queries(1):
        assert selectors.availability(clinic=clinic, date=MONDAY, service="methadone") == []


def test_the_api_answers_the_same_json(api_as, clinic, django_assert_max_num_queries):
    window = clinic.windows.filter(services__contains=["methadone"]).first()
    for status in ("scheduled", "completed", "cancelled", "missed", "excused"):
        make_visit(PatientFactory(clinic=clinic), window=window, status=status)
    tz = ZoneInfo(clinic.timezone)
    expected = three_reads(clinic=clinic, date=MONDAY, service="methadone")
    for row in expected:
        row["start"], row["end"] = row["start"].astimezone(tz), row["end"].astimezone(tz)
    api = api_as("front_desk")
    api.get(f"/api/v1/clinics/{clinic.pk}/availability/?date={MONDAY}&service=methadone")  # the user's reads
    with django_assert_max_num_queries(3):  # the user's clinic ids (once a request), the clinic, the one read
        response = api.get(f"/api/v1/clinics/{clinic.pk}/availability/?date={MONDAY}&service=methadone")
    assert response.status_code == 200
    assert response.json() == AvailabilitySerializer(expected, many=True).data
    assert any(row["booked"] == 3 for row in response.json())  # scheduled, completed, missed hold their places
