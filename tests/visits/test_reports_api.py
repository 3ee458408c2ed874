"""GET /api/v1/reports/attendance/: totals, by patient, by day; CSV; roles; isolation; bounded queries."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest

from tests.factories import PatientFactory, PlanFactory
from visits.models import Visit

# Query dates are bounded around today (scheduler.bounds): the clock is frozen at the dates these tests ask about.
pytestmark = pytest.mark.usefixtures("frozen")

URL = "/api/v1/reports/attendance/"
DAY = date(2026, 11, 2)


def visit(patient, plan, day, status):
    return Visit.objects.create(patient=patient, clinic=patient.clinic, plan=plan, kind="dose", date=day,
                                status=status, source="manual")


@pytest.fixture
def ledger(clinic):
    ana = PatientFactory(clinic=clinic, first_name="Ana", last_name="Alvarez", mrn="A1")
    ben = PatientFactory(clinic=clinic, first_name="=HYPERLINK(1)", last_name="Brooks", mrn="B1")
    ana_plan = PlanFactory(patient=ana, medication="methadone")
    ben_plan = PlanFactory(patient=ben, medication="naltrexone_xr")
    for n, status in enumerate(["completed", "completed", "completed", "missed", "excused", "cancelled"]):
        visit(ana, ana_plan, DAY + timedelta(days=n), status)
    visit(ben, ben_plan, DAY, "missed")
    return ana, ben


def params(clinic, **extra):
    return {"clinic": clinic.pk, "date_from": "2026-11-01", "date_to": "2026-11-30", **extra}


@pytest.mark.django_db
def test_it_counts_expected_completed_missed_excused_and_cancelled(api_as, clinic, ledger):
    body = api_as("manager").get(URL, params(clinic)).json()
    assert {k: body[k] for k in ("expected", "completed", "missed", "excused", "cancelled")} == {
        "expected": 6, "completed": 3, "missed": 2, "excused": 1, "cancelled": 1,
    }
    # attendance rate = completed / (completed + missed): excused visits are neither
    assert body["attendance_rate"] == pytest.approx(0.6)
    ana = next(row for row in body["by_patient"] if row["mrn"] == "A1")
    assert (ana["completed"], ana["missed"], ana["attendance_rate"]) == (3, 1, 0.75)
    first_day = next(row for row in body["by_day"] if row["date"] == "2026-11-02")
    assert (first_day["expected"], first_day["completed"], first_day["missed"]) == (2, 1, 1)


@pytest.mark.django_db
def test_it_filters_by_medication(api_as, clinic, ledger):
    body = api_as("clinician").get(URL, params(clinic, medication="naltrexone_xr")).json()
    assert (body["expected"], body["missed"], body["attendance_rate"]) == (1, 1, 0.0)
    assert [row["mrn"] for row in body["by_patient"]] == ["B1"]


@pytest.mark.django_db
@pytest.mark.parametrize("how", ["accept", "format"])
def test_it_answers_csv_by_accept_header_or_format_parameter(api_as, clinic, ledger, how):
    client = api_as("manager")
    if how == "accept":
        response = client.get(URL, params(clinic), HTTP_ACCEPT="text/csv")
    else:
        response = client.get(URL, params(clinic, format="csv"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    total = rows[0]
    assert (total["scope"], total["expected"], total["completed"], total["missed"]) == ("total", "6", "3", "2")
    assert sum(1 for r in rows if r["scope"] == "day") == 6
    ben = next(r for r in rows if r["mrn"] == "B1")
    assert ben["first_name"] == "'=HYPERLINK(1)"  # spreadsheet formula neutralised


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["front_desk", "nurse"])
def test_roles_without_reports_get_403(api_as, clinic, role):
    response = api_as(role).get(URL, params(clinic))
    assert response.status_code == 403
    assert "managers" in response.json()["detail"]


@pytest.mark.django_db
def test_anonymous_gets_401(anon, clinic):
    assert anon.get(URL, params(clinic)).status_code == 401


@pytest.mark.django_db
def test_another_clinics_report_is_404(other_api, clinic, ledger):
    assert other_api.get(URL, params(clinic)).status_code == 404


@pytest.mark.django_db
def test_without_a_clinic_it_reports_only_the_users_clinics(other_api, clinic, ledger):
    body = other_api.get(URL, {"date_from": "2026-11-01", "date_to": "2026-11-30"}).json()
    assert body["expected"] == 0 and body["by_patient"] == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"date_from": "2026-13-01"}, "date_from"),
        ({"date_from": "2026-11-10", "date_to": "2026-11-01"}, "date_to"),
        ({"date_from": "2025-01-01", "date_to": "2026-11-01"}, "date_to"),
        ({"medication": "aspirin"}, "medication"),
        ({"clinic": "x"}, "clinic"),
    ],
)
def test_bad_parameters_answer_400_naming_the_field(api_as, clinic, query, field):
    response = api_as("manager").get(URL, query)
    assert response.status_code == 400
    assert field in response.json()


@pytest.mark.django_db
def test_report_query_count_does_not_grow_with_rows(api_as, clinic, ledger, django_assert_max_num_queries):
    client = api_as("manager")
    with django_assert_max_num_queries(8):
        client.get(URL, params(clinic))
    ana = ledger[0]
    for n in range(30):
        visit(PatientFactory(clinic=clinic), None, DAY + timedelta(days=n % 20), "completed")
        visit(ana, None, DAY + timedelta(days=n % 20), "missed")
    with django_assert_max_num_queries(8):
        assert client.get(URL, params(clinic)).status_code == 200
