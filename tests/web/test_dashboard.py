"""The manager dashboard draws SVG charts; the attendance report downloads as CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import pytest

from notifications.models import Message
from tests.factories import PatientFactory, PlanFactory
from visits.models import Escalation, StaffTask, Visit

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
    assert html.count("<svg") == 4  # week, medication, heatmap, retention (issue #17)
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


# --- issue #17: retention, reminder effect, drift list ------------------------------------------------


def test_the_dashboard_shows_retention_with_its_curve_and_intervals(client_as, clinic, drifting):
    page = client_as("manager").get(f"/clinics/{clinic.pk}/dashboard/").content.decode()
    assert "Still in treatment" in page
    assert 'class="km-line"' in page and 'class="km-band"' in page
    # one stay of 75 days so far: 90-day retention is not known yet; the last dose was 18 days ago: not ended
    assert "not yet known" in page
    assert "style=" not in page.split("Still in treatment", 1)[1]  # CSP: classes only


def test_the_drift_list_names_the_patient_and_a_button_creates_one_outreach_task(client_as, clinic, drifting):
    client = client_as("manager")
    url = f"/clinics/{clinic.pk}/dashboard/"
    page = client.get(url).content.decode()
    drift = page.split("Patients drifting away", 1)[1]
    assert "Okafor, Jordan" in drift and "10 / 56" in drift
    assert "Ask front desk to call" in drift
    response = client.post(url, {"patient": drifting.pk})
    assert response.status_code == 302 and response["Location"] == url
    assert "Jordan" not in response["Location"]
    client.post(url, {"patient": drifting.pk})  # a second press reuses the open task
    tasks = StaffTask.objects.filter(patient=drifting, kind="drift_outreach", done_at__isnull=True)
    assert tasks.count() == 1
    assert "Outreach task open" in client.get(url).content.decode()


def test_the_outreach_button_refuses_a_patient_of_another_clinic_and_the_front_desk(client_as, clinic, drifting):
    stranger = PatientFactory()
    assert client_as("manager").post(f"/clinics/{clinic.pk}/dashboard/", {"patient": stranger.pk}).status_code == 404
    assert client_as("manager").post(f"/clinics/{clinic.pk}/dashboard/", {"patient": "x"}).status_code == 404
    assert client_as("front_desk").post(f"/clinics/{clinic.pk}/dashboard/", {"patient": drifting.pk}).status_code == 403
    assert not StaffTask.objects.exists()


def test_the_reminder_effect_says_plainly_when_a_group_is_too_small(client_as, clinic, patient, morning):
    plan = PlanFactory(patient=patient, medication="naltrexone_xr")
    visit = Visit.objects.create(
        patient=patient, clinic=clinic, plan=plan, kind="injection", date=date(2026, 11, 2), status="completed"
    )
    Message.objects.create(
        patient=patient,
        visit=visit,
        purpose="reminder",
        scheduled_for=datetime(2026, 11, 1, 15, tzinfo=UTC),
        status="delivered",
    )
    page = client_as("clinician").get(f"/clinics/{clinic.pk}/dashboard/").content.decode()
    section = page.split("Do reminders help?", 1)[1]
    assert "1 of 1 kept. Fewer than 30 visits: too few for a rate." in section


def test_the_survival_curve_steps_down_at_each_event_and_marks_day_90():
    from web.charts import survival_curve

    steps = [
        {"time": 30, "survival": 0.5, "lower": 0.2, "upper": 0.8},
        {"time": 200, "survival": 0.5, "lower": 0.2, "upper": 0.8},
    ]
    chart = survival_curve(steps, max_days=360, width=400, height=136)  # plot 348 x 88 from (40, 12)
    assert chart.line == "M40.0,12.0 H69.0V56.0 H233.3V56.0 H233.3"
    assert [round(x) for x, _ in chart.ticks] == [40, 127, 214, 301, 388]
    assert [title for _, _, title in chart.marks] == [
        "Day 90: 50% still in treatment",
        "Day 180: 50% still in treatment",
    ]
    assert chart.band.startswith("M40.0,12.0") and chart.band.endswith("Z")
