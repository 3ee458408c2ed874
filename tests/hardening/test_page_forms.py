"""Page forms never answer 500 (issue #10): take-home doses `99999999999999999999999` and `²` were 500s and `٣`
was taken as 3; the dashboard with 0001-01-01..9999-12-31 was a 500. Integers are read by the same parser as
the API (ASCII digits, bounded); dates within the same bounds. A hypothesis fuzz of the forms asserts no 500."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import PatientFactory, PlanFactory
from tests.hardening.conftest import TODAY
from visits.generation import visits_generate
from visits.models import Visit

FUZZ = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
# Text a person, a scanner or a script might put in a field: anything, numbers of any size, digits of other
# scripts, and dates near and far.
NASTY = st.sampled_from(
    [
        "٣",
        "²",
        "①",
        "99999999999999999999999",
        "-1",
        "1e3",
        "3.0",
        " 7 ",
        "0001-01-01",
        "9999-12-31",
        "2026-11-5",
        "20261116",
        "2026-02-30",
        "",
        "\x00",
        "NaN",
    ]
)
VALUES = st.one_of(
    NASTY,
    st.text(max_size=30),
    st.integers().map(str),
    st.dates(min_value=date(1, 1, 1)).map(date.isoformat),
)


@pytest.fixture
def patient(clinic):
    return PatientFactory(clinic=clinic, first_name="Jordan", last_name="Okafor")


@pytest.fixture
def today_visit(patient) -> Visit:
    plan = PlanFactory(patient=patient, start_date=date(2026, 11, 10))
    visits_generate(plans=[plan], today=TODAY, horizon_days=3)
    return Visit.objects.get(plan=plan, date=TODAY)


@pytest.mark.parametrize("typed", ["99999999999999999999999", "²", "٣", "-1", "367"])
def test_take_home_doses_outside_ascii_digits_or_the_bound_are_refused_on_the_board(client_as, today_visit, typed):
    response = client_as("nurse").post(f"/visits/{today_visit.pk}/complete/", {"take_home_doses": typed})

    assert response.status_code == 400
    assert "Take-home doses must be a whole number." in response.content.decode()
    today_visit.refresh_from_db()
    assert today_visit.status == "scheduled"


def test_the_dashboard_with_year_one_to_9999_answers_400_and_still_shows_the_page(client_as, clinic):
    response = client_as("manager").get(
        f"/clinics/{clinic.pk}/dashboard/", {"date_from": "0001-01-01", "date_to": "9999-12-31"}
    )

    html = response.content.decode()
    assert response.status_code == 400
    assert "date_from: Give a date from 2021-01-01 to 2029-12-31 (got 0001-01-01)." in html
    assert "Attendance rate by week" in html  # the last 8 weeks instead


def test_the_attendance_csv_with_dates_out_of_bounds_answers_400(client_as, clinic):
    response = client_as("manager").get(f"/clinics/{clinic.pk}/dashboard/attendance.csv", {"date_to": "9999-12-31"})

    assert response.status_code == 400
    assert "date_to" in response.content.decode()


def test_booking_in_year_9999_is_refused_on_the_page(client_as, patient):
    response = client_as("front_desk").post(
        f"/patients/{patient.pk}/book/submit/", {"kind": "counselling", "date": "9999-12-31"}
    )

    assert response.status_code == 400
    assert "Give a date from 2021-01-01 to 2029-12-31" in response.content.decode()
    assert not Visit.objects.filter(patient=patient).exists()


def test_availability_for_year_one_is_refused(client_as, clinic):
    response = client_as("front_desk").get(
        f"/clinics/{clinic.pk}/availability.json", {"date": "0001-01-01", "service": "methadone"}
    )

    assert response.status_code == 400
    assert "2021-01-01" in response.json()["date"][0]


def test_a_plan_id_in_other_digits_matches_no_plan(client_as, patient):
    plan = PlanFactory(patient=patient, start_date=date(2026, 11, 10))
    arabic = str(plan.pk).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))

    response = client_as("front_desk").post(
        f"/patients/{patient.pk}/book/submit/", {"kind": "dose", "plan": arabic, "date": "2026-11-17"}
    )

    assert response.status_code == 400
    assert "Choose one of this patient" in response.content.decode()


@FUZZ
@given(typed=VALUES)
def test_fuzz_the_take_home_field_never_answers_500(client_as, today_visit, typed):
    response = client_as("nurse").post(f"/visits/{today_visit.pk}/complete/", {"take_home_doses": typed})

    assert response.status_code in (302, 400, 409)


@FUZZ
@given(date_from=VALUES, date_to=VALUES)
def test_fuzz_the_dashboard_dates_never_answer_500(client_as, clinic, date_from, date_to):
    response = client_as("manager").get(
        f"/clinics/{clinic.pk}/dashboard/", {"date_from": date_from, "date_to": date_to}
    )

    assert response.status_code in (200, 400)


@FUZZ
@given(day=VALUES, window=VALUES, plan=VALUES)
def test_fuzz_booking_never_answers_500(client_as, patient, day, window, plan):
    client = client_as("front_desk")
    booked = client.post(
        f"/patients/{patient.pk}/book/submit/", {"kind": "dose", "date": day, "window": window, "plan": plan}
    )
    available = client.get(f"/clinics/{patient.clinic_id}/availability.json", {"date": day, "service": "methadone"})

    assert booked.status_code in (302, 400, 409)
    assert available.status_code in (200, 400)


@FUZZ
@given(day=VALUES, capacity=VALUES, year=VALUES, opens=VALUES)
def test_fuzz_the_setup_forms_never_answer_500(client_as, clinic, day, capacity, year, opens):
    client = client_as("admin")
    closure = client.post(f"/clinics/{clinic.pk}/setup/closures/", {"date": day, "services": ["counselling"]})
    window = client.post(
        f"/clinics/{clinic.pk}/setup/windows/",
        {"weekdays": ["6"], "start": opens, "end": "23:00", "services": ["callback"], "capacity": capacity},
    )
    holidays = client.post(f"/clinics/{clinic.pk}/setup/holidays/", {"year": year})

    assert closure.status_code in (302, 400, 409)
    assert window.status_code in (302, 400, 409)
    assert holidays.status_code in (302, 400, 409)
