"""List endpoints: the number of queries does not grow with the number of rows."""

from __future__ import annotations

import pytest

from tests.factories import ClosureFactory, PatientFactory, PlanFactory, WindowFactory

# auth/role/clinic scope, count, page, audit entry (+ content type), savepoint slack
LIST_QUERY_BOUND = 8


@pytest.mark.parametrize("rows", [1, 30])
def test_the_patient_list_runs_a_fixed_number_of_queries(api_as, clinic, django_assert_max_num_queries, rows):
    for _ in range(rows):
        PatientFactory(clinic=clinic)
    client = api_as("nurse")

    with django_assert_max_num_queries(LIST_QUERY_BOUND):
        response = client.get("/api/v1/patients/")

    assert response.json()["count"] == rows


@pytest.mark.parametrize("rows", [1, 30])
def test_the_plan_list_runs_a_fixed_number_of_queries(api_as, clinic, django_assert_max_num_queries, rows):
    for _ in range(rows):
        PlanFactory(patient=PatientFactory(clinic=clinic))
    client = api_as("nurse")

    with django_assert_max_num_queries(LIST_QUERY_BOUND):
        response = client.get("/api/v1/plans/", {"active": "true"})

    assert response.json()["count"] == rows


def test_window_closure_and_staff_lists_run_a_fixed_number_of_queries(api_as, clinic, django_assert_max_num_queries):
    for _ in range(20):
        WindowFactory(clinic=clinic)
        ClosureFactory(clinic=clinic)
    client = api_as("admin")

    for path in (
        f"/api/v1/clinics/{clinic.pk}/windows/",
        f"/api/v1/clinics/{clinic.pk}/closures/",
        "/api/v1/staff/",
        "/api/v1/clinics/",
    ):
        with django_assert_max_num_queries(LIST_QUERY_BOUND):
            assert client.get(path).status_code == 200
