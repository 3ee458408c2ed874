"""The visit list and availability use a fixed number of queries, however many rows there are."""

from __future__ import annotations

import pytest

from tests.factories import PatientFactory, PlanFactory, WindowFactory
from tests.visits.conftest import MONDAY, make_visit

pytestmark = pytest.mark.django_db

LIST_QUERIES = 8
AVAILABILITY_QUERIES = 7


def add_visits(clinic, n: int) -> None:
    window = clinic.windows.filter(start="11:00").order_by("id").first()
    for _ in range(n):
        patient = PatientFactory(clinic=clinic)
        plan = PlanFactory(patient=patient, start_date=MONDAY)
        make_visit(patient, window=window, plan=plan, kind="counselling", status="completed")


@pytest.mark.parametrize("rows", [5, 50])
def test_the_visit_list_query_count_does_not_grow_with_rows(api_as, clinic, django_assert_max_num_queries, rows):
    add_visits(clinic, rows)
    api = api_as("front_desk")
    with django_assert_max_num_queries(LIST_QUERIES):
        response = api.get("/api/v1/visits/?page_size=100")
    assert response.json()["count"] == rows


@pytest.mark.parametrize("rows", [5, 50])
def test_availability_query_count_does_not_grow_with_rows(api_as, clinic, django_assert_max_num_queries, rows):
    for hour in range(8):
        WindowFactory(clinic=clinic, start=f"{10 + hour}:00", end=f"{10 + hour}:30", services=["counselling"])
    add_visits(clinic, rows)
    api = api_as("front_desk")
    with django_assert_max_num_queries(AVAILABILITY_QUERIES):
        response = api.get(f"/api/v1/clinics/{clinic.pk}/availability/?date=2026-11-02&service=counselling")
    assert len(response.json()) == 9
