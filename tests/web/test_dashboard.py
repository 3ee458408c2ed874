"""The manager dashboard draws SVG charts; the attendance report downloads as CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import pytest

from notifications.models import Message
from tests.factories import PatientFactory, PlanFactory
from visits.models import Escalation, Visit

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(clinic, patient, plan, morning):
    other = PlanFactory(
        patient=PatientFactory(clinic=clinic, last_name="=cmd|' /C calc'!A0", first_name="Eve"),
        medication="buprenorphine",
    )
    rows = [
        (plan, date(2026, 11, 10), "completed"),
        (plan, date(2026, 11, 11), "missed"),
        (plan, date(2026, 11, 12), "completed"),
        (other, date(2026, 11, 10), "excused"),
        (other, date(2026, 11, 13), "missed"),
        (other, date(2026, 11, 14), "cancelled"),
    ]
    for p, day, status in rows:
        Visit.objects.create(
            patient=p.patient,
            clinic=clinic,
            plan=p,
            kind="dose",
            date=day,
            status=status,
            start=datetime(day.year, day.month, day.day, 12, 30, tzinfo=UTC),
            end=datetime(day.year, day.month, day.day, 15, 0, tzinfo=UTC),
        )
    Escalation.objects.create(
        patient=other.patient,
        plan=other,
        clinic=clinic,
        kind="outreach",
        reason="2 days missed",
        consecutive_missed=2,
        anchor_date=date(2026, 11, 12),
    )
    Message.objects.create(
        patient=plan.patient,
        purpose="reminder",
        scheduled_for=datetime(2026, 11, 12, 15, tzinfo=UTC),
        status="delivered",
    )
    return plan, other


def test_the_dashboard_draws_its_charts(client_as, clinic, history):
    response = client_as("manager").get(
        f"/clinics/{clinic.pk}/dashboard/", {"date_from": "2026-11-01", "date_to": "2026-11-16"}
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert html.count("<svg") == 3
    assert "Attendance rate by week" in html and "Missed visits by weekday and hour" in html
    assert "50.0%" in html  # 2 attended of 4 decided visits
    assert "Wed 07:00: 1 missed" in html  # 12:30 UTC = 07:30 in New York, Wednesday 11 November
    assert "100.0%" in html  # the one text was delivered
    assert "Eve" in html  # consecutive missed days from the open escalation


def test_a_bad_date_range_falls_back_without_an_error_page(client_as, clinic, morning):
    response = client_as("manager").get(f"/clinics/{clinic.pk}/dashboard/", {"date_from": "yesterday"})
    assert response.status_code == 200
    assert "Dates must be YYYY-MM-DD" in response.content.decode()


def test_the_attendance_csv_downloads_per_patient_rows_and_a_total(client_as, clinic, history):
    plan, other = history
    response = client_as("clinician").get(
        f"/clinics/{clinic.pk}/dashboard/attendance.csv", {"date_from": "2026-11-01", "date_to": "2026-11-16"}
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment;" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:4] == ["patient_id", "mrn", "last_name", "first_name"]
    by_id = {r[0]: r for r in rows[1:]}
    assert by_id[str(plan.patient_id)][4:] == ["3", "2", "1", "0", "0", "0.6667"]
    # The formula-looking name is neutralised; the cancelled visit is counted but not expected.
    assert by_id[str(other.patient_id)][2].startswith("'=")
    assert by_id[str(other.patient_id)][4:] == ["2", "0", "1", "1", "1", "0.0000"]
    assert rows[-1][2] == "TOTAL" and rows[-1][4:] == ["5", "2", "2", "1", "1", "0.5000"]
